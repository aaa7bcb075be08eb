using static TorchSharp.torch;

namespace Research.Models;

/// <summary>
/// One layer's key/value cache for incremental decoding: preallocated buffers of <see cref="Capacity"/> positions,
/// filled as tokens arrive, so a decode step writes its new rows in place instead of concatenating the whole prefix.
/// What is stored depends on the attention: keys and values per key/value head (MHA, GQA, MQA) or one latent row
/// per token (MLA). The cache owns its buffers (they live outside every dispose scope) until <see cref="Dispose"/>.
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly Tensor[] buffers;
    private readonly int[] tokenAxes;

    /// <param name="buffers">One tensor per cached quantity, each with <paramref name="capacity"/> positions along its
    /// entry in <paramref name="tokenAxes"/> and the batch along axis 0.</param>
    public KvCache(IReadOnlyList<Tensor> buffers, IReadOnlyList<int> tokenAxes, int capacity)
    {
        if (buffers.Count == 0 || buffers.Count != tokenAxes.Count)
            throw new ArgumentException("KvCache: give one token axis per buffer and at least one buffer", nameof(buffers));
        this.buffers = [.. buffers.Select(b => b.DetachFromDisposeScope())];
        this.tokenAxes = [.. tokenAxes];
        Capacity = capacity;
        Batch = (int)this.buffers[0].shape[0];
        for (int i = 0; i < this.buffers.Length; i++)
            if (this.buffers[i].shape[this.tokenAxes[i]] != capacity || this.buffers[i].shape[0] != Batch)
                throw new ArgumentException($"KvCache: buffer {i} has shape [{string.Join(", ", this.buffers[i].shape)}], expected batch {Batch} and {capacity} positions on axis {this.tokenAxes[i]}", nameof(buffers));
    }

    /// <summary>Sequences decoded side by side.</summary>
    public int Batch { get; }

    /// <summary>Positions the buffers hold: the longest context this cache can serve.</summary>
    public int Capacity { get; }

    /// <summary>Positions filled so far; the next token written is at this position.</summary>
    public int Length { get; private set; }

    /// <summary>Elements stored per token of one sequence (all buffers together), e.g. 2·n_g·d_h for GQA.</summary>
    public long ElementsPerToken => buffers.Sum(b => b.numel()) / ((long)Batch * Capacity);

    /// <summary>Bytes the buffers take (all positions, filled or not).</summary>
    public long AllocatedBytes => buffers.Sum(b => b.numel() * b.element_size());

    /// <summary>Throws unless <paramref name="tokens"/> more positions fit; names the capacity it would exceed.</summary>
    public void EnsureRoom(long tokens)
    {
        if (tokens < 1 || Length + tokens > Capacity)
            throw new ArgumentOutOfRangeException(nameof(tokens),
                $"KvCache: {tokens} new token(s) at position {Length} exceed the cache's capacity of {Capacity} positions (the configured maximum context)");
    }

    /// <summary>A view of buffer <paramref name="index"/>'s filled positions 0..Length−1 (tests compare caches with it).</summary>
    public Tensor Cached(int index) => buffers[index].narrow(tokenAxes[index], 0, Length);

    /// <summary>Writes <paramref name="rows"/> (its token axis holding the new tokens) at positions Length.. of buffer
    /// <paramref name="index"/> and returns a view of positions 0..Length+T−1 of it. Call <see cref="Advance"/> once all
    /// buffers are written.</summary>
    public Tensor Write(int index, Tensor rows)
    {
        int axis = tokenAxes[index];
        long t = rows.shape[axis];
        EnsureRoom(t);
        using (no_grad()) buffers[index].narrow(axis, Length, t).copy_(rows);
        return buffers[index].narrow(axis, 0, Length + t);
    }

    /// <summary>Marks <paramref name="tokens"/> more positions as filled.</summary>
    public void Advance(int tokens)
    {
        EnsureRoom(tokens);
        Length += tokens;
    }

    /// <summary>Forgets the cached tokens (the buffers are kept for the next sequence).</summary>
    public void Reset() => Length = 0;

    /// <summary>Forgets every position from <paramref name="length"/> on, so the next token is written there again: rolls
    /// back decode steps (a benchmark repeating one step, a rejected speculative token). Only shortens; the rows beyond
    /// are left as they are and overwritten by the next <see cref="Write"/>.</summary>
    public void Truncate(int length)
    {
        if (length < 0 || length > Length)
            throw new ArgumentOutOfRangeException(nameof(length), length, $"KvCache.Truncate: length must be in 0..Length ({Length}) (got {length})");
        Length = length;
    }

    public void Dispose()
    {
        foreach (var b in buffers) b.Dispose();
    }
}

/// <summary>An attention module that can decode incrementally: it appends each new token's keys and values (or latent)
/// to a <see cref="KvCache"/> and attends over everything cached.</summary>
public interface IIncrementalAttention
{
    /// <summary>Elements one token adds to one layer's cache (2·n_g·d_h, or d_c + d_h^R for MLA): DeepSeek-V2 Table 1 per layer.</summary>
    long CacheElementsPerToken { get; }

    /// <summary>An empty cache for <paramref name="batch"/> sequences of up to <paramref name="capacity"/> tokens, on the module's device and dtype.</summary>
    KvCache NewCache(int batch, int capacity);

    /// <summary>
    /// x: [B, T, d], the next T tokens at positions cache.Length..cache.Length+T−1 (T &gt; 1 is a prefill, causal within
    /// itself) → [B, T, d]. Appends them to the cache. Runs without autograd.
    /// </summary>
    Tensor Decode(Tensor x, KvCache cache);
}

/// <summary>The attention arithmetic every variant shares once its queries, keys and values are formed.</summary>
public static class CachedAttention
{
    /// <summary>
    /// Causal attention of new query rows against cached keys. q: [B, G, R, T, D] — G key/value heads, each serving R
    /// query heads, T new positions, which are the last T of the S cached ones; k: [B, G, S, D]; v: [B, G, S, Dv] →
    /// [B, G, R, T, Dv]. The R·T query rows of a group meet its keys in one matmul, so keys shared by a group (GQA, MQA,
    /// absorbed MLA) are read once and never copied per head.
    /// </summary>
    public static Tensor Attend(Tensor q, Tensor k, Tensor v, double scale)
    {
        long b = q.shape[0], g = q.shape[1], r = q.shape[2], t = q.shape[3], d = q.shape[4], s = k.shape[2];
        if (k.shape[1] != g || v.shape[1] != g || k.shape[3] != d || v.shape[2] != s || t > s)
            throw new ArgumentException($"CachedAttention.Attend: q [{string.Join(", ", q.shape)}], k [{string.Join(", ", k.shape)}], v [{string.Join(", ", v.shape)}] do not fit [B, G, R, T, D], [B, G, S, D], [B, G, S, Dv] with T ≤ S");
        using var scope = NewDisposeScope();
        var scores = q.reshape(b, g, r * t, d).matmul(k.transpose(-1, -2)).mul_(scale);   // [B, G, R·T, S]
        if (t > 1)
        {
            // Query row i sits at position S−T+i and may see keys 0..S−T+i.
            var future = ones(t, s, ScalarType.Bool, q.device).triu(s - t + 1);              // [T, S]
            scores = scores.view(b, g, r, t, s).masked_fill_(future, double.NegativeInfinity).view(b, g, r * t, s);
        }
        var attended = scores.softmax(-1).matmul(v);                                        // [B, G, R·T, Dv]
        return attended.view(b, g, r, t, -1).MoveToOuterDisposeScope();
    }
}

/// <summary>The KV caches of every block of a <see cref="LanguageModel"/>, decoded in step.</summary>
public sealed class LmCache(IReadOnlyList<KvCache> layers) : IDisposable
{
    public IReadOnlyList<KvCache> Layers { get; } = layers;

    /// <summary>Tokens cached so far.</summary>
    public int Length => Layers[0].Length;

    /// <summary>Elements one token adds over all layers: DeepSeek-V2 Table 1's per-token cache.</summary>
    public long ElementsPerToken => Layers.Sum(l => l.ElementsPerToken);

    /// <summary>Rolls every layer back to <paramref name="length"/> tokens (a rejected speculative token).</summary>
    public void Truncate(int length)
    {
        foreach (var layer in Layers) layer.Truncate(length);
    }

    public void Dispose()
    {
        foreach (var layer in Layers) layer.Dispose();
    }
}

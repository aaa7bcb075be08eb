using Research.Fp8;
using Research.Experiments;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Research.Models;

/// <summary>
/// Causal self-attention with RoPE on queries and keys, the default attention of <see cref="TinyLm"/>. The n_h query
/// heads share n_g key/value heads (each of width d_h): n_g = n_h is multi-head attention (Vaswani et al. 2017),
/// 1 &lt; n_g &lt; n_h grouped-query attention (Ainslie et al. 2023), n_g = 1 multi-query attention (Shazeer 2019).
/// Query heads g·(n_h/n_g) … (g+1)·(n_h/n_g)−1 use key/value head g. Decoding caches 2·n_g·d_h elements per token.
/// </summary>
public sealed class CausalSelfAttention : nn.Module<Tensor, Tensor>, IIncrementalAttention
{
    private readonly Linear query;    // W^Q [n_h·d_h, d]
    private readonly Linear key;      // W^K [n_g·d_h, d]
    private readonly Linear value;    // W^V [n_g·d_h, d]
    private readonly Linear output;   // W^O [d, n_h·d_h]; "output" marks a residual projection for TinyLm's init
    private readonly Tensor cos;      // RoPE tables [MaxSequence, d_h/2]: buffers, so they follow .to(device)
    private readonly Tensor sin;
    private readonly int heads;
    private readonly int kvHeads;
    private readonly int headDim;
    private readonly int maxSequence;

    /// <param name="kvHeads">n_g, the key/value heads; null means n_h (multi-head attention). Must divide n_h.</param>
    /// <param name="gemms">Precision of the layer's GEMMs (<see cref="Fp8TrainingRecipe"/>, e.g. V3's E4M3 with 1×128
    /// tiles and 128×128 blocks); null: FP32.</param>
    public CausalSelfAttention(TinyLmConfig config, Device device, int? kvHeads = null, Fp8TrainingRecipe? gemms = null) : base(nameof(CausalSelfAttention))
    {
        Gemms = gemms?.Validated();
        config.Validated();
        heads = config.Heads;
        this.kvHeads = kvHeads ?? heads;
        if (this.kvHeads < 1 || heads % this.kvHeads != 0)
            throw new ConfigException($"CausalSelfAttention: kvHeads (n_g) must divide Heads (n_h = {heads}) (got {this.kvHeads})");
        headDim = config.HeadDim;
        maxSequence = config.MaxSequence;
        query = nn.Linear(config.Dim, heads * headDim, hasBias: false, device: device);
        key = nn.Linear(config.Dim, this.kvHeads * headDim, hasBias: false, device: device);
        value = nn.Linear(config.Dim, this.kvHeads * headDim, hasBias: false, device: device);
        output = nn.Linear(heads * headDim, config.Dim, hasBias: false, device: device);
        (cos, sin) = Rope.Tables(headDim, config.MaxSequence, config.RopeTheta, device);
        RegisterComponents();
    }

    /// <summary>The projections' precision; null: FP32.</summary>
    public Fp8TrainingRecipe? Gemms { get; }

    /// <summary>n_h.</summary>
    public int Heads => heads;

    /// <summary>n_g (= n_h for MHA, 1 for MQA).</summary>
    public int KvHeads => kvHeads;

    /// <inheritdoc/>
    public long CacheElementsPerToken => 2L * kvHeads * headDim;   // DeepSeek-V2 Table 1: 2·n_g·d_h per layer

    public override Tensor forward(Tensor x)   // x: [B, T, d] → [B, T, d]
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], t = x.shape[1];
        var q = Rope.Apply(SplitHeads(query.Apply(x, Gemms), heads), cos, sin);     // [B, n_h, T, d_h]
        var k = Rope.Apply(SplitHeads(key.Apply(x, Gemms), kvHeads), cos, sin);     // [B, n_g, T, d_h]
        var v = SplitHeads(value.Apply(x, Gemms), kvHeads);
        if (kvHeads != heads)
        {
            // Each key/value head serves n_h/n_g consecutive query heads. Training reads the whole sequence once, so
            // repeating them is cheap here; decoding never copies them (CachedAttention.Attend).
            k = k.repeat_interleave(heads / kvHeads, 1);                           // [B, n_h, T, d_h]
            v = v.repeat_interleave(heads / kvHeads, 1);
        }
        // softmax(q kᵀ / √d_h) v with future positions masked (no mask tensor, no dropout, causal = true);
        // libtorch picks a fused kernel where it has one.
        var attended = nn.functional.scaled_dot_product_attention(q, k, v, null, 0.0, true);   // [B, n_h, T, d_h]
        var merged = attended.transpose(1, 2).reshape(b, t, -1);                                // [B, T, n_h·d_h]
        return output.Apply(merged, Gemms).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public KvCache NewCache(int batch, int capacity)
    {
        CheckCapacity(batch, capacity, maxSequence, "TinyLmConfig.MaxSequence");
        var (dtype, device) = (query.weight!.dtype, query.weight.device);
        return new KvCache([zeros([batch, kvHeads, capacity, headDim], dtype, device),     // rotated keys
                            zeros([batch, kvHeads, capacity, headDim], dtype, device)],    // values
                           [2, 2], capacity);
    }

    /// <inheritdoc/>
    public Tensor Decode(Tensor x, KvCache cache)   // x: [B, T, d] → [B, T, d]
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        long b = x.shape[0], t = x.shape[1];
        int start = cache.Length;
        cache.EnsureRoom(t);
        var q = Rope.Apply(SplitHeads(query.Apply(x, Gemms), heads), cos, sin, start);   // [B, n_h, T, d_h]
        var k = Rope.Apply(SplitHeads(key.Apply(x, Gemms), kvHeads), cos, sin, start);   // [B, n_g, T, d_h]
        var keys = cache.Write(0, k);                                                // [B, n_g, S, d_h]
        var values = cache.Write(1, SplitHeads(value.Apply(x, Gemms), kvHeads));
        cache.Advance((int)t);
        var grouped = q.reshape(b, kvHeads, heads / kvHeads, t, headDim);          // [B, n_g, n_h/n_g, T, d_h]
        var attended = CachedAttention.Attend(grouped, keys, values, 1.0 / Math.Sqrt(headDim));
        var merged = attended.view(b, heads, t, headDim).transpose(1, 2).reshape(b, t, -1);   // [B, T, n_h·d_h]
        return output.Apply(merged, Gemms).MoveToOuterDisposeScope();
    }

    /// <summary>The rotated keys of x [B, T, d] at positions 0..T−1: [B, n_g, T, d_h] (for inspection; forward forms them itself).</summary>
    public Tensor Keys(Tensor x) => Rope.Apply(SplitHeads(key.Apply(x, Gemms), kvHeads), cos, sin);

    /// <summary>[B, T, n·w] → [B, n, T, w].</summary>
    public static Tensor SplitHeads(Tensor x, int heads) =>
        x.reshape(x.shape[0], x.shape[1], heads, -1).transpose(1, 2);

    /// <summary>The checks every <see cref="IIncrementalAttention.NewCache"/> makes; <paramref name="maxField"/> names the limit.</summary>
    public static void CheckCapacity(int batch, int capacity, int max, string maxField)
    {
        if (batch < 1)
            throw new ArgumentOutOfRangeException(nameof(batch), batch, $"KV cache: batch must be ≥ 1 (got {batch})");
        if (capacity < 1 || capacity > max)
            throw new ArgumentOutOfRangeException(nameof(capacity), capacity, $"KV cache: context {capacity} is outside 1..{max} ({maxField}, the longest sequence RoPE covers)");
    }
}

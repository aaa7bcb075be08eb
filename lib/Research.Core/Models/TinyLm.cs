using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Research.Models;

/// <summary>Builds one block's attention or feed-forward: (config, layer index, device) → a module [B, T, d] → [B, T, d].</summary>
public delegate nn.Module<Tensor, Tensor> LayerFactory(TinyLmConfig config, int layer, Device device);

/// <summary>
/// The parts a <see cref="TinyLm"/> block is made of. MLA attention and MoE feed-forward layers drop in here; a
/// module whose last projection writes into the residual stream names it <c>output</c> so the model's init scales it.
/// </summary>
public sealed record TinyLmParts(LayerFactory Attention, LayerFactory FeedForward)
{
    /// <summary>Multi-head attention with RoPE and a SwiGLU feed-forward.</summary>
    public static TinyLmParts Standard { get; } = new(
        (config, _, device) => new CausalSelfAttention(config, device),
        (config, _, device) => new SwiGlu(config.Dim, config.FfnHidden, device));
}

/// <summary>A pre-norm transformer block: x + Attn(Norm(x)), then h + FFN(Norm(h)).</summary>
public sealed class TransformerBlock : nn.Module<Tensor, Tensor>
{
    private readonly RmsNorm attentionNorm;
    private readonly nn.Module<Tensor, Tensor> attention;
    private readonly RmsNorm ffnNorm;
    private readonly nn.Module<Tensor, Tensor> feedForward;

    public TransformerBlock(TinyLmConfig config, int layer, TinyLmParts parts, Device device) : base(nameof(TransformerBlock))
    {
        attentionNorm = new RmsNorm(config.Dim, config.NormEpsilon, device);
        attention = parts.Attention(config, layer, device);
        ffnNorm = new RmsNorm(config.Dim, config.NormEpsilon, device);
        feedForward = parts.FeedForward(config, layer, device);
        RegisterComponents();
    }

    /// <summary>The block's attention module (for variants that expose more than forward, such as a KV cache).</summary>
    public nn.Module<Tensor, Tensor> Attention => attention;

    /// <summary>The block's feed-forward module (an MoE layer exposes its routing statistics through it).</summary>
    public nn.Module<Tensor, Tensor> FeedForward => feedForward;

    public override Tensor forward(Tensor x)   // [B, T, d] → [B, T, d]
    {
        using var scope = NewDisposeScope();
        var h = x + attention.forward(attentionNorm.forward(x));
        return (h + feedForward.forward(ffnNorm.forward(h))).MoveToOuterDisposeScope();
    }

    /// <summary>The same block over the next tokens only, its attention reading and extending <paramref name="cache"/>.</summary>
    public Tensor Decode(Tensor x, KvCache cache)   // [B, T_new, d] → [B, T_new, d]
    {
        using var scope = NewDisposeScope();
        var h = x + Incremental.Decode(attentionNorm.forward(x), cache);
        return (h + feedForward.forward(ffnNorm.forward(h))).MoveToOuterDisposeScope();
    }

    /// <summary>The attention as an <see cref="IIncrementalAttention"/>, or an error naming the module that is not one.</summary>
    public IIncrementalAttention Incremental => attention as IIncrementalAttention
        ?? throw new NotSupportedException($"{attention.GetType().Name} has no KV-cached decoding (it does not implement IIncrementalAttention)");
}

/// <summary>
/// The kit's tiny decoder-only language model: token embedding, <see cref="TinyLmConfig.Layers"/> pre-norm blocks
/// built from <see cref="TinyLmParts"/>, a final RMSNorm and an output head. Weights are drawn from the given
/// generator, so a seed fixes the initial model on any device.
/// </summary>
public sealed class TinyLm : nn.Module<Tensor, Tensor>
{
    private readonly Embedding embedding;   // [V, d]
    private readonly ModuleList<TransformerBlock> blocks;
    private readonly RmsNorm norm;
    private readonly Linear head;           // [V, d]

    public TinyLm(TinyLmConfig config, Device device, Generator generator, TinyLmParts? parts = null) : base(nameof(TinyLm))
    {
        Config = config.Validated();
        parts ??= TinyLmParts.Standard;
        embedding = nn.Embedding(config.Vocabulary, config.Dim, device: device);
        blocks = new ModuleList<TransformerBlock>([.. Enumerable.Range(0, config.Layers).Select(l => new TransformerBlock(config, l, parts, device))]);
        norm = new RmsNorm(config.Dim, config.NormEpsilon, device);
        head = nn.Linear(config.Dim, config.Vocabulary, hasBias: false, device: device);
        RegisterComponents();
        InitializeWeights(this, Config, generator);
    }

    public TinyLmConfig Config { get; }

    /// <summary>The transformer blocks, in order.</summary>
    public IReadOnlyList<TransformerBlock> Blocks => [.. blocks];

    /// <summary>Number of parameters (all of them, embeddings included).</summary>
    public long ParameterCount => parameters().Sum(p => p.numel());

    public override Tensor forward(Tensor tokens)   // tokens: [B, T] int64 → logits [B, T, V]
    {
        if (tokens.dim() != 2 || tokens.dtype != ScalarType.Int64)
            throw new ArgumentException($"TinyLm.forward: tokens must be int64 [batch, seq], got {tokens.dtype} [{string.Join(", ", tokens.shape)}]", nameof(tokens));
        if (tokens.shape[1] > Config.MaxSequence)
            throw new ArgumentException($"TinyLm.forward: sequence length {tokens.shape[1]} exceeds TinyLmConfig.MaxSequence ({Config.MaxSequence})", nameof(tokens));
        using var scope = NewDisposeScope();
        return Logits(HiddenStates(tokens)).MoveToOuterDisposeScope();
    }

    /// <summary>Token embeddings [B, T] → [B, T, d]: the table a multi-token-prediction module shares.</summary>
    public Tensor Embed(Tensor tokens) => embedding.forward(tokens);

    /// <summary>The residual stream after the last block, before the final norm: [B, T] → [B, T, d]
    /// (DeepSeek-V3's h⁰, what its first MTP depth reads).</summary>
    public Tensor HiddenStates(Tensor tokens)
    {
        using var scope = NewDisposeScope();
        var x = embedding.forward(tokens);   // [B, T, d]
        foreach (var block in blocks) x = block.forward(x);
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>The output head after the final norm: hidden [B, T, d] → logits [B, T, V].</summary>
    public Tensor Logits(Tensor hidden) => head.forward(norm.forward(hidden));

    /// <summary>The shared output head alone, without the final norm (an MTP depth applies its own norm first).</summary>
    public Tensor Head(Tensor normalized) => head.forward(normalized);

    /// <summary>Empty KV caches, one per block, for <paramref name="batch"/> sequences of up to <paramref name="capacity"/> tokens.</summary>
    public LmCache NewCache(int batch, int capacity) => new([.. blocks.Select(b => b.Incremental.NewCache(batch, capacity))]);

    /// <summary>
    /// Incremental forward: tokens [B, T_new] int64 at positions cache.Length.. → logits [B, T_new, V], appending to the
    /// cache. A prompt goes in as one prefill call, then one token per call; the logits equal <see cref="forward"/>'s
    /// over the whole sequence (up to rounding). Runs without autograd.
    /// </summary>
    public Tensor Decode(Tensor tokens, LmCache cache)
    {
        if (tokens.dim() != 2 || tokens.dtype != ScalarType.Int64)
            throw new ArgumentException($"TinyLm.Decode: tokens must be int64 [batch, seq], got {tokens.dtype} [{string.Join(", ", tokens.shape)}]", nameof(tokens));
        if (cache.Layers.Count != blocks.Count)
            throw new ArgumentException($"TinyLm.Decode: the cache has {cache.Layers.Count} layers, the model {blocks.Count}", nameof(cache));
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        return head.forward(norm.forward(DecodeHidden(tokens, cache))).MoveToOuterDisposeScope();
    }

    /// <summary><see cref="Decode"/> stopping before the final norm: the hidden states [B, T_new, d] (h⁰ of
    /// multi-token prediction), appending to the cache; <see cref="Logits"/> of them are Decode's logits.</summary>
    public Tensor DecodeHidden(Tensor tokens, LmCache cache)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var x = embedding.forward(tokens);   // [B, T_new, d]
        for (int i = 0; i < blocks.Count; i++) x = blocks[i].Decode(x, cache.Layers[i]);
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The kit's init of <paramref name="module"/>'s weights for a model of <paramref name="config"/>: every matrix
    /// N(0, σ²) from the run's generator, residual projections ("output") σ/√(2L) (GPT-2 §2.3). Vectors (norm gains,
    /// biases a part may hold) keep the values their module chose. Modules added to a model (MTP depths) use it too.
    /// </summary>
    public static void InitializeWeights(nn.Module module, TinyLmConfig config, Generator generator)
    {
        using var noGrad = no_grad();
        double residualStd = config.InitStd / Math.Sqrt(2.0 * config.Layers);
        foreach (var (name, p) in module.named_parameters())
        {
            if (p.dim() < 2) continue;
            p.normal_(0, name.EndsWith("output.weight", StringComparison.Ordinal) ? residualStd : config.InitStd, generator);
        }
    }
}

/// <summary>The KV caches of every block of a <see cref="TinyLm"/>, decoded in step.</summary>
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

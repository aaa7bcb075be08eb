using TorchSharp.Modules;
using Research.Models;
using static TorchSharp.torch;

namespace Research.Mtp;

/// <summary>
/// One depth k of DeepSeek-V3's sequential multi-token prediction (V3 §2.2): from the previous depth's
/// representation h^{k−1}_i and the embedding of token t_{i+k} (the main model's embedding, shared),
/// h'^k_i = M_k [RMSNorm(h^{k−1}_i); RMSNorm(Emb(t_{i+k}))] with M_k ∈ R^{d×2d}, then one transformer block of the
/// model's kind, h^k = TRM_k(h'^k). Its prediction of t_{i+k+1} is the shared output head after this depth's own
/// final norm.
/// </summary>
public sealed class MtpDepth : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly RmsNorm hiddenNorm;
    private readonly RmsNorm embeddingNorm;
    private readonly Linear projection;   // M_k: [d, 2d]
    private readonly TransformerBlock block;
    private readonly RmsNorm outputNorm;

    /// <param name="layer">The layer index handed to the parts (after the main model's layers, so a part that
    /// varies by layer, such as dense-then-MoE, treats it as a deep layer).</param>
    public MtpDepth(TinyLmConfig config, int layer, TinyLmParts parts, Device device) : base(nameof(MtpDepth))
    {
        Dim = config.Dim;
        hiddenNorm = new RmsNorm(config.Dim, config.NormEpsilon, device);
        embeddingNorm = new RmsNorm(config.Dim, config.NormEpsilon, device);
        projection = nn.Linear(2 * config.Dim, config.Dim, hasBias: false, device: device);
        block = new TransformerBlock(config, layer, parts, device);
        outputNorm = new RmsNorm(config.Dim, config.NormEpsilon, device);
        RegisterComponents();
    }

    /// <summary>TRM_k, the depth's transformer block.</summary>
    public TransformerBlock Block => block;

    /// <summary>The model width d this depth was built for.</summary>
    public int Dim { get; }

    /// <summary>The projection M_k, [d, 2d] (TorchSharp stores a linear map as [out, in]).</summary>
    public Tensor ProjectionWeight => projection.weight!;

    /// <summary>h^{k−1} [B, T, d] and Emb(t_{i+k}) [B, T, d], aligned position by position → h^k [B, T, d].</summary>
    public override Tensor forward(Tensor previous, Tensor nextEmbedding)
    {
        if (!previous.shape.SequenceEqual(nextEmbedding.shape))
            throw new ArgumentException($"MtpDepth: the hidden states [{string.Join(", ", previous.shape)}] and the next tokens' embeddings [{string.Join(", ", nextEmbedding.shape)}] must have one shape");
        using var scope = NewDisposeScope();
        var combined = cat([hiddenNorm.forward(previous), embeddingNorm.forward(nextEmbedding)], -1);   // [B, T, 2d]
        return block.forward(projection.forward(combined)).MoveToOuterDisposeScope();
    }

    /// <summary>An empty cache for this depth's block: its own attention over the depth's positions.</summary>
    public KvCache NewCache(int batch, int capacity) => block.Incremental.NewCache(batch, capacity);

    /// <summary><see cref="forward"/> over the next positions only, the block's attention reading and extending
    /// <paramref name="cache"/>. Runs without autograd.</summary>
    public Tensor Decode(Tensor previous, Tensor nextEmbedding, KvCache cache)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var combined = cat([hiddenNorm.forward(previous), embeddingNorm.forward(nextEmbedding)], -1);
        return block.Decode(projection.forward(combined), cache).MoveToOuterDisposeScope();
    }

    /// <summary>This depth's logits: the shared head of <paramref name="model"/> after this depth's final norm.</summary>
    public Tensor Logits(TinyLm model, Tensor hidden) => model.Head(outputNorm.forward(hidden));
}

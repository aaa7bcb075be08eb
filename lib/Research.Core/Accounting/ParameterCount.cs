using Research.Models;

namespace Research.Accounting;

/// <summary>Where a parameter sits in the checkpoint (HF key in brackets for DeepSeek-V3).</summary>
public enum ParameterPart
{
    /// <summary>Token embedding [V, d] (<c>embed_tokens</c>); a lookup, not a matmul.</summary>
    Embedding,
    /// <summary>Attention matrices: MLA's q_a/q_b (or q), kv_a_proj_with_mqa, kv_b, o; a dense model's q, k, v, o.</summary>
    AttentionProjections,
    /// <summary>MLA's RMSNorms on the latents c^Q and c^KV (<c>q_a_layernorm</c>, <c>kv_a_layernorm</c>).</summary>
    AttentionNorms,
    /// <summary>q, k, v biases (Qwen2).</summary>
    AttentionBiases,
    /// <summary>SwiGLU of the dense layers (gate, up, down).</summary>
    DenseFfn,
    /// <summary>The N_r routed experts of every MoE layer; K_r of them are activated per token.</summary>
    RoutedExperts,
    /// <summary>The N_s shared experts of every MoE layer.</summary>
    SharedExperts,
    /// <summary>The router's expert centroids [N_r, d] (<c>mlp.gate.weight</c>).</summary>
    Gate,
    /// <summary>The balancing bias b [N_r] of auxiliary-loss-free routing (<c>e_score_correction_bias</c>).</summary>
    GateBias,
    /// <summary>The two pre-norms of every block and the final norm.</summary>
    LayerNorms,
    /// <summary>Output head [V, d] (<c>lm_head</c>); none when tied to the embedding.</summary>
    OutputHead,
}

/// <summary>One part of the model: parameters stored and those one token's forward pass touches.</summary>
/// <param name="Matmul">Whether the part is weight matrices multiplied with the activations (2 FLOPs per weight and
/// token); vectors (norm gains, biases) and the embedding lookup are not.</param>
public sealed record PartCount(ParameterPart Part, long Total, long Activated, bool Matmul);

/// <summary>The D multi-token-prediction depths (V3 §2.2), counted apart from the main model as V3 reports them.</summary>
/// <param name="Unique">Each depth's own parameters: two RMSNorms on h and Emb, M_k [d, 2d], one block of the model's
/// deepest kind, the final norm before the shared head.</param>
/// <param name="SharedCopies">The embedding and output head the checkpoint stores again in each depth
/// (<c>model.layers.61.embed_tokens</c>, <c>shared_head.head</c>); shared with the main model in the computation.</param>
/// <param name="Stored">Unique + SharedCopies: what the checkpoint stores for MTP.</param>
public sealed record MtpCount(int Depths, long Unique, long SharedCopies, long Stored);

/// <summary>A model's parameters by part, in total and activated per token, and its MTP modules.</summary>
public sealed record ParameterCount(string Model, IReadOnlyList<PartCount> Parts, MtpCount Mtp)
{
    /// <summary>Every parameter of the main model.</summary>
    public long Total => Parts.Sum(p => p.Total);

    /// <summary>Every parameter one token's forward pass touches, embedding and output head included.</summary>
    public long Activated => Parts.Sum(p => p.Activated);

    /// <summary>Activated weight matrices: what the FLOP count multiplies by 2.</summary>
    public long ActivatedMatmul => Parts.Where(p => p.Matmul).Sum(p => p.Activated);

    /// <summary>Main model and MTP as the checkpoint stores them.</summary>
    public long Stored => Total + Mtp.Stored;

    public PartCount this[ParameterPart part] => Parts.Single(p => p.Part == part);
}

/// <summary>
/// Parameters counted as the checkpoint stores them, from the config alone (no tensors). Per block: attention
/// (MLA: W^DQ d·d'_c, norm d'_c, [W^UQ; W^QR] d'_c·n_h(d_h + d_h^R), [W^DKV; W^KR] d·(d_c + d_h^R), norm d_c,
/// [W^UK; W^UV] d_c·n_h(d_h + d_v), W^O n_h·d_v·d; without q compression W^Q d·n_h(d_h + d_h^R); dense: q and o
/// d·n_h·d_h each, k and v d·n_g·d_h each), two RMSNorms d, and a SwiGLU 3·d·h (dense: h = intermediate_size; MoE:
/// N_r + N_s experts of h = moe_intermediate_size, gate N_r·d, optional bias N_r). Then embedding V·d, final norm d,
/// head V·d unless tied. Activated: the same with K_r of the N_r routed experts.
/// </summary>
public static class ParameterCounting
{
    /// <summary>One SwiGLU: gate and up [h, d], down [d, h].</summary>
    public static long SwiGlu(long dim, long hidden) => 3 * dim * hidden;

    /// <summary>One block's attention matrices.</summary>
    public static long AttentionProjections(ModelConfig c)
    {
        long d = c.HiddenSize, h = c.NumAttentionHeads;
        if (!c.IsMla)
        {
            long dh = c.DenseHeadDim, g = c.KeyValueHeads;
            return d * h * dh + 2 * d * g * dh + h * dh * d;      // W^Q, W^K, W^V, W^O
        }
        long qk = c.QkNopeHeadDim + c.QkRopeHeadDim, latent = c.KvLoraRank!.Value;
        long query = c.QLoraRank is int q ? d * q + q * h * qk : d * h * qk;   // W^DQ then [W^UQ; W^QR], or W^Q
        return query
            + d * (latent + c.QkRopeHeadDim)                       // [W^DKV; W^KR] (kv_a_proj_with_mqa)
            + latent * h * (c.QkNopeHeadDim + c.VHeadDim)          // [W^UK; W^UV] (kv_b_proj)
            + h * c.VHeadDim * d;                                  // W^O
    }

    /// <summary>One block's MLA latent norms (c^Q when compressed, c^KV).</summary>
    public static long AttentionNorms(ModelConfig c) => c.IsMla ? (c.QLoraRank ?? 0) + c.KvLoraRank!.Value : 0;

    /// <summary>One block's q, k, v biases.</summary>
    public static long AttentionBiases(ModelConfig c) =>
        c.QkvBias && !c.IsMla ? (long)(c.NumAttentionHeads + 2 * c.KeyValueHeads) * c.DenseHeadDim : 0;

    /// <summary>The main model's parameters by part, and its MTP depths.</summary>
    public static ParameterCount Count(ModelConfig config)
    {
        var c = config.Validated();
        long d = c.HiddenSize, l = c.NumHiddenLayers, v = c.VocabSize;
        long moe = c.MoeLayers, expert = SwiGlu(d, c.MoeIntermediateSize);
        long routed = c.NRoutedExperts ?? 0;
        var parts = new List<PartCount>
        {
            // Tied: the head multiplies by the embedding matrix, so the embedding counts as the matmul and the head as nothing.
            new(ParameterPart.Embedding, v * d, v * d, c.TieWordEmbeddings),
            new(ParameterPart.AttentionProjections, l * AttentionProjections(c), l * AttentionProjections(c), true),
            new(ParameterPart.AttentionNorms, l * AttentionNorms(c), l * AttentionNorms(c), false),
            new(ParameterPart.AttentionBiases, l * AttentionBiases(c), l * AttentionBiases(c), false),
            new(ParameterPart.DenseFfn, c.DenseLayers * SwiGlu(d, c.IntermediateSize), c.DenseLayers * SwiGlu(d, c.IntermediateSize), true),
            new(ParameterPart.RoutedExperts, moe * routed * expert, c.IsMoe ? moe * c.NumExpertsPerTok * expert : 0, true),
            new(ParameterPart.SharedExperts, c.IsMoe ? moe * c.NSharedExperts * expert : 0, c.IsMoe ? moe * c.NSharedExperts * expert : 0, true),
            // Every centroid scores the token, so the whole gate is activated.
            new(ParameterPart.Gate, moe * routed * d, moe * routed * d, true),
            new(ParameterPart.GateBias, c.HasGateBias ? moe * routed : 0, c.HasGateBias ? moe * routed : 0, false),
            new(ParameterPart.LayerNorms, 2 * l * d + d, 2 * l * d + d, false),
            new(ParameterPart.OutputHead, c.TieWordEmbeddings ? 0 : v * d, c.TieWordEmbeddings ? 0 : v * d, true),
        };
        return new ParameterCount(c.Name, parts, Mtp(c));
    }

    /// <summary>One block with the feed-forward of layer <paramref name="layer"/> (dense below first_k_dense_replace).</summary>
    public static long Block(ModelConfig c, int layer)
    {
        long d = c.HiddenSize;
        long ffn = c.IsMoe && layer >= c.FirstKDenseReplace
            ? (c.NRoutedExperts!.Value + c.NSharedExperts) * SwiGlu(d, c.MoeIntermediateSize) + c.NRoutedExperts.Value * d
              + (c.HasGateBias ? c.NRoutedExperts.Value : 0)
            : SwiGlu(d, c.IntermediateSize);
        return AttentionProjections(c) + AttentionNorms(c) + AttentionBiases(c) + 2 * d + ffn;
    }

    /// <summary>V3 §2.2's depths: RMSNorm(h) and RMSNorm(Emb) 2d, M_k 2d·d, a block of the kind after the main
    /// model's layers, the final norm d; the checkpoint repeats embedding and head in each depth.</summary>
    public static MtpCount Mtp(ModelConfig c)
    {
        long d = c.HiddenSize, v = c.VocabSize;
        int depths = c.NumNextnPredictLayers;
        long unique = Enumerable.Range(0, depths).Sum(k => 2 * d + 2 * d * d + Block(c, c.NumHiddenLayers + k) + d);
        long copies = depths * (v * d + (c.TieWordEmbeddings ? 0 : v * d));
        return new MtpCount(depths, unique, copies, unique + copies);
    }
}

using Research.Models;
using Research.Moe;

namespace Research.Charts;

/// <summary>A built <see cref="LanguageModel"/> described from its modules, for the notebooks' structure drawing.</summary>
public static class ModelStructure
{
    /// <summary>One line per run of equal blocks, then the MTP depths and the GEMM precision: what notebook 14 draws.</summary>
    public static IReadOnlyList<string> Describe(LanguageModel model)
    {
        var c = model.Config;
        var lines = new List<string> { $"embedding {c.VocabSize} × {c.HiddenSize} (shared with the MTP depths)" };
        var blocks = model.Blocks.Select(b => $"{Attention(b)} → {FeedForward(b)}").ToList();
        for (int i = 0; i < blocks.Count;)
        {
            int j = i;
            while (j + 1 < blocks.Count && blocks[j + 1] == blocks[i]) j++;
            lines.Add($"{(i == j ? $"layer {i + 1}" : $"layers {i + 1}–{j + 1}")}: {blocks[i]}");
            i = j + 1;
        }
        lines.Add($"final RMSNorm, output head {c.HiddenSize} → {c.VocabSize}");
        foreach (var (depth, k) in model.Depths.Select((d, k) => (d, k + 1)))
            lines.Add($"MTP depth {k}: M_{k} [{c.HiddenSize}, {2 * c.HiddenSize}] over [RMSNorm(h); RMSNorm(Emb(t+{k}))] → {Attention(depth.Block)} → {FeedForward(depth.Block)} → shared head");
        lines.Add(c.Fp8 is { } r
            ? $"every block GEMM in FP8 {r.Forward}: 1×{r.Activations.TileSize} activation and gradient tiles, {r.Weights.BlockSize}×{r.Weights.BlockSize} weight blocks (V3: 128); gate, norms, attention products, embedding and head in FP32"
            : "every GEMM in FP32");
        return lines;
    }

    private static string Attention(Block b) => b.Attention switch
    {
        MultiHeadLatentAttention m => $"MLA (n_h {m.Heads}, d_c {m.KvLatentDim}, d'_c {m.Config.QLoraRank ?? 0}, RoPE key {m.RopeHeadDim}; caches {m.CacheElementsPerToken} per token)",
        Models.Attention a => $"{(a.KvHeads == a.Heads ? "MHA" : $"GQA ({a.KvHeads} key/value heads)")} (n_h {a.Heads}; caches {a.CacheElementsPerToken} per token)",
        var other => other.GetType().Name,
    };

    private static string FeedForward(Block b) => b.FeedForward switch
    {
        MoeLayer m => $"DeepSeekMoE ({m.Config.NSharedExperts} shared + {m.Router.Config.Experts} routed experts of {m.Config.MoeIntermediateSize}, top-{m.Router.Config.TopK}" +
            (m.Router.Config.Groups > 1 ? $" from {m.Router.Config.TopGroups} of {m.Router.Config.Groups} groups" : "") +
            $", {m.Router.Config.Affinity.ToString().ToLowerInvariant()} gate ×{m.Router.Config.RoutedScaling}; {Balancing(m.Balance)})",
        SwiGlu f => $"dense SwiGLU (width {f.Hidden})",
        var other => other.GetType().Name,
    };

    private static string Balancing(BalancingConfig b) => string.Join(" + ", new[]
    {
        b.BiasUpdateSpeed > 0 ? $"bias γ {b.BiasUpdateSpeed}" : null,
        b.SequenceAuxLossAlpha > 0 ? $"sequence-wise loss α {b.SequenceAuxLossAlpha}" : null,
        b.AuxLossAlpha > 0 ? $"auxiliary loss α {b.AuxLossAlpha}" : null,
    }.Where(x => x is not null).DefaultIfEmpty("no balancing"));
}

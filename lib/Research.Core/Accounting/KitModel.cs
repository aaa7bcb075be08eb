using Research.Experiments;
using Research.Fp8;
using Research.Mla;
using Research.Models;
using Research.Moe;
using Research.Mtp;
using TorchSharp;
using static TorchSharp.torch;

namespace Research.Accounting;

/// <summary>
/// The kit's own modules in the shape of a <see cref="ModelConfig"/>: a <see cref="TinyLm"/> whose blocks are
/// <see cref="MultiHeadLatentAttention"/> (or grouped-query <see cref="CausalSelfAttention"/>), dense
/// <see cref="SwiGlu"/> for the first <c>first_k_dense_replace</c> layers and <see cref="MoeLayer"/> after, plus
/// <see cref="MtpModules"/>. Built only for tiny configs: it is how the tests check that the count matches real modules.
/// Structural differences from a checkpoint: the kit's router keeps the balancing bias as a buffer, not a parameter,
/// so a config with a gate bias is refused; MLA's RoPE has no YaRN scaling (no parameters either way).
/// </summary>
public static class KitModel
{
    /// <summary>Largest model built: 50M parameters, a few hundred MB in float32.</summary>
    public const long MaxParameters = 50_000_000;

    public static TinyLmConfig LmConfig(ModelConfig c) =>
        new(Vocabulary: c.VocabSize, Dim: c.HiddenSize, Layers: c.NumHiddenLayers, Heads: c.NumAttentionHeads,
            FfnHidden: c.IntermediateSize, MaxSequence: Math.Min(c.ContextLimit, 1024));

    /// <summary>The blocks' attention and feed-forward for <paramref name="c"/>, their GEMMs at <paramref name="gemms"/>
    /// (null: FP32) and the MoE layers balanced by <paramref name="balancing"/> (null: none).</summary>
    public static TinyLmParts Parts(ModelConfig c, Fp8TrainingRecipe? gemms = null, BalancingConfig? balancing = null) => new(
        (lm, _, device) => c.IsMla
            ? new MultiHeadLatentAttention(new MlaConfig(c.HiddenSize, c.NumAttentionHeads, c.QkNopeHeadDim, c.VHeadDim, c.KvLoraRank!.Value,
                c.QLoraRank ?? 0, c.QkRopeHeadDim, lm.MaxSequence), device, gemms)
            : new CausalSelfAttention(lm, device, c.KeyValueHeads, gemms),
        (lm, layer, device) => c.IsMoe && layer >= c.FirstKDenseReplace
            ? new MoeLayer(lm.Dim, new MoeConfig(Router(c), c.MoeIntermediateSize, c.NSharedExperts, balancing), device, gemms: gemms)
            : new SwiGlu(lm.Dim, c.IntermediateSize, device, gemms));

    /// <summary>The gate of an MoE config: scoring_func, norm_topk_prob, routed_scaling_factor and the group limit
    /// (groups scored by their top two affinities with sigmoid gates, V3; by their best one with softmax, V2).</summary>
    public static RouterConfig Router(ModelConfig c)
    {
        bool sigmoid = c.ScoringFunc == "sigmoid";
        int groups = c.NGroup ?? 1;
        return new RouterConfig(c.NRoutedExperts ?? throw new ConfigException($"ModelConfig '{c.Name}' is dense: n_routed_experts is null"),
            c.NumExpertsPerTok, sigmoid ? Affinity.Sigmoid : Affinity.Softmax, c.NormTopkProb, c.RoutedScalingFactor, groups,
            c.TopkGroup ?? groups, sigmoid ? GroupScore.TopTwoSum : GroupScore.Max).Validated();
    }

    /// <summary>The main model and its MTP depths, weights from <paramref name="generator"/>.</summary>
    public static (TinyLm Model, MtpModules Mtp) Build(ModelConfig config, Device device, Generator generator)
    {
        var c = config.Validated();
        if (c.HasGateBias)
            throw new ConfigException($"ModelConfig '{c.Name}': topk_method '{ModelConfig.AuxLossFreeTopk}' stores a gate bias the kit keeps as a buffer; build it with another topk_method");
        if (c.QkvBias || c.TieWordEmbeddings || c.HeadDim is not null && c.HeadDim != c.HiddenSize / c.NumAttentionHeads)
            throw new ConfigException($"ModelConfig '{c.Name}': the kit's modules have no qkv biases, no tied head and d_h = d / n_h");
        long total = ParameterCounting.Count(c).Stored;
        if (total > MaxParameters)
            throw new ConfigException($"ModelConfig '{c.Name}': {total:N0} parameters is beyond what the kit builds ({MaxParameters:N0})");
        var parts = Parts(c);
        var model = new TinyLm(LmConfig(c), device, generator, parts);
        return (model, new MtpModules(model, c.NumNextnPredictLayers, device, generator, parts));
    }
}

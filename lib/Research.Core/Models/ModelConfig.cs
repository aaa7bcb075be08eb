using System.Text.Json.Serialization;
using Research.Experiments;
using Research.Fp8;
using Research.Mla;
using Research.Moe;

namespace Research.Models;

/// <summary>
/// The one config vocabulary of the kit: a model's shape with the field names its <c>config.json</c> uses (HF
/// <c>DeepseekV3Config</c>, <c>LlamaConfig</c>; read with snake_case names by <see cref="Research.Accounting.ModelPresets"/>,
/// camelCase in experiment configs). One record serves MLA + DeepSeekMoE models (<see cref="KvLoraRank"/> and
/// <see cref="NRoutedExperts"/> set) and dense GQA models (both null); the accounting counts it, the KV-cache calculator
/// sizes it, and <see cref="LanguageModel"/> builds it. The defaults are a dense 2-layer model of width 64, the kit's
/// smallest language model; the toy models of the experiments are instances of this record.
/// </summary>
/// <param name="Name">Preset name (kit field, not in config.json).</param>
/// <param name="HiddenSize">d, the model width.</param>
/// <param name="NumHiddenLayers">l, transformer blocks of the main model (MTP modules not included).</param>
/// <param name="IntermediateSize">Hidden width of a dense layer's SwiGLU (every layer of a dense model; the first
/// <see cref="FirstKDenseReplace"/> layers of an MoE model).</param>
/// <param name="VocabSize">V, rows of the embedding and of the output head.</param>
/// <param name="TieWordEmbeddings">Output head shares the embedding matrix (false for every preset).</param>
/// <param name="NumAttentionHeads">n_h, query heads.</param>
/// <param name="NumKeyValueHeads">n_g, key/value heads of a GQA model (null: n_h, HF's default). MLA caches none;
/// HF lists n_h for DeepSeek-V2/V3.</param>
/// <param name="HeadDim">d_h of a dense model (null: d / n_h, HF's default).</param>
/// <param name="QLoraRank">d'_c, MLA's query latent; null: no query compression (V2-Lite).</param>
/// <param name="KvLoraRank">d_c, MLA's KV latent; null: not an MLA model.</param>
/// <param name="QkNopeHeadDim">d_h, MLA's per-head query/key width without RoPE.</param>
/// <param name="QkRopeHeadDim">d_h^R, MLA's decoupled RoPE width (per-head query part, one shared key).</param>
/// <param name="VHeadDim">MLA's per-head value width.</param>
/// <param name="NRoutedExperts">N_r; null: a dense model.</param>
/// <param name="NSharedExperts">N_s, always-on experts.</param>
/// <param name="NumExpertsPerTok">K_r, routed experts per token.</param>
/// <param name="MoeIntermediateSize">Hidden width of one expert's SwiGLU.</param>
/// <param name="FirstKDenseReplace">Layers 0..k−1 are dense, the rest MoE.</param>
/// <param name="MoeLayerFreq">Every how many layers after the dense ones is MoE; only 1 (every layer) is counted.</param>
/// <param name="ScoringFunc">The gate's affinity: "sigmoid" (V3) or "softmax" (V2). Counted by no calculator; read
/// by the models the kit builds.</param>
/// <param name="NormTopkProb">Whether the selected experts' gate values are normalised to sum to 1 (V3: true).</param>
/// <param name="RoutedScalingFactor">Factor on the routed experts' output (V3: 2.5, V2: 16).</param>
/// <param name="NGroup">Expert groups of group-limited routing (V3: 8, one per node); null: one group.</param>
/// <param name="TopkGroup">Groups a token's experts may come from (V3: 4); null: all of them.</param>
/// <param name="TopkMethod">"noaux_tc" (V3's auxiliary-loss-free routing) stores a per-expert gate bias
/// (<c>e_score_correction_bias</c>) in each MoE layer; the others store none.</param>
/// <param name="NumNextnPredictLayers">D, multi-token-prediction depths stored beside the main model (V3 §2.2).</param>
/// <param name="QkvBias">Biases on the q, k, v projections (Qwen2's architecture; kit field, Qwen's config.json leaves
/// it implicit).</param>
/// <param name="MaxPositionEmbeddings">The config's position limit.</param>
/// <param name="MaxContext">Context the model is documented to support (kit field; null: MaxPositionEmbeddings).</param>
/// <param name="Source">Where the numbers come from (kit field).</param>
/// <param name="RopeTheta">θ of the rotary position embedding (RoFormer; LLaMA and DeepSeek: 10000).</param>
/// <param name="RmsNormEps">ε of every RMSNorm.</param>
/// <param name="InitializerRange">σ of the normal initialisation of every matrix (GPT-2's 0.02); residual output
/// projections use σ/√(2·layers).</param>
/// <param name="Fp8">Kit field: every linear layer of the blocks on FP8 operands with this recipe (V3 §3.3); null: FP32.
/// Embedding, head, gate, norms and the attention products stay in higher precision, as in V3.</param>
/// <param name="Balancing">Kit field: how the MoE layers are balanced in training; null: V3's (bias γ = 0.001 plus the
/// sequence-wise loss α = 0.0001) when <see cref="TopkMethod"/> keeps a gate bias, none otherwise.</param>
/// <param name="CapacityFactor">Kit field: each routed expert takes at most ⌈factor · tokens · K_r / N_r⌉ assignments and
/// drops the rest (GShard's capacity, for comparison); null: dropless routing, as V3.</param>
public sealed record ModelConfig(
    string Name = "tiny",
    int HiddenSize = 64,
    int NumHiddenLayers = 2,
    int IntermediateSize = 172,
    int VocabSize = 16,
    bool TieWordEmbeddings = false,
    int NumAttentionHeads = 4,
    int? NumKeyValueHeads = null,
    int? HeadDim = null,
    int? QLoraRank = null,
    int? KvLoraRank = null,
    int QkNopeHeadDim = 16,
    int QkRopeHeadDim = 8,
    int VHeadDim = 16,
    int? NRoutedExperts = null,
    int NSharedExperts = 1,
    int NumExpertsPerTok = 2,
    int MoeIntermediateSize = 32,
    int FirstKDenseReplace = 0,
    int MoeLayerFreq = 1,
    string? TopkMethod = null,
    string ScoringFunc = "sigmoid",
    bool NormTopkProb = true,
    double RoutedScalingFactor = 1.0,
    int? NGroup = null,
    int? TopkGroup = null,
    int NumNextnPredictLayers = 0,
    bool QkvBias = false,
    int MaxPositionEmbeddings = 64,
    int? MaxContext = null,
    string Source = "",
    double RopeTheta = 10_000,
    double RmsNormEps = 1e-6,
    double InitializerRange = 0.02,
    Fp8TrainingRecipe? Fp8 = null,
    BalancingConfig? Balancing = null,
    double? CapacityFactor = null)
{
    /// <summary>Bound on every size: far above any published model, low enough that products stay in a long.</summary>
    public const int MaxDimension = KvCacheModel.MaxDimension;

    /// <summary>The top-k method whose routing keeps a per-expert bias in the checkpoint (V3 §2.1.2, code-V3 <c>Gate.bias</c>).</summary>
    public const string AuxLossFreeTopk = "noaux_tc";

    /// <summary>A tiny model of V3's kind: MLA with query compression, one dense layer then DeepSeekMoE, one MTP depth,
    /// no gate bias (the kit's router keeps it as a buffer, not a parameter).</summary>
    public static ModelConfig TinyMlaMoe { get; } = new(
        Name: "tiny-mla-moe", HiddenSize: 64, NumHiddenLayers: 3, IntermediateSize: 96, VocabSize: 16, NumAttentionHeads: 4,
        NumKeyValueHeads: 4, QLoraRank: 24, KvLoraRank: 32, QkNopeHeadDim: 16, QkRopeHeadDim: 8, VHeadDim: 16,
        NRoutedExperts: 8, NSharedExperts: 1, NumExpertsPerTok: 2, MoeIntermediateSize: 32, FirstKDenseReplace: 1,
        NumNextnPredictLayers: 1);

    /// <summary>DeepSeek-V3's shape at toy size on the four-domain corpus: d = 64, 4 layers (the first dense), MLA with
    /// d_c = 32, d'_c = 32, 4 heads of 16 + 8 RoPE channels; 1 shared + 8 routed experts of width 32, top-2 in 2 of 4
    /// groups, sigmoid gate normalised and scaled by 2.5, the bias kept (noaux_tc); one MTP depth.</summary>
    public static ModelConfig DeepSeekMini { get; } = new(
        Name: "deepseek-mini", HiddenSize: 64, NumHiddenLayers: 4, IntermediateSize: 96, VocabSize: Data.MultiDomainCorpus.VocabularySize,
        NumAttentionHeads: 4, NumKeyValueHeads: 4, QLoraRank: 32, KvLoraRank: 32, QkNopeHeadDim: 16, QkRopeHeadDim: 8, VHeadDim: 16,
        NRoutedExperts: 8, NSharedExperts: 1, NumExpertsPerTok: 2, MoeIntermediateSize: 32, FirstKDenseReplace: 1,
        TopkMethod: AuxLossFreeTopk, ScoringFunc: "sigmoid", NormTopkProb: true, RoutedScalingFactor: 2.5, NGroup: 4, TopkGroup: 2,
        NumNextnPredictLayers: 1, MaxPositionEmbeddings: 64, Source: "the kit's miniature of DeepSeek-V3 (config_671B.json's fields at toy size)");

    public bool IsMla => KvLoraRank is not null;
    public bool IsMoe => NRoutedExperts is not null;

    /// <summary>n_g: key/value heads of a dense model (HF's default n_h when the config omits it).</summary>
    public int KeyValueHeads => NumKeyValueHeads ?? NumAttentionHeads;

    /// <summary>d_h of a dense model's heads.</summary>
    public int DenseHeadDim => HeadDim ?? HiddenSize / NumAttentionHeads;

    /// <summary>Layers with a dense SwiGLU: all of a dense model, the first k of an MoE model.</summary>
    public int DenseLayers => IsMoe ? FirstKDenseReplace : NumHiddenLayers;

    /// <summary>Hidden width a token passes through in an MoE layer: (K_r + N_s) · moe_intermediate_size, what a dense
    /// SwiGLU of equal compute has.</summary>
    public int ActiveExpertWidth => (NumExpertsPerTok + NSharedExperts) * MoeIntermediateSize;

    /// <summary>Layers with a DeepSeekMoE feed-forward.</summary>
    public int MoeLayers => NumHiddenLayers - DenseLayers;

    /// <summary>The context the calculators use as the model's limit.</summary>
    public int ContextLimit => MaxContext ?? MaxPositionEmbeddings;

    /// <summary>Whether each MoE layer stores the gate's balancing bias.</summary>
    public bool HasGateBias => IsMoe && TopkMethod == AuxLossFreeTopk;

    /// <summary>Largest model the kit builds: 50M parameters, a few hundred MB in float32.</summary>
    public const long MaxBuiltParameters = 50_000_000;

    /// <summary>The balancing in use: <see cref="Balancing"/>, or V3's when the gate keeps a bias and none when it does not.</summary>
    [JsonIgnore]
    public BalancingConfig Balance => Balancing ?? (HasGateBias ? BalancingConfig.DeepSeekV3 : BalancingConfig.None);

    /// <summary>The gate of an MoE config: scoring_func, norm_topk_prob, routed_scaling_factor and the group limit
    /// (groups scored by their top two affinities with sigmoid gates, V3; by their best one with softmax, V2).
    /// A method, not a property: a dense config has no gate, and serializers and reflection read every property.</summary>
    public RouterConfig ToRouterConfig()
    {
        bool sigmoid = ScoringFunc == "sigmoid";
        int groups = NGroup ?? 1;
        return new RouterConfig(NRoutedExperts ?? throw new ConfigException($"ModelConfig '{Name}' is dense: n_routed_experts is null"),
            NumExpertsPerTok, sigmoid ? Affinity.Sigmoid : Affinity.Softmax, NormTopkProb, RoutedScalingFactor, groups,
            TopkGroup ?? groups, sigmoid ? GroupScore.TopTwoSum : GroupScore.Max, CapacityFactor).Validated();
    }

    /// <summary>This config with its MoE fields set from <paramref name="gate"/> (the inverse of <see cref="ToRouterConfig"/>;
    /// the group score follows the scoring function, as in DeepSeek's code).</summary>
    public ModelConfig WithGate(RouterConfig gate) => this with
    {
        NRoutedExperts = gate.Experts, NumExpertsPerTok = gate.TopK, ScoringFunc = gate.Affinity == Affinity.Sigmoid ? "sigmoid" : "softmax",
        NormTopkProb = gate.NormalizeTopK, RoutedScalingFactor = gate.RoutedScaling, NGroup = gate.Groups, TopkGroup = gate.TopGroups,
        CapacityFactor = gate.CapacityFactor,
    };

    /// <summary>This config if <see cref="LanguageModel"/> can build it (what <see cref="Validated"/> checks, plus the
    /// kit's structural limits), or a <see cref="ConfigException"/> naming the field.</summary>
    public ModelConfig Buildable()
    {
        var c = Validated();
        string where = $"ModelConfig '{Name}'";
        if (TieWordEmbeddings || QkvBias || HeadDim is not null && HeadDim != HiddenSize / NumAttentionHeads)
            throw new ConfigException($"{where}: the kit's blocks have no tied head (tie_word_embeddings), no qkv_bias and head_dim = hidden_size / num_attention_heads");
        if (VocabSize < 2) throw new ConfigException($"{where}: vocab_size must be ≥ 2 to train a language model (got {VocabSize})");
        int ropeWidth = IsMla ? QkRopeHeadDim : DenseHeadDim;
        if (ropeWidth < 2 || ropeWidth % 2 != 0)
            throw new ConfigException(IsMla
                ? $"{where}: qk_rope_head_dim (d_h^R) must be even and ≥ 2: RoPE rotates pairs of dimensions (got {QkRopeHeadDim})"
                : $"{where}: the head width hidden_size / num_attention_heads = {DenseHeadDim} must be even: RoPE rotates pairs of dimensions");
        if (IsMla && KvLoraRank > HiddenSize)
            throw new ConfigException($"{where}: kv_lora_rank (d_c) must be in 1..hidden_size ({HiddenSize}), a compression of the width (got {KvLoraRank})");
        if (IsMla && QLoraRank > HiddenSize)
            throw new ConfigException($"{where}: q_lora_rank (d'_c) must be in 1..hidden_size ({HiddenSize}) (got {QLoraRank})");
        Fp8?.Validated();
        if (IsMoe) ToRouterConfig();   // the router's own checks (capacity factor, groups)
        Balance.Validated();
        if (Balance.BiasUpdateSpeed > 0 && !HasGateBias)
            throw new ConfigException($"{where}: balancing.biasUpdateSpeed > 0 needs topk_method '{AuxLossFreeTopk}', the gate that keeps a bias (got topk_method '{TopkMethod ?? "null"}')");
        if (Balance != BalancingConfig.None && !IsMoe)
            throw new ConfigException($"{where}: balancing applies to MoE models only (n_routed_experts is null); leave it null");
        long total = Research.Accounting.ParameterCounting.Count(this).Stored;
        if (total > MaxBuiltParameters)
            throw new ConfigException($"{where}: hidden_size {HiddenSize} × num_hidden_layers {NumHiddenLayers} (intermediate_size {IntermediateSize}) " +
                $"is {total:N0} parameters, beyond what the kit builds ({MaxBuiltParameters:N0}: about {4.0 * 4 * MaxBuiltParameters / (1 << 30):F1} GiB of AdamW training state)");
        return c;
    }

    /// <summary>This config, or a <see cref="ConfigException"/> naming the first field (config.json name) out of range.</summary>
    public ModelConfig Validated()
    {
        string where = $"ModelConfig '{Name}'";
        if (string.IsNullOrWhiteSpace(Name)) throw new ConfigException("ModelConfig name must be a non-empty name");
        Range("hidden_size", HiddenSize, 1, MaxDimension);
        Range("num_hidden_layers", NumHiddenLayers, 1, MaxDimension);
        Range("vocab_size", VocabSize, 1, 1 << 24);
        Range("num_attention_heads", NumAttentionHeads, 1, MaxDimension);
        Range("max_position_embeddings", MaxPositionEmbeddings, 1, KvCacheModel.MaxSupportedContext);
        if (MaxContext is int context) Range("max_context", context, 1, KvCacheModel.MaxSupportedContext);
        Range("num_nextn_predict_layers", NumNextnPredictLayers, 0, 64);
        if (DenseLayers > 0) Range("intermediate_size", IntermediateSize, 1, 1 << 20);
        if (IsMla)
        {
            Range("kv_lora_rank", KvLoraRank!.Value, 1, MaxDimension);
            if (QLoraRank is int q) Range("q_lora_rank", q, 1, MaxDimension);
            Range("qk_nope_head_dim", QkNopeHeadDim, 1, MaxDimension);
            Range("qk_rope_head_dim", QkRopeHeadDim, 0, MaxDimension);
            Range("v_head_dim", VHeadDim, 1, MaxDimension);
            if (NumKeyValueHeads is int g) DividesHeads(g);
        }
        else
        {
            if (QLoraRank is not null)
                throw new ConfigException($"{where}: q_lora_rank applies to MLA models only (set kv_lora_rank) or must be null (got {QLoraRank})");
            DividesHeads(KeyValueHeads);
            if (HeadDim is int d) Range("head_dim", d, 1, MaxDimension);
            else if (HiddenSize % NumAttentionHeads != 0)
                throw new ConfigException($"{where}: num_attention_heads must divide hidden_size ({HiddenSize}) when head_dim is not given (got {NumAttentionHeads})");
        }
        if (IsMoe)
        {
            int n = NRoutedExperts!.Value;
            Range("n_routed_experts", n, 1, MaxDimension);
            Range("num_experts_per_tok", NumExpertsPerTok, 1, n, $"1..n_routed_experts ({n})");
            Range("n_shared_experts", NSharedExperts, 0, MaxDimension);
            Range("moe_intermediate_size", MoeIntermediateSize, 1, 1 << 20);
            Range("first_k_dense_replace", FirstKDenseReplace, 0, NumHiddenLayers, $"0..num_hidden_layers ({NumHiddenLayers})");
            if (ScoringFunc is not ("sigmoid" or "softmax"))
                throw new ConfigException($"{where}: scoring_func must be one of sigmoid, softmax (got '{ScoringFunc}')");
            if (!double.IsFinite(RoutedScalingFactor) || RoutedScalingFactor <= 0)
                throw new ConfigException($"{where}: routed_scaling_factor must be a finite number > 0 (got {RoutedScalingFactor})");
            int groups = NGroup ?? 1;
            if (groups < 1 || n % groups != 0)
                throw new ConfigException($"{where}: n_group must divide n_routed_experts ({n}): allowed {string.Join(", ", Enumerable.Range(1, n).Where(g => n % g == 0))} (got {groups})");
            Range("topk_group", TopkGroup ?? groups, 1, groups, $"1..n_group ({groups})");
            if (NumExpertsPerTok > (TopkGroup ?? groups) * (n / groups))
                throw new ConfigException($"{where}: num_experts_per_tok ({NumExpertsPerTok}) exceeds the experts of the topk_group kept groups ({(TopkGroup ?? groups) * (n / groups)})");
            if (MoeLayerFreq != 1)
                throw new ConfigException($"{where}: moe_layer_freq must be 1, every layer after the dense ones being MoE, the only layout the calculator counts (got {MoeLayerFreq})");
        }
        if (Source is null) throw new ConfigException($"{where}: source must be a string (use \"\" when unknown)");
        if (!(RopeTheta > 1 && double.IsFinite(RopeTheta)))
            throw new ConfigException($"{where}: rope_theta must be a finite number > 1 (got {RopeTheta})");
        if (!(RmsNormEps > 0 && RmsNormEps < 1))
            throw new ConfigException($"{where}: rms_norm_eps must be in (0, 1) (got {RmsNormEps})");
        if (!(InitializerRange > 0 && InitializerRange <= 1))
            throw new ConfigException($"{where}: initializer_range must be in (0, 1] (got {InitializerRange})");
        return this;

        void Range(string field, int value, int min, int max, string? range = null)
        {
            if (value < min || value > max)
                throw new ConfigException($"{where}: {field} must be in {range ?? $"{min}..{max}"} (got {value})");
        }

        void DividesHeads(int kvHeads)
        {
            if (kvHeads < 1 || kvHeads > NumAttentionHeads || NumAttentionHeads % kvHeads != 0)
                throw new ConfigException($"{where}: num_key_value_heads must divide num_attention_heads ({NumAttentionHeads}): allowed " +
                    $"{string.Join(", ", Enumerable.Range(1, NumAttentionHeads).Where(d => NumAttentionHeads % d == 0))} (got {kvHeads})");
        }
    }

    /// <summary>Parameters the built model holds: the main model and its MTP depths' own (the accounting's count).</summary>
    public double ParameterEstimate()
    {
        var count = Research.Accounting.ParameterCounting.Count(this);
        return (double)count.Total + count.Mtp.Unique;
    }

    /// <summary>Refuses a model whose AdamW training state (weights, gradients and the two moments: 4 floats per
    /// parameter) exceeds <see cref="MemoryLimit"/>; <paramref name="owner"/> names the config in the message.</summary>
    public void CheckTrainingMemory(string owner)
    {
        double parameters = ParameterEstimate();
        MemoryLimit.Check(owner, $"hidden_size {HiddenSize} × num_hidden_layers {NumHiddenLayers} (intermediate_size {IntermediateSize}): " +
            $"{parameters:G3} parameters × 4 (weights, gradients, AdamW's two moments)", 4.0 * MemoryLimit.Float32 * parameters);
    }

    /// <summary>
    /// Floats one forward over <paramref name="rows"/> sequences of <paramref name="length"/> tokens keeps for backward:
    /// per token the V logits and per block about 6·d (norms, q, k, v, output), 3 × the feed-forward width a token
    /// passes through (SwiGLU; an MoE layer's routed + shared experts) and n_h·length attention scores.
    /// </summary>
    public double ActivationFloats(double rows, int length)
    {
        double ffn = IsMoe ? Math.Max(IntermediateSize, ActiveExpertWidth) : IntermediateSize;
        return rows * length * (VocabSize + NumHiddenLayers * (6.0 * HiddenSize + 3.0 * ffn + (double)NumAttentionHeads * length));
    }

    /// <summary>The model's attention as the KV-cache calculator sees it (DeepSeek-V2 Table 1): MLA caches
    /// (d_c + d_h^R) per layer; a dense model MHA, MQA or GQA by its key/value heads.</summary>
    public KvCacheModel ToKvCacheModel()
    {
        Validated();
        if (IsMla)
            return new KvCacheModel(Name, AttentionKind.Mla, NumHiddenLayers, NumAttentionHeads, NumKeyValueHeads ?? NumAttentionHeads,
                QkNopeHeadDim, ContextLimit, KvLoraRank!.Value, QkRopeHeadDim, Source).Validated();
        var kind = KeyValueHeads == NumAttentionHeads ? AttentionKind.Mha : KeyValueHeads == 1 ? AttentionKind.Mqa : AttentionKind.Gqa;
        return new KvCacheModel(Name, kind, NumHiddenLayers, NumAttentionHeads, KeyValueHeads, DenseHeadDim, ContextLimit, Source: Source).Validated();
    }
}

using Research.Accounting;
using Research.Data;
using Research.Experiments;
using Research.Moe;
using Research.Mtp;
using Research.Training;

namespace Research.V3Mini;

/// <summary>
/// Config of <c>v3-mini</c>: the full miniature and one ablation per technique, trained on the four-domain corpus at
/// the same steps, batches and seed. <see cref="Model"/> is the <see cref="ModelConfig"/> record the accounting reads
/// (in this JSON file its fields are camelCase: <c>kvLoraRank</c> for config.json's <c>kv_lora_rank</c>).
/// </summary>
public sealed record V3MiniExperimentConfig
{
    public ModelConfig Model { get; init; } = DeepSeekMiniConfig.TinyV3;

    /// <summary>1×T tiles and T×T blocks of the FP8 GEMMs; null: V3's 128 scaled down (see <see cref="DeepSeekMiniConfig.Fp8Tile"/>).</summary>
    public int? Fp8Tile { get; init; }

    public MultiDomainCorpusConfig Corpus { get; init; } = new(SequenceLength: 64);

    public TrainerConfig Training { get; init; } = new(Steps: 120, LearningRate: 3e-3, WarmupSteps: 12, LogEvery: 20);

    public int BatchSize { get; init; } = 16;

    public int ValidationBatches { get; init; } = 6;

    /// <summary>The runs, by name (<see cref="V3MiniAblations.Names"/>); "full" is the reference and must be listed.</summary>
    public IReadOnlyList<string> Runs { get; init; } = V3MiniAblations.Names;

    /// <summary>Key/value heads of the "gqa" ablation (must divide the heads).</summary>
    public int GqaKeyValueHeads { get; init; } = 2;

    /// <summary>α of the expert-level auxiliary loss in the "aux-loss" ablation (DeepSeek-V2's α₁ = 0.003).</summary>
    public double AuxLossAlpha { get; init; } = 0.003;

    /// <summary>λ of the MTP loss, then its final value for the last <see cref="MtpConfig.V3FinalFraction"/> of the steps (V3: 0.3, 0.1).</summary>
    public double Lambda { get; init; } = 0.3;

    public double FinalLambda { get; init; } = 0.1;

    /// <summary>Validation sequences whose first <see cref="DecodePromptLength"/> tokens each model decodes from.</summary>
    public int DecodePrompts { get; init; } = 3;

    public int DecodePromptLength { get; init; } = 16;

    public int DecodeTokens { get; init; } = 40;

    public int Seed { get; init; }

    /// <summary>Seeds the full model is trained again with, for the noise.</summary>
    public IReadOnlyList<int> NoiseSeeds { get; init; } = [1];

    /// <summary>The full miniature's config.</summary>
    public DeepSeekMiniConfig Full => new(Model, Fp8: true, Fp8Tile);

    public V3MiniExperimentConfig Validated()
    {
        const string me = nameof(V3MiniExperimentConfig);
        if (Model is null) throw new ConfigException($"{me}.Model must be a model config");
        Corpus.Validated();
        Training.Validated();
        if (Model.VocabSize != MultiDomainCorpus.VocabularySize)
            throw new ConfigException($"{me}.Model.VocabSize must be the corpus vocabulary size {MultiDomainCorpus.VocabularySize} (got {Model.VocabSize})");
        if (Model.MaxPositionEmbeddings < Corpus.SequenceLength)
            throw new ConfigException($"{me}.Model.MaxPositionEmbeddings ({Model.MaxPositionEmbeddings}) must be ≥ Corpus.SequenceLength ({Corpus.SequenceLength})");
        if (!Model.IsMla || !Model.IsMoe)
            throw new ConfigException($"{me}.Model must be V3-shaped: kv_lora_rank and n_routed_experts set (the ablations take MLA and MoE away)");
        if (Model.NumNextnPredictLayers < 1)
            throw new ConfigException($"{me}.Model.NumNextnPredictLayers must be ≥ 1 (the no-mtp ablation takes it away) (got {Model.NumNextnPredictLayers})");
        if (Runs is null || Runs.Count == 0)
            throw new ConfigException($"{me}.Runs must list at least one run; allowed {string.Join(", ", V3MiniAblations.Names)}");
        // One run alone is what a sweep arm runs (the sweep compares arms); comparisons within a run need the reference.
        if ((Runs.Count > 1 || NoiseSeeds is { Count: > 0 }) && !Runs.Contains(V3MiniAblations.FullName))
            throw new ConfigException($"{me}.Runs must list \"{V3MiniAblations.FullName}\", the reference, when it lists several runs or NoiseSeeds; allowed {string.Join(", ", V3MiniAblations.Names)}");
        foreach (var run in Runs)
            if (!V3MiniAblations.Names.Contains(run))
                throw new ConfigException($"{me}.Runs: unknown run '{run}'; allowed {string.Join(", ", V3MiniAblations.Names)}");
        if (Runs.Distinct().Count() != Runs.Count) throw new ConfigException($"{me}.Runs lists a run twice");
        if (GqaKeyValueHeads < 1 || Model.NumAttentionHeads % GqaKeyValueHeads != 0)
            throw new ConfigException($"{me}.GqaKeyValueHeads must divide Model.NumAttentionHeads ({Model.NumAttentionHeads}) (got {GqaKeyValueHeads})");
        if (!double.IsFinite(AuxLossAlpha) || AuxLossAlpha <= 0) throw new ConfigException($"{me}.AuxLossAlpha must be a finite number > 0 (got {AuxLossAlpha})");
        new MtpConfig(Model.NumNextnPredictLayers, Lambda, FinalLambda).Validated();
        if (BatchSize is < 1 or > 4096) throw new ConfigException($"{me}.BatchSize must be in 1..4096 (got {BatchSize})");
        if (ValidationBatches is < 1 or > 1000) throw new ConfigException($"{me}.ValidationBatches must be in 1..1000 (got {ValidationBatches})");
        if (DecodePrompts < 1 || DecodePrompts > ValidationBatches * BatchSize)
            throw new ConfigException($"{me}.DecodePrompts must be in 1..{ValidationBatches * BatchSize} (ValidationBatches × BatchSize) (got {DecodePrompts})");
        if (DecodePromptLength < 2 || DecodePromptLength > Corpus.SequenceLength)
            throw new ConfigException($"{me}.DecodePromptLength must be in 2..Corpus.SequenceLength ({Corpus.SequenceLength}) (got {DecodePromptLength})");
        if (DecodeTokens < 2 || DecodePromptLength + DecodeTokens + 1 > Model.MaxPositionEmbeddings)
            throw new ConfigException($"{me}.DecodeTokens must be in 2..{Model.MaxPositionEmbeddings - DecodePromptLength - 1} (Model.MaxPositionEmbeddings − DecodePromptLength − 1) (got {DecodeTokens})");
        ExperimentConfigs.CheckSeeds(me, Seed, NoiseSeeds);
        foreach (var run in Runs) V3MiniAblations.Of(run, this).Validated();
        return this;
    }
}

/// <summary>The full miniature and its ablations, each one technique swapped out.</summary>
public static class V3MiniAblations
{
    public const string FullName = "full";

    public static IReadOnlyList<string> Names { get; } = [FullName, "dense-ffn", "mha", "gqa", "fp32", "no-mtp", "aux-loss"];

    /// <summary>What each run swaps out.</summary>
    public static string Describe(string name) => name switch
    {
        FullName => "MLA, DeepSeekMoE with the bias and the sequence-wise loss, one MTP depth, FP8 GEMMs",
        "dense-ffn" => "a dense SwiGLU of the routed + shared experts' activated width in every layer",
        "mha" => "multi-head attention, parameters matched through the dense layer's width",
        "gqa" => "grouped-query attention, parameters matched through the dense layer's width",
        "fp32" => "FP32 GEMMs",
        "no-mtp" => "no MTP depth",
        "aux-loss" => "an expert-level auxiliary loss instead of the bias and the sequence-wise loss",
        _ => throw new ConfigException($"unknown v3-mini run '{name}'; allowed {string.Join(", ", Names)}"),
    };

    /// <summary>The model config of run <paramref name="name"/>.</summary>
    public static DeepSeekMiniConfig Of(string name, V3MiniExperimentConfig config)
    {
        var full = config.Full;
        var m = full.Model;
        return name switch
        {
            FullName => full,
            "dense-ffn" => full with
            {
                Model = m with { NRoutedExperts = null, TopkMethod = null, IntermediateSize = (m.NumExpertsPerTok + m.NSharedExperts) * m.MoeIntermediateSize },
                Balancing = BalancingConfig.None,
            },
            "mha" => Matched(full, m with { KvLoraRank = null, QLoraRank = null, NumKeyValueHeads = m.NumAttentionHeads }),
            "gqa" => Matched(full, m with { KvLoraRank = null, QLoraRank = null, NumKeyValueHeads = config.GqaKeyValueHeads }),
            "fp32" => full with { Fp8 = false },
            "no-mtp" => full with { Model = m with { NumNextnPredictLayers = 0 } },
            "aux-loss" => full with { Model = m with { TopkMethod = "greedy" }, Balancing = new BalancingConfig(AuxLossAlpha: config.AuxLossAlpha) },
            _ => throw new ConfigException($"unknown v3-mini run '{name}'; allowed {string.Join(", ", Names)}"),
        };
    }

    // The dense layers' SwiGLU width absorbs the attention's parameter difference (3·d per unit of width and layer),
    // so the ablation holds as many parameters as the full model, to the nearest unit.
    private static DeepSeekMiniConfig Matched(DeepSeekMiniConfig full, ModelConfig ablated)
    {
        long target = Stored(full.Model), have = Stored(ablated);
        long perUnit = 3L * ablated.HiddenSize * ablated.DenseLayers;
        if (perUnit == 0) return full with { Model = ablated };
        int width = (int)Math.Max(1, ablated.IntermediateSize + Math.Round((double)(target - have) / perUnit));
        return full with { Model = ablated with { IntermediateSize = width } };
    }

    private static long Stored(ModelConfig c)
    {
        var count = ParameterCounting.Count(c);
        return count.Total + count.Mtp.Unique;
    }
}

using Research.Models;
using Research.Accounting;
using Research.Data;
using Research.Experiments;
using Research.Fp8;
using Research.Moe;
using Research.Mtp;
using Research.Training;

namespace Research.V3Mini;

/// <summary>
/// Config of <c>v3-mini</c>: the full miniature and one ablation per technique, trained on the four-domain corpus at
/// the same steps, batches and seed. <see cref="Model"/> is the <see cref="ModelConfig"/> record the accounting reads
/// (in this JSON file its fields are camelCase: <c>kvLoraRank</c> for config.json's <c>kv_lora_rank</c>).
/// </summary>
public sealed record V3MiniExperimentConfig : IExperimentConfig<V3MiniExperimentConfig>
{
    public ModelConfig Model { get; init; } = ModelConfig.DeepSeekMini;

    /// <summary>1×T tiles and T×T blocks of the FP8 GEMMs; null: V3's 128 scaled down (see <see cref="V3Fp8.Tile"/>).</summary>
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

    /// <summary>The seeds to run (JSON <c>seeds</c>); each is the root of every generator one run draws from.</summary>
    public IReadOnlyList<int> Seeds { get; init; } = [0];

    /// <summary>The full miniature: <see cref="Model"/> with every block GEMM on V3's FP8 recipe (<see cref="V3Fp8"/>).</summary>
    public ModelConfig Full => Model with { Fp8 = V3Fp8.Recipe(Model, Fp8Tile) };

    public V3MiniExperimentConfig WithSeeds(IReadOnlyList<int> seeds) => this with { Seeds = seeds };

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
        if (Runs.Count > 1 && !Runs.Contains(V3MiniAblations.FullName))
            throw new ConfigException($"{me}.Runs must list \"{V3MiniAblations.FullName}\", the reference, when it lists several runs; allowed {string.Join(", ", V3MiniAblations.Names)}");
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
        Model.CheckTrainingMemory($"{me}.Model");
        MemoryLimit.Check(me, $"BatchSize {BatchSize} × sequence {Corpus.SequenceLength} activations of the model and its MTP depths",
            MemoryLimit.Float32 * (Model with { NumHiddenLayers = Model.NumHiddenLayers + Model.NumNextnPredictLayers }).ActivationFloats(BatchSize, Corpus.SequenceLength));
        V3Fp8.CheckTile(Model, Fp8Tile);
        foreach (var run in Runs) V3MiniAblations.Of(run, this).Buildable();
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
    public static ModelConfig Of(string name, V3MiniExperimentConfig config)
    {
        var m = config.Full;
        return name switch
        {
            FullName => m,
            "dense-ffn" => m with
            {
                NRoutedExperts = null, TopkMethod = null, IntermediateSize = m.ActiveExpertWidth,
                Balancing = BalancingConfig.None,
            },
            "mha" => Matched(m, m with { KvLoraRank = null, QLoraRank = null, NumKeyValueHeads = m.NumAttentionHeads }),
            "gqa" => Matched(m, m with { KvLoraRank = null, QLoraRank = null, NumKeyValueHeads = config.GqaKeyValueHeads }),
            "fp32" => m with { Fp8 = null },
            "no-mtp" => m with { NumNextnPredictLayers = 0 },
            "aux-loss" => m with { TopkMethod = "greedy", Balancing = new BalancingConfig(AuxLossAlpha: config.AuxLossAlpha) },
            _ => throw new ConfigException($"unknown v3-mini run '{name}'; allowed {string.Join(", ", Names)}"),
        };
    }

    // The dense layers' SwiGLU width absorbs the attention's parameter difference (3·d per unit of width and layer),
    // so the ablation holds as many parameters as the full model, to the nearest unit.
    private static ModelConfig Matched(ModelConfig full, ModelConfig ablated)
    {
        long target = Stored(full), have = Stored(ablated);
        long perUnit = 3L * ablated.HiddenSize * ablated.DenseLayers;
        if (perUnit == 0) return ablated;
        int width = (int)Math.Max(1, ablated.IntermediateSize + Math.Round((double)(target - have) / perUnit));
        return ablated with { IntermediateSize = width };
    }

    private static long Stored(ModelConfig c)
    {
        var count = ParameterCounting.Count(c);
        return count.Total + count.Mtp.Unique;
    }
}

/// <summary>
/// V3's FP8 recipe (E4M3 throughout, §3.3.2) at toy widths: 1×T activation and gradient tiles and T×T weight blocks,
/// where V3's T = 128 is scaled down to the largest power of two dividing the inner width K of every GEMM of a block,
/// so no tile straddles two weight blocks' worth of K.
/// </summary>
public static class V3Fp8
{
    /// <summary>V3's tile and block edge.</summary>
    public const int V3Tile = 128;

    /// <summary>Every GEMM of one block: its name and inner width K (the dimension tiles and blocks cut).</summary>
    public static IReadOnlyList<(string Gemm, int K)> GemmInnerWidths(ModelConfig c)
    {
        var list = new List<(string, int)>();
        if (c.IsMla)
        {
            list.Add((c.QLoraRank is null ? "wq (hidden_size)" : "wq_a (hidden_size)", c.HiddenSize));
            if (c.QLoraRank is int q) list.Add(("wq_b (q_lora_rank)", q));
            list.Add(("wkv_a (hidden_size)", c.HiddenSize));
            list.Add(("wkv_b (kv_lora_rank)", c.KvLoraRank!.Value));
            list.Add(("wo (num_attention_heads × v_head_dim)", c.NumAttentionHeads * c.VHeadDim));
        }
        else
        {
            list.Add(("wq/wk/wv (hidden_size)", c.HiddenSize));
            list.Add(("wo (num_attention_heads × head_dim)", c.NumAttentionHeads * c.DenseHeadDim));
        }
        if (c.DenseLayers > 0)
        {
            list.Add(("dense w1/w3 (hidden_size)", c.HiddenSize));
            list.Add(("dense w2 (intermediate_size)", c.IntermediateSize));
        }
        if (c.IsMoe)
        {
            list.Add(("expert w1/w3 (hidden_size)", c.HiddenSize));
            list.Add(("expert w2 (moe_intermediate_size)", c.MoeIntermediateSize));
            if (c.NSharedExperts > 0) list.Add(("shared w2 (n_shared_experts × moe_intermediate_size)", c.NSharedExperts * c.MoeIntermediateSize));
        }
        return list;
    }

    /// <summary>T: <paramref name="tile"/>, or V3's 128 halved until it divides every inner width.</summary>
    public static int Tile(ModelConfig c, int? tile = null)
    {
        if (tile is int t) return t;
        var widths = GemmInnerWidths(c);
        int edge = V3Tile;
        while (edge > 1 && widths.Any(w => w.K % edge != 0)) edge /= 2;
        return edge;
    }

    /// <summary>V3's recipe with 1×T tiles and T×T blocks for the GEMMs of <paramref name="c"/>.</summary>
    public static Fp8TrainingRecipe Recipe(ModelConfig c, int? tile = null)
    {
        int t = Tile(c, tile);
        return Fp8TrainingRecipe.DeepSeekV3 with
        {
            Activations = new ScalingConfig(Granularity.Tile, TileSize: t),
            Weights = new ScalingConfig(Granularity.Block, BlockSize: t),
            Gradients = new ScalingConfig(Granularity.Tile, TileSize: t),
        };
    }

    /// <summary>Refuses a <paramref name="tile"/> that does not divide the inner width of every GEMM, naming the allowed ones.</summary>
    public static void CheckTile(ModelConfig c, int? tile)
    {
        if (tile is not int t) return;
        var widths = GemmInnerWidths(c);
        var misfit = widths.FirstOrDefault(w => t < 1 || w.K % t != 0);
        if (misfit.Gemm is null) return;
        int gcd = widths.Select(w => w.K).Aggregate(Gcd);
        throw new ConfigException($"V3MiniExperimentConfig: fp8Tile must divide the inner width of every GEMM ({misfit.Gemm} = {misfit.K}); " +
            $"allowed {string.Join(", ", Enumerable.Range(1, gcd).Where(d => gcd % d == 0))} (got {t})");

        static int Gcd(int a, int b) => b == 0 ? a : Gcd(b, a % b);
    }
}

using Research.Data;
using Research.Experiments;
using Research.Models;
using Research.Training;

namespace Research.Moe;

/// <summary>One arm of <c>moe-balance</c>: a name and the balancing it trains with (see <see cref="BalancingConfig"/>).</summary>
public sealed record MoeBalanceStrategy(string Name, double AuxLossAlpha = 0, double SequenceAuxLossAlpha = 0, double BiasUpdateSpeed = 0)
{
    public BalancingConfig Balancing => new(AuxLossAlpha, SequenceAuxLossAlpha, BiasUpdateSpeed);

    public MoeBalanceStrategy Validated(string where)
    {
        if (string.IsNullOrWhiteSpace(Name)) throw new ConfigException($"{where}.Name must be a non-empty name");
        try { Balancing.Validated(); }
        catch (ConfigException e) { throw new ConfigException($"{where}: {e.Message}", e); }
        return this;
    }
}

/// <summary>
/// Config of <c>moe-balance</c>: the kit's tiny LM with DeepSeekMoE feed-forward layers, trained on the multi-domain
/// corpus once per balancing strategy with the same initial weights, batches and steps.
/// </summary>
public sealed record MoeBalanceConfig : IExperimentConfig<MoeBalanceConfig>
{
    public MultiDomainCorpusConfig Corpus { get; init; } = new();

    /// <summary>The LM around the MoE layers (<see cref="ModelConfig.IntermediateSize"/> is unused: every block's FFN is an MoE layer).</summary>
    public ModelConfig Model { get; init; } = new(VocabSize: MultiDomainCorpus.VocabularySize, HiddenSize: 64, NumHiddenLayers: 2, NumAttentionHeads: 4, IntermediateSize: 96, MaxPositionEmbeddings: 64);

    /// <summary>The gate: 16 routed experts, 2 per token, sigmoid, normalised (the V3 gate at toy scale).</summary>
    public RouterConfig Router { get; init; } = new(16, 2);

    public int ExpertHidden { get; init; } = 32;
    public int SharedExperts { get; init; } = 1;
    public TrainerConfig Training { get; init; } = new(Steps: 600, LearningRate: 3e-3, WarmupSteps: 30, LogEvery: 50);

    /// <summary>Sequences per training batch.</summary>
    public int BatchSize { get; init; } = 16;

    /// <summary>Batches of <see cref="BatchSize"/> held out for validation loss and MaxVio_global.</summary>
    public int ValidationBatches { get; init; } = 8;

    public IReadOnlyList<MoeBalanceStrategy> Strategies { get; init; } =
    [
        new("none"),
        new("aux-loss", AuxLossAlpha: 0.01),
        new("seq-aux-loss", SequenceAuxLossAlpha: 0.01),
        new("aux-loss-free", BiasUpdateSpeed: 0.001),
        new("aux-loss-free+seq", SequenceAuxLossAlpha: 0.0001, BiasUpdateSpeed: 0.001),
    ];

    /// <summary>The seeds to run (JSON <c>seeds</c>); each is the root of every generator one run draws from.</summary>
    public IReadOnlyList<int> Seeds { get; init; } = [0];

    public MoeBalanceConfig WithSeeds(IReadOnlyList<int> seeds) => this with { Seeds = seeds };

    public MoeBalanceConfig Validated()
    {
        Corpus.Validated();
        Model.Buildable();
        Router.Validated();
        Training.Validated();
        if (Model.VocabSize != MultiDomainCorpus.VocabularySize)
            throw new ConfigException($"MoeBalanceConfig.Model.VocabSize must be the corpus vocabulary size {MultiDomainCorpus.VocabularySize} (got {Model.VocabSize})");
        if (Model.MaxPositionEmbeddings < Corpus.SequenceLength)
            throw new ConfigException($"MoeBalanceConfig.Model.MaxPositionEmbeddings ({Model.MaxPositionEmbeddings}) must be ≥ Corpus.SequenceLength ({Corpus.SequenceLength})");
        if (BatchSize is < 1 or > 4096) throw new ConfigException($"MoeBalanceConfig.BatchSize must be in 1..4096 (got {BatchSize})");
        if (ValidationBatches is < 1 or > 1000) throw new ConfigException($"MoeBalanceConfig.ValidationBatches must be in 1..1000 (got {ValidationBatches})");
        if (Strategies is null || Strategies.Count == 0) throw new ConfigException("MoeBalanceConfig.Strategies must list at least one strategy");
        for (int i = 0; i < Strategies.Count; i++) Strategies[i].Validated($"MoeBalanceConfig.Strategies[{i}]");
        var duplicate = Strategies.GroupBy(s => s.Name).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new ConfigException($"MoeBalanceConfig.Strategies: the name '{duplicate.Key}' is used twice");
        foreach (var strategy in Strategies) Layer(strategy).Buildable();
        var layer = Layer(Strategies[0]);
        layer.CheckTrainingMemory("MoeBalanceConfig.Model");
        MemoryLimit.Check("MoeBalanceConfig", $"BatchSize {BatchSize} × sequence {Corpus.SequenceLength} activations of the model",
            MemoryLimit.Float32 * layer.ActivationFloats(BatchSize, Corpus.SequenceLength));
        return this;
    }

    /// <summary>The MoE layer of every block under <paramref name="strategy"/>.</summary>
    public ModelConfig Layer(MoeBalanceStrategy strategy) => Model.WithGate(Router) with
    {
        MoeIntermediateSize = ExpertHidden, NSharedExperts = SharedExperts, FirstKDenseReplace = 0,
        TopkMethod = ModelConfig.AuxLossFreeTopk, Balancing = strategy.Balancing,   // every kit gate keeps its bias as a buffer
    };
}

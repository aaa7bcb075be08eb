using Research.Data;
using Research.Experiments;
using Research.Models;
using Research.Training;

namespace Research.Mla;

/// <summary>
/// One arm of <c>mla-quality</c>: an attention mechanism of DeepSeek-V2 Table 1 and its sizes, in config.json's names.
/// Fields a kind does not use stay unset.
/// </summary>
/// <param name="Name">Label in tables and charts.</param>
/// <param name="Kind">mha, gqa, mqa or mla.</param>
/// <param name="NumKeyValueHeads">n_g, the key/value heads of GQA (must divide n_h); unset for the others (n_h for MHA, 1 for MQA).</param>
/// <param name="KvLoraRank">d_c of MLA, the width of the cached latent c^KV.</param>
/// <param name="QkRopeHeadDim">d_h^R of MLA, the decoupled RoPE width (even); unset: the model's.</param>
/// <param name="QLoraRank">d'_c of MLA; unset = no query compression (as V2-Lite).</param>
public sealed record MlaQualityVariant(string Name, AttentionKind Kind, int? NumKeyValueHeads = null, int? KvLoraRank = null,
    int? QkRopeHeadDim = null, int? QLoraRank = null)
{
    /// <summary>n_g of the MHA/GQA/MQA kinds for a model with <paramref name="heads"/> query heads; 0 for MLA.</summary>
    public int KeyValueHeads(int heads) => Kind switch
    {
        AttentionKind.Mha => heads,
        AttentionKind.Mqa => 1,
        AttentionKind.Gqa => NumKeyValueHeads ?? 0,
        _ => 0,
    };

    /// <summary>This variant, or a <see cref="ConfigException"/> naming <paramref name="where"/> and the field.</summary>
    public MlaQualityVariant Validated(string where, ModelConfig model)
    {
        if (string.IsNullOrWhiteSpace(Name)) throw new ConfigException($"{where}.Name must be a non-empty name");
        if (!Enum.IsDefined(Kind)) throw new ConfigException($"{where}.Kind must be mha, gqa, mqa or mla (got {Kind})");
        string kind = Kind.ToString().ToLowerInvariant();
        void Unused(int? value, string field)
        {
            if (value is not null) throw new ConfigException($"{where}.{field} is not used by kind {kind}; leave it out (got {value})");
        }
        if (Kind == AttentionKind.Mla)
        {
            Unused(NumKeyValueHeads, nameof(NumKeyValueHeads));
            if (KvLoraRank is null) throw new ConfigException($"{where}.KvLoraRank (d_c) must be set for kind mla");
        }
        else
        {
            Unused(KvLoraRank, nameof(KvLoraRank));
            Unused(QkRopeHeadDim, nameof(QkRopeHeadDim));
            Unused(QLoraRank, nameof(QLoraRank));
            int own = KeyValueHeads(model.NumAttentionHeads);
            if (Kind == AttentionKind.Gqa && NumKeyValueHeads is null)
                throw new ConfigException($"{where}.NumKeyValueHeads (n_g) must be set for kind gqa");
            if (Kind != AttentionKind.Gqa && NumKeyValueHeads is int g && g != own)
                throw new ConfigException($"{where}.NumKeyValueHeads (n_g) of kind {kind} is {own}; leave it out (got {g})");
        }
        // The sizes themselves are the model's to check (ranges, RoPE pairs, d_c ≤ hidden_size, n_g divides n_h).
        try { MlaQualityExperiment.Of(model, this).Buildable(); }
        catch (ConfigException e) { throw new ConfigException($"{where}: {e.Message}", e); }
        return this;
    }
}

/// <summary>
/// Config of <c>mla-quality</c>: the kit's tiny LM trained on the multi-domain corpus once per attention variant, with
/// the same seed, batches and steps and (nearly) the same number of parameters, as DeepSeek-V2 App. D compares MHA,
/// GQA, MQA and MLA at equal architecture. Every variant's feed-forward width is set so its total parameter count
/// matches the MHA model with <see cref="ModelConfig.IntermediateSize"/> of <see cref="Model"/> (see
/// <see cref="MlaQualityExperiment.MatchedFfnHidden"/>).
/// </summary>
public sealed record MlaQualityConfig : IExperimentConfig<MlaQualityConfig>
{
    public MultiDomainCorpusConfig Corpus { get; init; } = new();

    /// <summary>The LM every variant shares: d = 64, 2 layers, n_h = 4 heads of d_h = 16. Its intermediate_size sets the
    /// parameter budget (the MHA model's count); each variant gets its own matched width.</summary>
    public ModelConfig Model { get; init; } = new(VocabSize: MultiDomainCorpus.VocabularySize, HiddenSize: 64, NumHiddenLayers: 2, NumAttentionHeads: 4, IntermediateSize: 172, MaxPositionEmbeddings: 64);

    public TrainerConfig Training { get; init; } = new(Steps: 400, LearningRate: 3e-3, WarmupSteps: 30, LogEvery: 25);

    /// <summary>Sequences per training batch.</summary>
    public int BatchSize { get; init; } = 16;

    /// <summary>Batches of <see cref="BatchSize"/> held out for the validation loss.</summary>
    public int ValidationBatches { get; init; } = 8;

    /// <summary>
    /// The arms. "mla" has d_c = 2·d_h and d_h^R = d_h/2, a cache between MQA's and GQA's as V2 Table 1 places MLA
    /// ("GQA with 2.25 groups" at V2's sizes); "mla-dc64" has V2's own ratio d_c = 4·d_h, a cache between GQA's and MHA's
    /// at these four heads (V2's 128 heads make 4·d_h a much smaller share of MHA's 2·n_h·d_h).
    /// </summary>
    public IReadOnlyList<MlaQualityVariant> Variants { get; init; } =
    [
        new("mha", AttentionKind.Mha),
        new("gqa-2", AttentionKind.Gqa, NumKeyValueHeads: 2),
        new("mqa", AttentionKind.Mqa),
        new("mla", AttentionKind.Mla, KvLoraRank: 32, QkRopeHeadDim: 8),
        new("mla-dc64", AttentionKind.Mla, KvLoraRank: 64, QkRopeHeadDim: 8),
    ];

    /// <summary>Largest allowed |parameters − budget| / budget of any variant after matching.</summary>
    public double ParameterTolerance { get; init; } = 0.01;

    /// <summary>Validation prompts each trained model decodes greedily, with and without its KV cache.</summary>
    public int DecodePrompts { get; init; } = 4;

    /// <summary>Tokens of each decoding prompt (taken from the start of a validation sequence).</summary>
    public int DecodePromptLength { get; init; } = 16;

    /// <summary>Tokens generated per prompt; prompt + new tokens must fit <see cref="ModelConfig.MaxPositionEmbeddings"/>.</summary>
    public int DecodeTokens { get; init; } = 24;

    /// <summary>The seeds to run (JSON <c>seeds</c>); each is the root of every generator one run draws from.</summary>
    public IReadOnlyList<int> Seeds { get; init; } = [0];

    /// <summary>
    /// Extra seeds the first variant is trained with again (new initial weights and batches, the same validation set),
    /// so the run measures its own seed-to-seed noise to set the variants' differences against. Empty = none.
    /// </summary>

    public MlaQualityConfig WithSeeds(IReadOnlyList<int> seeds) => this with { Seeds = seeds };

    public MlaQualityConfig Validated()
    {
        Corpus.Validated();
        Model.Buildable();
        Training.Validated();
        if (Model.VocabSize != MultiDomainCorpus.VocabularySize)
            throw new ConfigException($"MlaQualityConfig.Model.VocabSize must be the corpus vocabulary size {MultiDomainCorpus.VocabularySize} (got {Model.VocabSize})");
        if (Model.MaxPositionEmbeddings < Corpus.SequenceLength)
            throw new ConfigException($"MlaQualityConfig.Model.MaxPositionEmbeddings ({Model.MaxPositionEmbeddings}) must be ≥ Corpus.SequenceLength ({Corpus.SequenceLength})");
        if (BatchSize is < 1 or > 4096) throw new ConfigException($"MlaQualityConfig.BatchSize must be in 1..4096 (got {BatchSize})");
        if (ValidationBatches is < 1 or > 1000) throw new ConfigException($"MlaQualityConfig.ValidationBatches must be in 1..1000 (got {ValidationBatches})");
        if (Variants is null || Variants.Count == 0) throw new ConfigException("MlaQualityConfig.Variants must list at least one variant");
        for (int i = 0; i < Variants.Count; i++) Variants[i].Validated($"MlaQualityConfig.Variants[{i}]", Model);
        var duplicate = Variants.GroupBy(v => v.Name).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new ConfigException($"MlaQualityConfig.Variants: the name '{duplicate.Key}' is used twice");
        if (!(ParameterTolerance > 0 && ParameterTolerance < 1))
            throw new ConfigException($"MlaQualityConfig.ParameterTolerance must be in (0, 1) (got {ParameterTolerance})");
        if (DecodePrompts is < 1 or > 1000) throw new ConfigException($"MlaQualityConfig.DecodePrompts must be in 1..1000 (got {DecodePrompts})");
        if (DecodePrompts > ValidationBatches * BatchSize)
            throw new ConfigException($"MlaQualityConfig.DecodePrompts ({DecodePrompts}) must be ≤ ValidationBatches × BatchSize ({ValidationBatches * BatchSize}), the validation sequences");
        if (DecodePromptLength < 1 || DecodePromptLength > Corpus.SequenceLength)
            throw new ConfigException($"MlaQualityConfig.DecodePromptLength must be in 1..Corpus.SequenceLength ({Corpus.SequenceLength}) (got {DecodePromptLength})");
        if (DecodeTokens < 1 || DecodePromptLength + DecodeTokens > Model.MaxPositionEmbeddings)
            throw new ConfigException($"MlaQualityConfig.DecodeTokens must be in 1..{Model.MaxPositionEmbeddings - DecodePromptLength} (Model.MaxSequence − DecodePromptLength) (got {DecodeTokens})");
        // The largest tensors: the model's training state and a batch through it (MHA's full keys and values at most).
        Model.CheckTrainingMemory("MlaQualityConfig.Model");
        MemoryLimit.Check("MlaQualityConfig", $"BatchSize {BatchSize} × sequence {Corpus.SequenceLength} activations of the model",
            MemoryLimit.Float32 * Model.ActivationFloats(BatchSize, Corpus.SequenceLength));
        return this;
    }
}

using Research.Data;
using Research.Experiments;
using Research.Models;
using Research.Training;

namespace Research.Mtp;

/// <summary>
/// Config of <c>mtp</c>: the tiny LM trained with D = 0, 1, 2 MTP depths at the same main-model size, steps, batches
/// and seed, on the four-domain corpus and on three-digit addition. Each task has its own model config because the
/// vocabularies differ; the main model's shape should otherwise match.
/// </summary>
public sealed record MtpExperimentConfig : IExperimentConfig<MtpExperimentConfig>
{
    public MultiDomainCorpusConfig Corpus { get; init; } = new(SequenceLength: 64);

    /// <summary>The main model on the corpus (Vocabulary must be the corpus's 51 tokens). Four layers, so that one
    /// MTP block is a small part of a main forward, as V3's one block is of its 61.</summary>
    public ModelConfig CorpusModel { get; init; } = new(VocabSize: MultiDomainCorpus.VocabularySize, HiddenSize: 64, NumHiddenLayers: 4, NumAttentionHeads: 4, IntermediateSize: 172, MaxPositionEmbeddings: 64);

    public TrainerConfig CorpusTraining { get; init; } = new(Steps: 300, LearningRate: 3e-3, WarmupSteps: 30, LogEvery: 25);

    /// <summary>The addition task; null leaves it out.</summary>
    public ArithmeticTaskConfig? Addition { get; init; } = new(MaxDigits: 3, ReverseAnswer: true);

    /// <summary>The main model on addition (Vocabulary must be the arithmetic vocabulary's size).</summary>
    public ModelConfig AdditionModel { get; init; } = new(VocabSize: ArithmeticVocabulary.Size, HiddenSize: 64, NumHiddenLayers: 4, NumAttentionHeads: 4, IntermediateSize: 172, MaxPositionEmbeddings: 16);

    public TrainerConfig AdditionTraining { get; init; } = new(Steps: 300, LearningRate: 3e-3, WarmupSteps: 30, LogEvery: 25);

    /// <summary>Sequences (or problems) per training batch, both tasks.</summary>
    public int BatchSize { get; init; } = 16;

    /// <summary>Validation batches of <see cref="BatchSize"/> held out per task.</summary>
    public int ValidationBatches { get; init; } = 8;

    /// <summary>The MTP depths D trained, each a run of its own (0 = the main model alone).</summary>
    public IReadOnlyList<int> Depths { get; init; } = [0, 1, 2];

    /// <summary>λ early in training (V3: 0.3).</summary>
    public double Lambda { get; init; } = 0.3;

    /// <summary>λ late in training (V3: 0.1).</summary>
    public double FinalLambda { get; init; } = 0.1;

    /// <summary>Share of the steps at <see cref="FinalLambda"/> (V3: 4.8T of 14.8T tokens).</summary>
    public double FinalFraction { get; init; } = MtpConfig.V3FinalFraction;

    /// <summary>Corpus prompts per domain that each D ≥ 1 model decodes with and without its drafts.</summary>
    public int DecodePromptsPerDomain { get; init; } = 3;

    /// <summary>Tokens of each corpus decoding prompt (the start of a validation sequence).</summary>
    public int DecodePromptLength { get; init; } = 16;

    /// <summary>Tokens decoded per corpus prompt; prompt + tokens + 1 must fit CorpusModel.MaxSequence.</summary>
    public int DecodeTokens { get; init; } = 40;

    /// <summary>Held-out addition problems decoded (answers: N + 1 digits and EOS), also scored for exact match.</summary>
    public int AdditionDecodeProblems { get; init; } = 24;

    /// <summary>Depths chained into each draft (V3: 1, the next-but-one token); must not exceed any trained D ≥ 1.</summary>
    public int DraftDepth { get; init; } = 1;

    /// <summary>Timed passes over the decoding prompts (plain and speculative interleaved); the first one warms up.</summary>
    public int DecodeRepetitions { get; init; } = 3;

    /// <summary>The seeds to run (JSON <c>seeds</c>); each is the root of every generator one run draws from.</summary>
    public IReadOnlyList<int> Seeds { get; init; } = [0];

    public MtpConfig Mtp(int depth) => new MtpConfig(depth, Lambda, FinalLambda, FinalFraction).Validated();

    public MtpExperimentConfig WithSeeds(IReadOnlyList<int> seeds) => this with { Seeds = seeds };

    public MtpExperimentConfig Validated()
    {
        const string me = nameof(MtpExperimentConfig);
        Corpus.Validated();
        CorpusModel.Buildable();
        CorpusTraining.Validated();
        if (CorpusModel.VocabSize != MultiDomainCorpus.VocabularySize)
            throw new ConfigException($"{me}.CorpusModel.VocabSize must be the corpus vocabulary size {MultiDomainCorpus.VocabularySize} (got {CorpusModel.VocabSize})");
        if (CorpusModel.MaxPositionEmbeddings < Corpus.SequenceLength)
            throw new ConfigException($"{me}.CorpusModel.MaxPositionEmbeddings ({CorpusModel.MaxPositionEmbeddings}) must be ≥ Corpus.SequenceLength ({Corpus.SequenceLength})");
        if (Addition is not null)
        {
            Addition.Validated();
            AdditionModel.Buildable();
            AdditionTraining.Validated();
            if (AdditionModel.VocabSize != ArithmeticVocabulary.Size)
                throw new ConfigException($"{me}.AdditionModel.VocabSize must be the arithmetic vocabulary size {ArithmeticVocabulary.Size} (got {AdditionModel.VocabSize})");
            int length = new ArithmeticTask(Addition).SequenceLength;
            if (AdditionModel.MaxPositionEmbeddings < length)
                throw new ConfigException($"{me}.AdditionModel.MaxPositionEmbeddings ({AdditionModel.MaxPositionEmbeddings}) must be ≥ the addition sequence length {length} (3·MaxDigits + 5)");
            if (AdditionDecodeProblems is < 1 or > 10_000) throw new ConfigException($"{me}.AdditionDecodeProblems must be in 1..10000 (got {AdditionDecodeProblems})");
        }
        if (BatchSize is < 1 or > 4096) throw new ConfigException($"{me}.BatchSize must be in 1..4096 (got {BatchSize})");
        if (ValidationBatches is < 1 or > 1000) throw new ConfigException($"{me}.ValidationBatches must be in 1..1000 (got {ValidationBatches})");
        if (Depths is null || Depths.Count == 0) throw new ConfigException($"{me}.Depths must list at least one MTP depth D (e.g. [0, 1, 2])");
        int positions = Math.Min(Corpus.SequenceLength, Addition is null ? int.MaxValue : new ArithmeticTask(Addition).SequenceLength - 1);
        foreach (int d in Depths)
        {
            Mtp(d);   // D, λ, FinalLambda, FinalFraction
            if (d >= positions) throw new ConfigException($"{me}.Depths: D = {d} must be below the {positions} positions of a training sequence");
        }
        if (Depths.Distinct().Count() != Depths.Count) throw new ConfigException($"{me}.Depths lists a depth twice");
        if (DecodePromptsPerDomain is < 1 or > 1000) throw new ConfigException($"{me}.DecodePromptsPerDomain must be in 1..1000 (got {DecodePromptsPerDomain})");
        if (DecodePromptLength < 2 || DecodePromptLength > Corpus.SequenceLength)
            throw new ConfigException($"{me}.DecodePromptLength must be in 2..Corpus.SequenceLength ({Corpus.SequenceLength}) (got {DecodePromptLength})");
        if (DecodeTokens < 2 || DecodePromptLength + DecodeTokens + 1 > CorpusModel.MaxPositionEmbeddings)
            throw new ConfigException($"{me}.DecodeTokens must be in 2..{CorpusModel.MaxPositionEmbeddings - DecodePromptLength - 1} (CorpusModel.MaxSequence − DecodePromptLength − 1) (got {DecodeTokens})");
        int shallowest = Depths.Where(d => d >= 1).DefaultIfEmpty(int.MaxValue).Min();
        if (DraftDepth < 1 || DraftDepth > shallowest)
            throw new ConfigException($"{me}.DraftDepth must be in 1..{(shallowest == int.MaxValue ? "D" : shallowest.ToString())} (the smallest trained MTP depth D ≥ 1 of Depths; a draft cannot use a depth the model was not trained with) (got {DraftDepth})");
        if (DecodeRepetitions is < 2 or > 100) throw new ConfigException($"{me}.DecodeRepetitions must be in 2..100: the first pass warms up (got {DecodeRepetitions})");
        // The largest tensors: the corpus model's training state and a batch through it with its MTP modules' logits.
        CorpusModel.CheckTrainingMemory($"{me}.CorpusModel");
        if (Addition is not null) AdditionModel.CheckTrainingMemory($"{me}.AdditionModel");
        int deepest = Depths.Max();
        MemoryLimit.Check(me, $"BatchSize {BatchSize} × sequence {Corpus.SequenceLength} activations of CorpusModel and {deepest} MTP depths",
            MemoryLimit.Float32 * (CorpusModel with { NumHiddenLayers = CorpusModel.NumHiddenLayers + deepest }).ActivationFloats(BatchSize, Corpus.SequenceLength));
        return this;
    }
}

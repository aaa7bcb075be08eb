using System.Text.Json.Serialization;
using Research.Experiments;
using Research.Models;
using Research.Training;

namespace Research.Rl;

/// <summary>One rule-based reward and its weight in the sum (R1-Zero: accuracy plus format, §2.2.2).</summary>
/// <param name="Name">One of <see cref="Rewards.Names"/>.</param>
public sealed record RewardTerm(string Name, double Weight = 1);

/// <summary>The rule-based rewards the kit knows.</summary>
public static class Rewards
{
    /// <summary>1 when the parsed answer equals the exact sum.</summary>
    public const string Accuracy = "accuracy";
    /// <summary>1 when the response follows the template (think markers, then answer markers, then EOS).</summary>
    public const string Format = "format";

    public static IReadOnlyList<string> Names { get; } = [Accuracy, Format];

    /// <summary>The value of reward <paramref name="name"/> for one read response.</summary>
    public static double Score(string name, ResponseReading reading) => name switch
    {
        Accuracy => reading.Correct ? 1 : 0,
        Format => reading.WellFormed ? 1 : 0,
        _ => throw new ConfigException($"reward '{name}' is unknown; allowed: {string.Join(", ", Names)}"),
    };

    /// <summary>Σ weight · reward over <paramref name="terms"/>.</summary>
    public static double Total(IReadOnlyList<RewardTerm> terms, ResponseReading reading) => terms.Sum(t => t.Weight * Score(t.Name, reading));
}

/// <summary>
/// GRPO settings (DeepSeekMath §4.1; R1 §2.2). <paramref name="Epsilon"/> clips the ratio, <paramref name="Beta"/>
/// weighs the k3 KL to the frozen reference, <paramref name="PolicyUpdates"/> is μ, the optimizer steps taken on each
/// batch of rollouts (the first at ratio 1, later ones clipped against the sampling policy).
/// </summary>
/// <param name="Steps">RL steps: each samples <paramref name="PromptsPerStep"/> × <paramref name="GroupSize"/> responses.</param>
/// <param name="GroupSize">G, responses per prompt, ≥ 2 (a group of one has no baseline).</param>
/// <param name="NormalizeStd">Divide advantages by the group's std (GRPO) or not (Dr. GRPO).</param>
/// <param name="Normalization">Per-response token averaging (GRPO) or one constant, Rollout.MaxTokens (Dr. GRPO).</param>
/// <param name="LearningRate">AdamW's rate, constant (DeepSeekMath also keeps it constant during RL).</param>
public sealed record GrpoConfig(
    int Steps = 60, int PromptsPerStep = 32, int GroupSize = 8, double Epsilon = 0.2, double Beta = 0.04, int PolicyUpdates = 2,
    double LearningRate = 1e-3, SamplingConfig? Rollout = null, bool NormalizeStd = true,
    LengthNormalization Normalization = LengthNormalization.PerResponse, IReadOnlyList<RewardTerm>? Rewards = null)
{
    [JsonIgnore]
    public SamplingConfig Sampling => Rollout ?? new SamplingConfig();

    [JsonIgnore]
    public IReadOnlyList<RewardTerm> RewardTerms => Rewards ?? [new(Rl.Rewards.Accuracy), new(Rl.Rewards.Format, 0.5)];

    /// <summary>The settings of Dr. GRPO: these, without the std division and with the constant normalization.</summary>
    public GrpoConfig AsDrGrpo() => this with { NormalizeStd = false, Normalization = LengthNormalization.Constant };

    public GrpoConfig Validated(string where = nameof(GrpoConfig))
    {
        if (Steps < 1 || Steps > 100_000) throw new ConfigException($"{where}.Steps must be in 1..100000 (got {Steps})");
        if (PromptsPerStep < 1 || PromptsPerStep > 65_536) throw new ConfigException($"{where}.PromptsPerStep must be in 1..65536 (got {PromptsPerStep})");
        if (GroupSize < 2 || GroupSize > 1024) throw new ConfigException($"{where}.GroupSize (G) must be in 2..1024: a group of one response has no baseline (got {GroupSize})");
        if (!(Epsilon > 0 && Epsilon < 1)) throw new ConfigException($"{where}.Epsilon must be in (0, 1) (got {Epsilon})");
        if (!(Beta >= 0 && double.IsFinite(Beta))) throw new ConfigException($"{where}.Beta must be a finite number ≥ 0 (got {Beta})");
        if (PolicyUpdates < 1 || PolicyUpdates > 100) throw new ConfigException($"{where}.PolicyUpdates (μ) must be in 1..100 (got {PolicyUpdates})");
        if (!(LearningRate > 0 && LearningRate <= 1)) throw new ConfigException($"{where}.LearningRate must be in (0, 1] (got {LearningRate})");
        if (!Enum.IsDefined(Normalization)) throw new ConfigException($"{where}.Normalization must be one of per-response, constant (got {Normalization})");
        Sampling.Validated($"{where}.Rollout");
        if (RewardTerms.Count == 0) throw new ConfigException($"{where}.Rewards must list at least one of {string.Join(", ", Rl.Rewards.Names)}");
        for (int i = 0; i < RewardTerms.Count; i++)
        {
            var term = RewardTerms[i];
            if (term is null || !Rl.Rewards.Names.Contains(term.Name))
                throw new ConfigException($"{where}.Rewards[{i}].Name must be one of {string.Join(", ", Rl.Rewards.Names)} (got '{term?.Name}')");
            if (!(term.Weight >= 0 && double.IsFinite(term.Weight))) throw new ConfigException($"{where}.Rewards[{i}].Weight must be a finite number ≥ 0 (got {term.Weight})");
        }
        return this;
    }
}

/// <summary>Held-out evaluation as R1 reports it (§2.2.4): k samples per problem at temperature 0.6 and top-p 0.95;
/// pass@1 is their mean correctness, cons@k the correctness of their majority answer.</summary>
/// <param name="Every">RL steps between evaluations (and one before the first step and after the last).</param>
public sealed record EvaluationConfig(int Problems = 200, int Samples = 4, SamplingConfig? Sampling = null, int Every = 10)
{
    [JsonIgnore]
    public SamplingConfig SamplingOrDefault => Sampling ?? new SamplingConfig(0.6, 0.95);

    public EvaluationConfig Validated()
    {
        if (Problems < 1 || Problems > 100_000) throw new ConfigException($"EvaluationConfig.Problems must be in 1..100000 (got {Problems})");
        if (Samples < 1 || Samples > 1024) throw new ConfigException($"EvaluationConfig.Samples (k) must be in 1..1024 (got {Samples})");
        if (Every < 1) throw new ConfigException($"EvaluationConfig.Every must be ≥ 1 (got {Every})");
        SamplingOrDefault.Validated("EvaluationConfig.Sampling");
        return this;
    }
}

/// <summary>
/// How a base model is made: next-token training on reference solutions of fresh problems, each written in the
/// scratchpad style with probability <paramref name="ScratchpadShare"/>, template-only with
/// <paramref name="TemplateShare"/>, bare otherwise; only the response tokens are scored. Kept brief so the base
/// model is weak but not at zero, as a pretrained base model is on a task it was never tuned for.
/// </summary>
public sealed record PretrainConfig(TrainerConfig Training, int BatchSize = 64, double ScratchpadShare = 0.2, double TemplateShare = 0.3)
{
    public PretrainConfig Validated(string where = nameof(PretrainConfig))
    {
        Training.Validated();
        if (BatchSize < 1 || BatchSize > 65_536) throw new ConfigException($"{where}.BatchSize must be in 1..65536 (got {BatchSize})");
        if (!(ScratchpadShare >= 0 && TemplateShare >= 0 && ScratchpadShare + TemplateShare <= 1))
            throw new ConfigException($"{where}.ScratchpadShare and TemplateShare must be ≥ 0 with a sum ≤ 1 (got {ScratchpadShare} and {TemplateShare})");
        return this;
    }
}

/// <summary>
/// Config of <c>r1-zero</c>. <paramref name="Small"/> is the policy of the GRPO, Dr. GRPO, distilled and cold-start
/// runs; <paramref name="Large"/> the stronger reasoner whose generations the distilled run learns from, made as R1
/// was: the same cold start, then the same GRPO. Both start from a base model made by <paramref name="Pretraining"/>.
/// </summary>
/// <param name="ColdStartExamples">Correct scratchpad solutions of the cold-start SFT (R1 §2.3.1 used thousands).</param>
/// <param name="ColdStart">Optimisation of the cold-start SFT, before its GRPO.</param>
/// <param name="DistillationLearningRate">AdamW rate of the distilled run; its steps and batch are matched to the small model's RL
/// budget (Grpo.Steps × PolicyUpdates updates of PromptsPerStep × GroupSize sequences).</param>
public sealed record R1ZeroConfig(
    ReasoningTaskConfig? Task = null, ModelConfig? Small = null, ModelConfig? Large = null, PretrainConfig? Pretraining = null,
    PretrainConfig? LargePretraining = null, GrpoConfig? Grpo = null, EvaluationConfig? Evaluation = null, int ColdStartExamples = 300,
    TrainerConfig? ColdStart = null, double DistillationLearningRate = 1e-3) : IExperimentConfig<R1ZeroConfig>
{
    // The defaults are the run data/configs/r1-zero.json describes (about 2½ minutes on a 2-core laptop); a field left
    // null in a file takes its default here.
    public ReasoningTaskConfig Task { get; init; } = Task ?? new(MaxDigits: 3);

    public ModelConfig Small { get; init; } = Small ?? new(VocabSize: ReasoningVocabulary.Size, HiddenSize: 64, NumHiddenLayers: 1, NumAttentionHeads: 4, IntermediateSize: 172, MaxPositionEmbeddings: 32);

    public ModelConfig Large { get; init; } = Large ?? new(VocabSize: ReasoningVocabulary.Size, HiddenSize: 96, NumHiddenLayers: 2, NumAttentionHeads: 4, IntermediateSize: 256, MaxPositionEmbeddings: 32);

    public PretrainConfig Pretraining { get; init; } = Pretraining ?? new(BasePretraining, BatchSize: 64, ScratchpadShare: 0.2, TemplateShare: 0.3);

    public PretrainConfig LargePretraining { get; init; } = LargePretraining ?? new(BasePretraining, BatchSize: 64, ScratchpadShare: 0.3, TemplateShare: 0.3);

    public GrpoConfig Grpo { get; init; } = Grpo ?? new(Steps: 100, PromptsPerStep: 32, GroupSize: 8, Epsilon: 0.2, Beta: 0.04, PolicyUpdates: 2,
        LearningRate: 2e-4, Rollout: new(Temperature: 1.0, TopP: 1.0, MaxTokens: 18), NormalizeStd: true, Normalization: LengthNormalization.PerResponse,
        Rewards: [new(Rewards.Accuracy, 1), new(Rewards.Format, 0.5)]);

    public EvaluationConfig Evaluation { get; init; } = Evaluation ?? new(Problems: 200, Samples: 4, Sampling: new(Temperature: 0.6, TopP: 0.95, MaxTokens: 18), Every: 20);

    public TrainerConfig ColdStart { get; init; } = ColdStart ?? new(Steps: 100, LearningRate: 3e-3, WarmupSteps: 10, LogEvery: 50);

    private static TrainerConfig BasePretraining => new(Steps: 800, LearningRate: 3e-3, WarmupSteps: 30, LogEvery: 50);

    /// <summary>The seeds to run (JSON <c>seeds</c>); each is the root of every generator one run draws from.</summary>
    public IReadOnlyList<int> Seeds { get; init; } = [0];

    public R1ZeroConfig WithSeeds(IReadOnlyList<int> seeds) => this with { Seeds = seeds };

    public R1ZeroConfig Validated()
    {
        if (Task is null || Small is null || Large is null || Pretraining is null || LargePretraining is null || Grpo is null || Evaluation is null || ColdStart is null)
            throw new ConfigException("R1ZeroConfig needs task, small, large, pretraining, largePretraining, grpo, evaluation and coldStart");
        var task = new ReasoningTask(Task.Validated());
        foreach (var (model, name) in new[] { (Small, nameof(Small)), (Large, nameof(Large)) })
        {
            try { model.Buildable(); }
            catch (ConfigException e) { throw new ConfigException($"R1ZeroConfig.{name}: {e.Message}", e); }
            if (model.VocabSize != ReasoningVocabulary.Size)
                throw new ConfigException($"R1ZeroConfig.{name}.VocabSize must be {ReasoningVocabulary.Size}, the reasoning task's tokens (got {model.VocabSize})");
            int needed = task.PromptLength + Math.Max(Grpo.Sampling.MaxTokens, Evaluation.SamplingOrDefault.MaxTokens);
            if (model.MaxPositionEmbeddings < needed)
                throw new ConfigException($"R1ZeroConfig.{name}.MaxPositionEmbeddings must be ≥ {needed} (prompt {task.PromptLength} + the longest response sampled) (got {model.MaxPositionEmbeddings})");
        }
        Pretraining.Validated("R1ZeroConfig.Pretraining");
        LargePretraining.Validated("R1ZeroConfig.LargePretraining");
        Grpo.Validated("R1ZeroConfig.Grpo");
        if (Grpo.Sampling.MaxTokens < task.LongestSolution)
            throw new ConfigException($"R1ZeroConfig.Grpo.Rollout.MaxTokens must be ≥ {task.LongestSolution}, the longest solution with scratchpad (got {Grpo.Sampling.MaxTokens})");
        Evaluation.Validated();
        if (ColdStartExamples < 1 || ColdStartExamples > 1_000_000) throw new ConfigException($"R1ZeroConfig.ColdStartExamples must be in 1..1000000 (got {ColdStartExamples})");
        ColdStart.Validated();
        if (!(DistillationLearningRate > 0 && DistillationLearningRate <= 1)) throw new ConfigException($"R1ZeroConfig.DistillationLearningRate must be in (0, 1] (got {DistillationLearningRate})");
        CheckMemory(task.PromptLength + Grpo.Sampling.MaxTokens);
        return this;
    }

    // The largest tensors: each model's training state, and one GRPO step's PromptsPerStep × GroupSize rollouts
    // through the policy with their logits and the activations backward needs.
    private void CheckMemory(int length)
    {
        Small.CheckTrainingMemory("R1ZeroConfig.Small");
        Large.CheckTrainingMemory("R1ZeroConfig.Large");
        foreach (var (model, name) in new[] { (Small, nameof(Small)), (Large, nameof(Large)) })
            MemoryLimit.Check("R1ZeroConfig", $"Grpo.PromptsPerStep {Grpo.PromptsPerStep} × Grpo.GroupSize {Grpo.GroupSize} × sequence {length} × " +
                                              $"(vocabulary {model.VocabSize} logits + activations) of {name}",
                MemoryLimit.Float32 * model.ActivationFloats((double)Grpo.PromptsPerStep * Grpo.GroupSize, length));
    }
}

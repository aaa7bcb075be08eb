using System.Text.Json.Serialization;
using Research.Data;
using Research.Experiments;
using Research.Models;
using Research.Training;

namespace Research.Distillation;

/// <summary>The loss a student is trained with (see <see cref="Losses"/>).</summary>
public enum DistillObjective
{
    /// <summary>Hard labels only: the baseline every other method is compared with.</summary>
    CrossEntropy,
    /// <summary>α·CE + (1 − α)·T²·KL(p_teacher ‖ q_student) (Hinton et al. 2015).</summary>
    ForwardKl,
    /// <summary>α·CE + (1 − α)·T²·KL(q_student ‖ p_teacher), mode-seeking (MiniLLM).</summary>
    ReverseKl,
    /// <summary>α·CE + (1 − α)·T²·JSD_β (GKD).</summary>
    Jsd,
    /// <summary>α·CE + (1 − α)·forward KL on the teacher's top-k tokens, renormalised.</summary>
    TopK,
    /// <summary>Cross-entropy on the teacher's greedy answers, no logits (Kim &amp; Rush 2016; DeepSeek-R1 §2.4).</summary>
    SequenceLevel,
}

/// <summary>Where a student's training sequences come from.</summary>
public enum DistillData
{
    /// <summary>The fixed pool of <see cref="DistillConfig.LabelledExamples"/> problems with their true answers.</summary>
    Labelled,
    /// <summary>Fresh prompts every step, answered by the teacher's greedy decoding: prompts are free, answers are
    /// the teacher's (R1's 800k distillation samples were generated this way).</summary>
    TeacherGenerated,
}

/// <summary>One student recipe.</summary>
/// <param name="Name">Kebab-case name shown in tables and charts.</param>
/// <param name="Temperature">T of the soft targets (T² rescales the soft loss so its gradients keep their size).</param>
/// <param name="Beta">β of <see cref="DistillObjective.Jsd"/> (0 = forward KL, 1 = reverse KL).</param>
/// <param name="TopK">k of <see cref="DistillObjective.TopK"/>.</param>
/// <param name="HardLabelWeight">α, the weight of the cross-entropy on the batch's labels; the soft loss gets 1 − α.</param>
public sealed record DistillMethod(
    string Name, DistillObjective Objective, DistillData Data = DistillData.Labelled,
    double Temperature = 1, double Beta = 0.5, int TopK = 5, double HardLabelWeight = 0.5)
{
    /// <summary>This method, or a <see cref="ConfigException"/> naming the field (<paramref name="where"/> locates it).</summary>
    public DistillMethod Validated(string where, int vocabulary)
    {
        if (string.IsNullOrWhiteSpace(Name)) throw new ConfigException($"{where}.Name must be a non-empty name");
        if (!Enum.IsDefined(Objective)) throw new ConfigException($"{where}.Objective must be one of {string.Join(", ", Enum.GetNames<DistillObjective>())} (got {Objective})");
        if (!(Temperature > 0 && Temperature <= 100)) throw new ConfigException($"{where}.Temperature must be in (0, 100] (got {Temperature})");
        if (!(Beta >= 0 && Beta <= 1)) throw new ConfigException($"{where}.Beta must be in [0, 1] (got {Beta})");
        if (TopK < 1 || TopK > vocabulary) throw new ConfigException($"{where}.TopK must be in 1..{vocabulary} (the vocabulary) (got {TopK})");
        if (!(HardLabelWeight >= 0 && HardLabelWeight <= 1)) throw new ConfigException($"{where}.HardLabelWeight must be in [0, 1] (got {HardLabelWeight})");
        return this;
    }
}

/// <summary>
/// Config of <c>distill</c>: a larger teacher trained once on fresh addition problems, then students of one size,
/// budget and seed trained with each <see cref="Methods"/> entry, and forward KL again at each
/// <see cref="TemperatureSweep"/> temperature.
/// </summary>
public sealed record DistillConfig : IExperimentConfig<DistillConfig>
{
    /// <summary>The verifiable task: addition of up to MaxDigits-digit numbers.</summary>
    public ArithmeticTaskConfig Task { get; init; } = new(MaxDigits: 2);

    /// <summary>The teacher: about 6× the student's parameters, trained 1.5× as long on fresh problems.</summary>
    public ModelConfig Teacher { get; init; } = new(VocabSize: ArithmeticVocabulary.Size, HiddenSize: 64, NumHiddenLayers: 3, NumAttentionHeads: 4, IntermediateSize: 172, MaxPositionEmbeddings: 32);

    /// <summary>The teacher's optimisation; it sees a fresh batch of problems every step.</summary>
    public TrainerConfig TeacherTraining { get; init; } = new(Steps: 1200, LearningRate: 3e-3, WarmupSteps: 50, LogEvery: 100);

    /// <summary>Every student's model.</summary>
    public ModelConfig Student { get; init; } = new(VocabSize: ArithmeticVocabulary.Size, HiddenSize: 32, NumHiddenLayers: 2, NumAttentionHeads: 4, IntermediateSize: 86, MaxPositionEmbeddings: 32);

    /// <summary>Every student's optimisation: the same steps, batch and schedule for all methods.</summary>
    public TrainerConfig StudentTraining { get; init; } = new(Steps: 800, LearningRate: 5e-3, WarmupSteps: 30, LogEvery: 50);

    /// <summary>Sequences per training batch (teacher and students).</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>Size of the labelled pool the <see cref="DistillData.Labelled"/> students cycle through: labels are
    /// scarce, prompts are not. 500 of the 10,000 two-digit problems: a pilot sweep chose it (Distillation/README.md),
    /// because with 2,000 every student learned to add and no loss could be told from another.</summary>
    public int LabelledExamples { get; init; } = 500;

    /// <summary>Held-out problems for accuracy and validation loss (never trained on by anyone).</summary>
    public int ValidationExamples { get; init; } = 1000;

    /// <summary>The student recipes, in table order.</summary>
    public IReadOnlyList<DistillMethod> Methods { get; init; } =
    [
        new("ce", DistillObjective.CrossEntropy, HardLabelWeight: 1),
        new("forward-kl", DistillObjective.ForwardKl, Temperature: 2),
        new("reverse-kl", DistillObjective.ReverseKl, Temperature: 2),
        new("jsd", DistillObjective.Jsd, Temperature: 2, Beta: 0.5),
        new("top-k", DistillObjective.TopK, Temperature: 2, TopK: 5),
        new("sequence-level", DistillObjective.SequenceLevel, DistillData.TeacherGenerated, HardLabelWeight: 1),
    ];

    /// <summary>Temperatures at which the <c>forward-kl</c> method is trained again (its own T is reused, not retrained).</summary>
    public IReadOnlyList<double> TemperatureSweep { get; init; } = [1, 2, 4];

    /// <summary>The seeds to run (JSON <c>seeds</c>); each is the root of every generator one run draws from.</summary>
    public IReadOnlyList<int> Seeds { get; init; } = [0];

    public DistillConfig WithSeeds(IReadOnlyList<int> seeds) => this with { Seeds = seeds };

    /// <summary>This config, or a <see cref="ConfigException"/> naming the first bad field.</summary>
    public DistillConfig Validated()
    {
        Task.Validated();
        var task = new ArithmeticTask(Task);
        foreach (var (model, name) in new[] { (Teacher, nameof(Teacher)), (Student, nameof(Student)) })
        {
            try { model.Buildable(); }
            catch (ConfigException e) { throw new ConfigException($"DistillConfig.{name}: {e.Message}", e); }
            if (model.VocabSize != ArithmeticVocabulary.Size)
                throw new ConfigException($"DistillConfig.{name}.VocabSize must be {ArithmeticVocabulary.Size} (the task's vocabulary) (got {model.VocabSize})");
            if (model.MaxPositionEmbeddings < task.SequenceLength - 1)
                throw new ConfigException($"DistillConfig.{name}.MaxPositionEmbeddings must be ≥ {task.SequenceLength - 1} (the inputs of the task's sequences) (got {model.MaxPositionEmbeddings})");
        }
        foreach (var (training, name) in new[] { (TeacherTraining, nameof(TeacherTraining)), (StudentTraining, nameof(StudentTraining)) })
        {
            try { training.Validated(); }
            catch (ConfigException e) { throw new ConfigException($"DistillConfig.{name}: {e.Message}", e); }
        }
        if (BatchSize < 1 || BatchSize > 65_536) throw new ConfigException($"DistillConfig.BatchSize must be in 1..65536 (got {BatchSize})");
        if (LabelledExamples < 1 || LabelledExamples > 10_000_000) throw new ConfigException($"DistillConfig.LabelledExamples must be in 1..10000000 (got {LabelledExamples})");
        if (ValidationExamples < 1 || ValidationExamples > 1_000_000) throw new ConfigException($"DistillConfig.ValidationExamples must be in 1..1000000 (got {ValidationExamples})");
        if (Methods is null || Methods.Count == 0) throw new ConfigException("DistillConfig.Methods must list at least one method");
        for (int i = 0; i < Methods.Count; i++) Methods[i].Validated($"DistillConfig.Methods[{i}]", ArithmeticVocabulary.Size);
        var duplicate = Methods.GroupBy(m => m.Name).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new ConfigException($"DistillConfig.Methods: the name '{duplicate.Key}' is used twice; names must be unique");
        if (TemperatureSweep is null) throw new ConfigException("DistillConfig.TemperatureSweep must be a list (empty for no sweep)");
        foreach (var t in TemperatureSweep)
            if (!(t > 0 && t <= 100)) throw new ConfigException($"DistillConfig.TemperatureSweep values must be in (0, 100] (got {t})");
        if (TemperatureSweep.Distinct().Count() != TemperatureSweep.Count)
            throw new ConfigException($"DistillConfig.TemperatureSweep lists a temperature twice (got [{string.Join(", ", TemperatureSweep)}]); each would train the same student again");
        if (TemperatureSweep.Count > 0 && SweepBase is null)
            throw new ConfigException("DistillConfig.TemperatureSweep needs a method with Objective forward-kl in DistillConfig.Methods");
        CheckMemory(task.SequenceLength);
        return this;
    }

    // The largest tensors: each model's training state, a training batch through the teacher, and the teacher's
    // logits on the whole validation set in one forward (kept for every student's KL), with one block's activations.
    private void CheckMemory(int length)
    {
        Teacher.CheckTrainingMemory("DistillConfig.Teacher");
        Student.CheckTrainingMemory("DistillConfig.Student");
        MemoryLimit.Check("DistillConfig", $"BatchSize {BatchSize} × sequence {length} activations of the teacher",
            MemoryLimit.Float32 * Teacher.ActivationFloats(BatchSize, length));
        var oneBlock = Teacher with { NumHiddenLayers = 1 };
        MemoryLimit.Check("DistillConfig", $"ValidationExamples {ValidationExamples} × sequence {length} in one teacher forward (logits and a block)",
            MemoryLimit.Float32 * oneBlock.ActivationFloats(ValidationExamples, length));
    }

    /// <summary>The forward-KL method the temperature sweep varies (the first one listed).</summary>
    [JsonIgnore]
    public DistillMethod? SweepBase => Methods?.FirstOrDefault(m => m.Objective == DistillObjective.ForwardKl);
}

using System.Text.Json;
using Research.Cli;
using Research.Distillation;
using Research.Experiments;
using Research.Models;
using Research.Tests.Cli;
using Research.Training;
using Xunit;
using static TorchSharp.torch;

namespace Research.Tests.Distillation;

public sealed class DistillExperimentTests
{
    // Seconds, not minutes: 1-digit addition, two tiny models, a handful of steps.
    internal static readonly DistillConfig Tiny = new()
    {
        Task = new(MaxDigits: 1),
        Teacher = new(VocabSize: 15, HiddenSize: 32, NumHiddenLayers: 1, NumAttentionHeads: 2, IntermediateSize: 64, MaxPositionEmbeddings: 16),
        TeacherTraining = new(Steps: 30, WarmupSteps: 3, LogEvery: 10),
        Student = new(VocabSize: 15, HiddenSize: 16, NumHiddenLayers: 1, NumAttentionHeads: 2, IntermediateSize: 32, MaxPositionEmbeddings: 16),
        StudentTraining = new(Steps: 12, WarmupSteps: 2, LogEvery: 6),
        BatchSize = 16,
        LabelledExamples = 40,
        ValidationExamples = 50,
    };

    [Fact]
    public void The_embedded_config_is_the_record_default()
    {
        var embedded = ExperimentConfigs.Load<DistillConfig>(DistillExperiment.Id);
        Assert.Equal(JsonSerializer.Serialize(new DistillConfig(), ExperimentConfigs.Json), JsonSerializer.Serialize(embedded, ExperimentConfigs.Json));
    }

    [Fact]
    public void The_workshop_config_is_the_repo_file_valid_and_a_subset_of_the_default()
    {
        var file = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "data", "configs", "workshop", "distill.json"));
        Assert.Equal(file.ReplaceLineEndings(), ExperimentConfigs.EmbeddedWorkshop(DistillExperiment.Id)!.ReplaceLineEndings());

        var workshop = ExperimentConfigs.Load<DistillConfig>(DistillExperiment.Id, workshop: true).Validated();
        var full = new DistillConfig();
        // One pilot chose the task, models, budgets and pool for both: the workshop runs fewer recipes on fewer problems.
        Assert.Equal((full.Task, full.Teacher, full.TeacherTraining, full.Student, full.StudentTraining, full.BatchSize, full.LabelledExamples),
            (workshop.Task, workshop.Teacher, workshop.TeacherTraining, workshop.Student, workshop.StudentTraining, workshop.BatchSize, workshop.LabelledExamples));
        Assert.True(workshop.ValidationExamples < full.ValidationExamples);
        Assert.True(workshop.Methods.Count < full.Methods.Count && workshop.TemperatureSweep.Count < full.TemperatureSweep.Count);
        // Every workshop recipe is one of the full ablation's, with the same settings.
        Assert.All(workshop.Methods, m => Assert.Contains(m, full.Methods));
    }

    [Fact]
    public void A_config_file_wins_over_workshop_and_workshop_without_a_file_is_the_default()
    {
        var folder = TestPaths.TempFolder();
        var configPath = Path.Combine(folder, "tiny.json");
        File.WriteAllText(configPath, JsonSerializer.Serialize(Tiny, ExperimentConfigs.Json));

        var (exit, stdout, stderr) = InProcessCli.Run("run", "distill", "--workshop", "--config", configPath, "--out", folder, "--json");

        Assert.True(exit == ExitCodes.Ok, stderr);
        var ran = JsonDocument.Parse(stdout).RootElement.GetProperty("config").GetProperty("teacherTraining").GetProperty("steps").GetInt32();
        Assert.Equal(Tiny.TeacherTraining.Steps, ran);
        // An experiment without a workshop size runs its default under --workshop.
        Assert.Null(ExperimentConfigs.EmbeddedWorkshop("matmul-throughput"));
        Assert.Equal(JsonSerializer.Serialize(ExperimentConfigs.Load<MatmulThroughputConfig>("matmul-throughput"), ExperimentConfigs.Json),
            JsonSerializer.Serialize(ExperimentConfigs.Load<MatmulThroughputConfig>("matmul-throughput", workshop: true), ExperimentConfigs.Json));
    }

    [Fact]
    public void Every_method_is_trained_on_the_same_budget_and_scored_on_held_out_problems()
    {
        var result = DistillExperiment.Run(Tiny, CPU, cancellation: TestContext.Current.CancellationToken).First;

        Assert.Equal(Tiny.Methods.Select(m => m.Name), result.Methods.Select(m => m.Name));
        Assert.All(result.Methods, m =>
        {
            Assert.Equal(Math.Round(m.Accuracy * Tiny.ValidationExamples), m.Accuracy * Tiny.ValidationExamples, 9);   // exact matches of the held-out problems
            Assert.True(m.ValidationLoss > 0 && double.IsFinite(m.ValidationLoss), m.Name);
            Assert.True(m.TeacherKl >= 0, m.Name);
            Assert.Equal([6, 12], m.Curve.Select(p => p.Step));
            Assert.Equal(12L * 16 * 7, m.Curve[^1].Tokens);   // steps × batch × (SequenceLength − 1) for 1-digit sums
        });
        Assert.Equal([1.0, 2, 4], result.TemperatureSweep.Select(s => s.Temperature));
        // T = 2 is the listed forward-kl method: the sweep reuses it instead of training it again.
        var forward = result.Methods.Single(m => m.Name == "forward-kl");
        Assert.Equal(forward.Accuracy, result.TemperatureSweep[1].Accuracy);
        Assert.Equal(Tiny.Methods.Count + 1, result.Example.Distributions.Count);   // teacher + one per listed method
        Assert.All(result.Example.Distributions, d => Assert.Equal(1.0, d.Probabilities.Sum(), 1e-6));
        // The example sits at an answer position: the prefix holds the whole prompt "^a+b=" and maybe some answer digits.
        Assert.StartsWith("^", result.Example.Prefix);
        Assert.Contains("=", result.Example.Prefix);
        Assert.Equal(Tiny.TeacherTraining.Steps / 10, result.Teacher.Curve.Count);
    }

    [Fact]
    public void Same_seed_gives_identical_numbers_and_a_cached_teacher_changes_nothing()
    {
        var cache = TestPaths.TempFolder();
        var config = Tiny with { Methods = [Tiny.Methods[0], Tiny.Methods[1], Tiny.Methods[5]], TemperatureSweep = [] };
        var first = DistillExperiment.Run(config, CPU, cache, cancellation: TestContext.Current.CancellationToken).First;
        var second = DistillExperiment.Run(config, CPU, cache, cancellation: TestContext.Current.CancellationToken).First;

        Assert.False(first.Teacher.Cached);
        Assert.True(second.Teacher.Cached);
        Assert.Single(Directory.GetFiles(cache, "distill-teacher-*.bin"));
        Assert.Equal(first.Teacher.ValidationLoss, second.Teacher.ValidationLoss);
        Assert.Equal(first.Teacher.Curve.Select(p => p.TrainLoss), second.Teacher.Curve.Select(p => p.TrainLoss));
        Assert.Equal(first.Methods.Select(m => (m.Accuracy, m.ValidationLoss, m.TeacherKl)), second.Methods.Select(m => (m.Accuracy, m.ValidationLoss, m.TeacherKl)));
        Assert.Equal(first.Methods.SelectMany(m => m.Curve.Select(p => p.TrainLoss)), second.Methods.SelectMany(m => m.Curve.Select(p => p.TrainLoss)));

        // A different teacher setting is a different cache entry, never a stale one.
        var other = DistillExperiment.Run(config with { TeacherTraining = config.TeacherTraining with { Steps = 20 } }, CPU, cache,
            cancellation: TestContext.Current.CancellationToken).First;
        Assert.False(other.Teacher.Cached);
        Assert.Equal(2, Directory.GetFiles(cache, "distill-teacher-*.bin").Length);
    }

    [Fact]
    public void Sequence_level_students_learn_the_teachers_answers_not_the_labels()
    {
        // Given a trained teacher and a prompt stream
        var config = Tiny;
        var task = new Research.Data.ArithmeticTask(config.Task);
        using var teacher = new LanguageModel(config.Teacher, CPU, new Generator(1));
        using var student = new LanguageModel(config.Student, CPU, new Generator(2));
        var method = config.Methods.Single(m => m.Objective == DistillObjective.SequenceLevel);
        var pool = task.ToBatch(task.Sample(config.LabelledExamples, new Generator(3)), CPU);
        // When the step losses are built
        var lossAt = DistillExperiment.StudentLoss(config, task, method, student, teacher, pool, CPU);
        // Then step s is the cross-entropy of the teacher's greedy answers to the s-th batch of fresh prompts (stream Seed·16 + 6)
        var stream = new Generator(6);
        foreach (int step in new[] { 1, 2, 3 })
        {
            var prompts = task.Prompts(task.Sample(config.BatchSize, stream), CPU);
            var batch = task.ToBatch(prompts, Generation.Greedy(teacher, prompts, task.AnswerLength));
            var expected = LanguageModel.CrossEntropy(student.forward(batch.Inputs), batch.Targets, batch.LossMask).item<float>();
            Assert.Equal(expected, lossAt(step).Loss.item<float>());
        }
    }

    [Theory]
    [InlineData(DistillObjective.ForwardKl)]
    [InlineData(DistillObjective.ReverseKl)]
    public void Soft_losses_read_the_teachers_logits_on_the_drawn_pool_rows(DistillObjective objective)
    {
        // Given a teacher, a student and the labelled pool
        var config = Tiny;
        var task = new Research.Data.ArithmeticTask(config.Task);
        using var teacher = new LanguageModel(config.Teacher, CPU, new Generator(1));
        using var student = new LanguageModel(config.Student, CPU, new Generator(2));
        var method = config.Methods.First(m => m.Objective == objective);
        var pool = task.ToBatch(task.Sample(config.LabelledExamples, new Generator(3)), CPU);
        // When the step loss is built (the teacher's logits on the whole pool are computed once)
        var lossAt = DistillExperiment.StudentLoss(config, task, method, student, teacher, pool, CPU);
        // Then each step equals the loss against the teacher run on that step's rows (stream Seed·16 + 5)
        var stream = new Generator(5);
        foreach (int step in new[] { 1, 2 })
        {
            var batch = pool.Rows(randint(0, pool.Inputs.shape[0], [config.BatchSize], generator: stream));
            var logits = student.forward(batch.Inputs);
            Tensor target;
            using (no_grad()) target = teacher.forward(batch.Inputs);
            var soft = objective == DistillObjective.ForwardKl
                ? Losses.ForwardKl(logits, target, method.Temperature, batch.LossMask)
                : Losses.ReverseKl(logits, target, method.Temperature, batch.LossMask);
            var expected = Losses.Mix(LanguageModel.CrossEntropy(logits, batch.Targets, batch.LossMask), soft, method.HardLabelWeight).item<float>();
            // A row's logits do not depend on which other rows share its batch, up to float32 rounding in the GEMMs.
            Assert.Equal(expected, lossAt(step).Loss.item<float>(), 1e-6f);
        }
    }

    [Theory]
    [InlineData("TopK", "DistillConfig.Methods[1].TopK must be in 1..15")]
    [InlineData("Beta", "DistillConfig.Methods[1].Beta must be in [0, 1]")]
    [InlineData("Temperature", "DistillConfig.Methods[1].Temperature must be in (0, 100]")]
    [InlineData("Duplicate", "the name 'ce' is used twice")]
    [InlineData("Vocabulary", "DistillConfig.Student.VocabSize must be 15")]
    [InlineData("MaxSequence", "DistillConfig.Teacher.MaxPositionEmbeddings must be ≥ 7")]
    [InlineData("Heads", "DistillConfig.Student: ModelConfig 'tiny': num_attention_heads must divide hidden_size")]
    [InlineData("Sweep", "TemperatureSweep values must be in (0, 100]")]
    public void Bad_configs_name_the_field(string field, string expected)
    {
        var m = Tiny.Methods[1];
        var config = field switch
        {
            "TopK" => Tiny with { Methods = [Tiny.Methods[0], m with { TopK = 16 }] },
            "Beta" => Tiny with { Methods = [Tiny.Methods[0], m with { Beta = 1.5 }] },
            "Temperature" => Tiny with { Methods = [Tiny.Methods[0], m with { Temperature = 0 }] },
            "Duplicate" => Tiny with { Methods = [Tiny.Methods[0], Tiny.Methods[0]] },
            "Vocabulary" => Tiny with { Student = Tiny.Student with { VocabSize = 16 } },
            "MaxSequence" => Tiny with { Teacher = Tiny.Teacher with { MaxPositionEmbeddings = 6 } },
            "Heads" => Tiny with { Student = Tiny.Student with { NumAttentionHeads = 3 } },
            _ => Tiny with { TemperatureSweep = [1, -2] },
        };
        var e = Assert.Throws<ConfigException>(() => config.Validated());
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Cli_json_holds_the_teacher_and_every_method()
    {
        var folder = TestPaths.TempFolder();
        var configPath = Path.Combine(folder, "tiny.json");
        File.WriteAllText(configPath, JsonSerializer.Serialize(Tiny, ExperimentConfigs.Json));
        var (exit, stdout, stderr) = InProcessCli.Run("run", "distill", "--config", configPath, "--out", folder, "--json");
        Assert.True(exit == ExitCodes.Ok, stderr);
        var result = JsonDocument.Parse(stdout).RootElement.GetProperty("result").GetProperty("perSeed")[0].GetProperty("result");
        double teacher = result.GetProperty("teacher").GetProperty("accuracy").GetDouble();
        Assert.Equal(Math.Round(teacher * Tiny.ValidationExamples), teacher * Tiny.ValidationExamples, 9);   // exact matches of the held-out problems
        var methods = result.GetProperty("methods").EnumerateArray().ToList();
        Assert.Equal(Tiny.Methods.Select(m => m.Name), methods.Select(m => m.GetProperty("name").GetString()));
        Assert.All(methods, m => Assert.True(m.GetProperty("validationLoss").GetDouble() > 0));
        Assert.True(File.Exists(Path.Combine(folder, "distill", "methods.csv")));
        Assert.Single(Directory.GetFiles(Path.Combine(folder, "cache"), "distill-teacher-*.bin"));
    }

    [Fact]
    public void A_bad_config_file_is_exit_code_2_naming_the_field_and_writes_nothing()
    {
        var folder = TestPaths.TempFolder();
        var configPath = Path.Combine(folder, "bad.json");
        File.WriteAllText(configPath, JsonSerializer.Serialize(Tiny with { Methods = [Tiny.Methods[0] with { HardLabelWeight = 2 }] }, ExperimentConfigs.Json));
        var (exit, _, stderr) = InProcessCli.Run("run", "distill", "--config", configPath, "--out", folder);
        Assert.Equal(ExitCodes.BadInput, exit);
        Assert.Contains("DistillConfig.Methods[0].HardLabelWeight must be in [0, 1]", stderr);
        Assert.False(Directory.Exists(Path.Combine(folder, "distill")));
    }
}

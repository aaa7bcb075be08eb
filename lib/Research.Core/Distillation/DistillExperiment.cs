using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Research.Data;
using Research.Experiments;
using Research.Models;
using Research.Training;
using static TorchSharp.torch;

namespace Research.Distillation;

/// <summary>The teacher of a run.</summary>
/// <param name="Cached">True when its weights were loaded from the cache folder instead of trained in this run.</param>
/// <param name="Seconds">Training time (of the run that trained it, when cached).</param>
public sealed record TeacherResult(long Parameters, int Steps, double Accuracy, double ValidationLoss, bool Cached, double Seconds,
    IReadOnlyList<LogPoint> Curve);

/// <summary>One trained student.</summary>
/// <param name="Accuracy">Exact match of its greedy answers on the validation problems (the rule-based check).</param>
/// <param name="ValidationLoss">Mean cross-entropy (nats) of the true answer tokens, EOS included, on the validation problems.</param>
/// <param name="TeacherKl">KL(p_teacher ‖ q_student) at T = 1 on the validation answer tokens: how close it came to the teacher.</param>
public sealed record MethodResult(string Name, DistillObjective Objective, DistillData Data, double Temperature, double Beta,
    int TopK, double HardLabelWeight, [property: Column(Format = "P1")] double Accuracy, [property: Column(Format = "F4")] double ValidationLoss,
    [property: Column(Format = "F4")] double TeacherKl, [property: Column(Format = "F1")] double Seconds, [property: Column(Format = "N0")] double TokensPerSecond,
    IReadOnlyList<LogPoint> Curve);

/// <summary>The forward-KL student at one temperature.</summary>
public sealed record SweepPoint(double Temperature, [property: Column(Format = "P1")] double Accuracy, [property: Column(Format = "F4")] double ValidationLoss,
    [property: Column(Format = "F4")] double TeacherKl);

/// <summary>A model's next-token probabilities at the example position, one per vocabulary entry.</summary>
public sealed record TokenDistribution(string Model, IReadOnlyList<double> Probabilities);

/// <summary>A row of <c>next_token_example.csv</c>: one model's probability of one vocabulary entry.</summary>
public sealed record NextTokenRow(string Model, string Token, double Probability);

/// <summary>
/// One validation problem and the answer position where the teacher is least sure (largest entropy), with the
/// teacher's and every student's next-token distribution there.
/// </summary>
/// <param name="Prefix">The tokens the models condition on, as text (^ = BOS).</param>
/// <param name="Target">The true next token.</param>
/// <param name="Tokens">Vocabulary labels, index-aligned with every distribution.</param>
public sealed record NextTokenExample(string Problem, string Prefix, string Target, double TeacherEntropy,
    IReadOnlyList<string> Tokens, IReadOnlyList<TokenDistribution> Distributions);

/// <summary>Result of <c>distill</c>.</summary>
public sealed record DistillResult(TeacherResult Teacher, long StudentParameters, int StudentSteps, long StudentTokens,
    IReadOnlyList<MethodResult> Methods, IReadOnlyList<SweepPoint> TemperatureSweep, NextTokenExample Example);

/// <summary>
/// Teacher → student distillation on a verifiable task (R1 §2.4 at toy scale): which loss lets a small model keep
/// most of a larger one's accuracy, at the same size, budget and seed? Students see either the scarce labelled pool
/// (with the teacher's logits on it) or fresh prompts answered by the teacher (sequence-level distillation).
/// </summary>
public static class DistillExperiment
{
    public const string Id = "distill";

    // Seed offsets: one stream per purpose, so adding a method never changes another's numbers.
    private const int TeacherInitStream = 0, TeacherDataStream = 1, ValidationStream = 2, PoolStream = 3,
        StudentInitStream = 4, StudentBatchStream = 5, PromptStream = 6;

    /// <summary>
    /// Runs the experiment. With <paramref name="cacheFolder"/>, the teacher is loaded from
    /// <c>distill-teacher-&lt;hash&gt;.bin</c> there when a run with the same teacher settings trained it before.
    /// </summary>
    public static SeededResult<DistillResult> Run(DistillConfig config, Device device, string? cacheFolder = null,
        IProgress<ExperimentProgress>? progress = null, CancellationToken cancellation = default) =>
        Experiment.Run(config, new ExperimentRequest(device, CacheFolder: cacheFolder, Progress: progress, Cancellation: cancellation));

    private static DistillResult RunSeed(DistillConfig config, Device device, string? cacheFolder,
        IProgress<ExperimentProgress>? progress, CancellationToken cancellation)
    {
        var task = new ArithmeticTask(config.Task);
        var plan = Plan(config);
        using var scope = NewDisposeScope();
        var validationProblems = task.Sample(config.ValidationExamples, Stream(config, ValidationStream));
        var validation = task.ToBatch(validationProblems, device);
        var validationPrompts = task.Prompts(validationProblems, device);

        var teacherPath = cacheFolder is null ? null : Path.Combine(cacheFolder, $"distill-teacher-{TeacherKey(config)}");
        bool cached = teacherPath is not null && File.Exists(teacherPath + ".bin");
        // A cache that cannot take the teacher is found now, not after the minutes it takes to train one.
        if (cacheFolder is not null && !cached) ExperimentWriter.PrepareFolder(cacheFolder, "cache");
        int total = (cached ? 0 : config.TeacherTraining.Steps) + plan.Count * config.StudentTraining.Steps;
        using var teacher = new LanguageModel(config.Teacher, device, DeviceStream(config, TeacherInitStream, device));
        var (teacherCurve, teacherSeconds) = cached
            ? LoadTeacher(teacher, teacherPath!)
            : TrainTeacher(config, task, teacher, validation, device, teacherPath, ShiftedProgress.Create(progress, "teacher", 0, total), cancellation);
        teacher.eval();
        Tensor teacherLogits;   // [N, S, V] on the validation set: every student's KL and the example are read from it
        using (no_grad()) teacherLogits = teacher.forward(validation.Inputs);
        var teacherScore = Score(task, teacher, teacherLogits, validationProblems, validation, validationPrompts);
        var teacherResult = new TeacherResult(teacher.ParameterCount, config.TeacherTraining.Steps, teacherScore.Accuracy,
            teacherScore.ValidationLoss, cached, teacherSeconds, teacherCurve);

        var example = ExamplePosition(teacherLogits, validation);
        var pool = task.ToBatch(task.Sample(config.LabelledExamples, Stream(config, PoolStream)), device);
        var methods = new List<MethodResult>();
        var distributions = new List<TokenDistribution> { new("teacher", Probabilities(teacher, validation, example)) };
        long studentParameters = 0, studentTokens = 0;
        int done = cached ? 0 : config.TeacherTraining.Steps;
        foreach (var method in plan)
        {
            using var student = new LanguageModel(config.Student, device, DeviceStream(config, StudentInitStream, device));
            studentParameters = student.ParameterCount;
            using var trainer = new Trainer(student, config.StudentTraining);
            long start = Stopwatch.GetTimestamp();   // the teacher's logits on the pool, computed up front, count as the student's time
            var lossAt = StudentLoss(config, task, method, student, teacher, pool, device);
            var curve = trainer.Run(lossAt, () => AnswerLoss(student, validation).item<float>(),
                progress: ShiftedProgress.Create(progress, method.Name, done, total), stage: method.Name, cancellation: cancellation);
            double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            done += config.StudentTraining.Steps;
            student.eval();
            var score = Score(task, student, teacherLogits, validationProblems, validation, validationPrompts);
            studentTokens = curve[^1].Tokens;
            methods.Add(new MethodResult(method.Name, method.Objective, method.Data, method.Temperature, method.Beta, method.TopK,
                method.HardLabelWeight, score.Accuracy, score.ValidationLoss, score.TeacherKl, seconds, curve[^1].Tokens / curve[^1].Seconds, curve));
            distributions.Add(new(method.Name, Probabilities(student, validation, example)));
        }
        progress?.Report(new ExperimentProgress("done", total, total));

        var sweepBase = config.SweepBase;
        var sweep = config.TemperatureSweep.Select(t =>
        {
            var run = methods.First(m => SweepRun(m.Objective, m.Data, m.HardLabelWeight, m.Temperature, sweepBase!, t));
            return new SweepPoint(t, run.Accuracy, run.ValidationLoss, run.TeacherKl);
        }).ToList();
        var shown = methods.Where(m => config.Methods.Any(c => c.Name == m.Name)).ToList();
        var (row, column) = example;
        var prefix = validation.Inputs[row, ..(column + 1)].cpu().data<long>().ToArray();
        var target = validation.Targets[row, column].item<long>();
        var exampleResult = new NextTokenExample(task.Render(validationProblems[row]), task.RenderTokens(prefix),
            ArithmeticVocabulary.Show(target).ToString(), Entropy(distributions[0].Probabilities),
            [.. Enumerable.Range(0, ArithmeticVocabulary.Size).Select(i => ArithmeticVocabulary.Show(i).ToString())],
            [distributions[0], .. distributions.Skip(1).Where(d => shown.Any(m => m.Name == d.Model))]);
        return new DistillResult(teacherResult, studentParameters, config.StudentTraining.Steps, studentTokens, shown, sweep, exampleResult);
    }

    /// <summary>The methods to train: the configured ones, then forward KL at each sweep temperature not already listed.</summary>
    public static IReadOnlyList<DistillMethod> Plan(DistillConfig config)
    {
        var plan = config.Methods.ToList();
        if (config.SweepBase is { } b)
            foreach (var t in config.TemperatureSweep)
                if (!plan.Any(m => SweepRun(m.Objective, m.Data, m.HardLabelWeight, m.Temperature, b, t)))
                    plan.Add(b with { Name = $"{b.Name} T={t:0.###}", Temperature = t });
        return plan;
    }

    // A run is the sweep's point at temperature t when it is the sweep's forward KL on the same data and mix at t.
    private static bool SweepRun(DistillObjective objective, DistillData data, double hardLabelWeight, double temperature, DistillMethod sweepBase, double t) =>
        objective == DistillObjective.ForwardKl && data == sweepBase.Data && hardLabelWeight == sweepBase.HardLabelWeight && temperature == t;

    /// <summary>
    /// The loss of one student step. Labelled methods draw a batch from the pool (the same indices for every method);
    /// sequence-level ones draw fresh prompts and label them with the teacher's greedy answers.
    /// </summary>
    public static Func<int, StepLoss> StudentLoss(DistillConfig config, ArithmeticTask task, DistillMethod method, LanguageModel student,
        LanguageModel teacher, LmBatch pool, Device device)
    {
        var batches = Stream(config, StudentBatchStream);
        long poolSize = pool.Inputs.shape[0];
        bool softLoss = method.Objective is not (DistillObjective.CrossEntropy or DistillObjective.SequenceLevel);
        var prompts = Stream(config, PromptStream);
        // The teacher is frozen, so its logits on the labelled pool are computed once, not once per step: a batch
        // selects rows of them. At the kit's shapes a row's logits do not depend on the other rows of its batch (the
        // references re-run bit for bit). The caller's dispose scope owns them.
        Tensor? poolLogits = null;
        if (softLoss && method.Data == DistillData.Labelled)
            using (no_grad()) poolLogits = teacher.forward(pool.Inputs);                        // [P, S, V]
        return _ =>
        {
            LmBatch batch;
            Tensor? teacherLogits = null;
            if (method.Data == DistillData.Labelled)
            {
                var index = randint(0, poolSize, [config.BatchSize], generator: batches).to(device);
                batch = pool.Rows(index);
                teacherLogits = poolLogits?.index_select(0, index);
            }
            else
            {
                // Generated per step, not up front: greedy decoding of every step's prompts at once was no faster
                // (batches of 512 to 4096 rows cost as much per row) and held each decoding step's activations.
                var questions = task.Prompts(task.Sample(config.BatchSize, prompts), device);
                batch = task.ToBatch(questions, Generation.Greedy(teacher, questions, task.AnswerLength));
            }
            var logits = student.forward(batch.Inputs);                                  // [B, S, V]
            var hard = LanguageModel.CrossEntropy(logits, batch.Targets, batch.LossMask);      // logits are reused by the soft loss
            Tensor loss = hard;
            if (softLoss)
            {
                using (no_grad()) teacherLogits ??= teacher.forward(batch.Inputs);      // [B, S, V], a constant target
                var soft = method.Objective switch
                {
                    DistillObjective.ForwardKl => Losses.ForwardKl(logits, teacherLogits, method.Temperature, batch.LossMask),
                    DistillObjective.ReverseKl => Losses.ReverseKl(logits, teacherLogits, method.Temperature, batch.LossMask),
                    DistillObjective.Jsd => Losses.GeneralizedJsd(logits, teacherLogits, method.Beta, method.Temperature, batch.LossMask),
                    DistillObjective.TopK => Losses.TopKForwardKl(logits, teacherLogits, method.TopK, method.Temperature, batch.LossMask),
                    _ => throw new InvalidOperationException($"no soft loss for {method.Objective}"),
                };
                loss = Losses.Mix(hard, soft, method.HardLabelWeight);
            }
            return new StepLoss(loss, batch.Inputs.numel());
        };
    }

    private static (IReadOnlyList<LogPoint> Curve, double Seconds) TrainTeacher(DistillConfig config, ArithmeticTask task, LanguageModel teacher,
        LmBatch validation, Device device, string? cachePath, IProgress<ExperimentProgress>? progress, CancellationToken cancellation)
    {
        using var trainer = new Trainer(teacher, config.TeacherTraining);
        long start = Stopwatch.GetTimestamp();
        var curve = trainer.Run(FreshProblems(task, teacher, config.BatchSize, Stream(config, TeacherDataStream), device),
            () => AnswerLoss(teacher, validation).item<float>(), progress: progress, stage: "teacher", cancellation: cancellation);
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        if (cachePath is not null)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(cachePath)!);
            // The curve first, the weights last: a .bin file exists only once both are complete.
            AtomicFile.Write(cachePath + ".json", path => File.WriteAllText(path, JsonSerializer.Serialize(new TeacherCache(seconds, curve), ExperimentConfigs.Json)));
            AtomicFile.Write(cachePath + ".bin", path => teacher.save(path));
        }
        return (curve, seconds);
    }

    private sealed record TeacherCache(double Seconds, IReadOnlyList<LogPoint> Curve);

    private static (IReadOnlyList<LogPoint>, double) LoadTeacher(LanguageModel teacher, string cachePath)
    {
        teacher.load(cachePath + ".bin");
        var cache = File.Exists(cachePath + ".json")
            ? JsonSerializer.Deserialize<TeacherCache>(File.ReadAllText(cachePath + ".json"), ExperimentConfigs.Json)
            : null;
        return (cache?.Curve ?? [], cache?.Seconds ?? double.NaN);
    }

    /// <summary>Cross-entropy of the batch's masked targets (the answer tokens) under <paramref name="model"/>.</summary>
    public static Tensor AnswerLoss(LanguageModel model, LmBatch batch) =>
        LanguageModel.CrossEntropy(model.forward(batch.Inputs), batch.Targets, batch.LossMask);

    /// <summary>Steps on a fresh batch of labelled problems from <paramref name="data"/>: how the teacher trains (and
    /// what <c>bench lm</c> times).</summary>
    public static Func<int, StepLoss> FreshProblems(ArithmeticTask task, LanguageModel model, int batchSize, Generator data, Device device) => _ =>
    {
        var batch = task.ToBatch(task.Sample(batchSize, data), device);
        return new StepLoss(AnswerLoss(model, batch), batch.Inputs.numel());
    };

    /// <summary>A short hash of everything that decides the teacher's weights.</summary>
    public static string TeacherKey(DistillConfig config)
    {
        // The code and libraries that trained it are part of its identity: a teacher from another kit commit or libtorch
        // would make this run's numbers differ from a fresh one's.
        var versions = Platform.KitVersions.Current();
        var identity = JsonSerializer.Serialize(new { config.Task, config.Teacher, config.TeacherTraining, config.BatchSize, Seed = config.RunSeed(), Format = 1,
                versions.KitCommit, versions.TorchSharp, versions.LibTorch },
            ExperimentConfigs.Json);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(identity)))[..16];
    }

    private readonly record struct Scores(double Accuracy, double ValidationLoss, double TeacherKl);

    // teacherLogits: the teacher's [N, S, V] on the validation inputs (for the teacher itself its KL is 0).
    private static Scores Score(ArithmeticTask task, LanguageModel model, Tensor teacherLogits, IReadOnlyList<ArithmeticProblem> problems,
        LmBatch validation, Tensor prompts)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var logits = model.forward(validation.Inputs);
        double loss = LanguageModel.CrossEntropy(logits, validation.Targets, validation.LossMask).item<float>();
        double kl = Losses.ForwardKl(logits, teacherLogits, 1, validation.LossMask).item<float>();
        double accuracy = task.ExactMatch(problems, Generation.Greedy(model, prompts, task.AnswerLength));
        return new Scores(accuracy, loss, kl);
    }

    // The validation answer position where the teacher's next-token entropy is largest (read on the CPU: a NaN or a
    // tie must not pick a prompt position).
    private static (int Row, int Column) ExamplePosition(Tensor teacherLogits, LmBatch validation)
    {
        using var scope = NewDisposeScope();
        var logProbs = teacherLogits.log_softmax(-1).to_type(ScalarType.Float64);                          // [N, S, V]
        var entropy = -(logProbs.exp() * logProbs).nan_to_num(0).sum(-1);                               // [N, S]
        int columns = (int)entropy.shape[1];
        var values = entropy.cpu().contiguous().data<double>().ToArray();
        var kept = validation.LossMask.cpu().contiguous().data<bool>().ToArray();
        int best = Enumerable.Range(0, values.Length).Where(i => kept[i]).MaxBy(i => values[i]);
        return (best / columns, best % columns);
    }

    private static double[] Probabilities(LanguageModel model, LmBatch validation, (int Row, int Column) at)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var logits = model.forward(validation.Inputs[at.Row..(at.Row + 1)]);
        return logits[0, at.Column].softmax(-1).to_type(ScalarType.Float64).cpu().data<double>().ToArray();
    }

    private static double Entropy(IReadOnlyList<double> p) => -p.Where(x => x > 0).Sum(x => x * Math.Log(x));

    // Data streams are CPU generators (problems are drawn on the CPU); weights are drawn on the run's device.
    private static Generator Stream(DistillConfig config, int offset) => new((ulong)Seeding.Stream(config.RunSeed(), offset));

    private static Generator DeviceStream(DistillConfig config, int offset, Device device) => new((ulong)Seeding.Stream(config.RunSeed(), offset), device);

    /// <summary>The experiment: default config from data/configs/distill.json.</summary>
    public static Experiment<DistillConfig, DistillResult> Experiment { get; } = new(
        Id,
        "Distillation: teacher → student on multi-digit addition",
        "A larger teacher trained once (cached in <out>/cache), then students of one size, budget and seed trained with " +
        "hard labels only, forward KL, reverse KL, generalized JSD, top-k KL and sequence-level distillation (fine-tuning " +
        "on the teacher's greedy answers, as DeepSeek-R1 distilled its small models), plus a temperature sweep. " +
        "Scored by exact match of greedy answers on held-out problems.",
        (config, _, request) => RunSeed(config, request.Device, request.CacheFolder, request.Progress, request.Cancellation), (config, seeded) => Output(config, seeded.First),
        config => Metrics(config))
    {
        Cached = true,
    };

    /// <summary>The method the others are compared with: plain cross-entropy on the labels ("ce") when the config runs it, else the first.</summary>
    public static string Baseline(DistillConfig config) => config.Methods.Any(m => m.Name == "ce") ? "ce" : config.Methods[0].Name;

    /// <summary>The equivalence margin of accuracy: within ±1 point of the baseline counts as no difference.</summary>
    public const double AccuracyMargin = 0.01;

    /// <summary>Each student's accuracy, validation loss and KL to the teacher against the baseline student's, paired by seed.</summary>
    public static IReadOnlyList<ExperimentMetric<DistillResult>> Metrics(DistillConfig config) =>
    [
        new("accuracy", Baseline(config), Statistics.Direction.Higher, r => r.Methods.Select(m => (m.Name, m.Accuracy)), AccuracyMargin)
            { Source = "methods[name].accuracy (exact match of greedy answers on the validation problems)", Trials = config.ValidationExamples },
        // Only a non-finite loss counts as diverged: a student that memorised a small labelled pool is confidently wrong on
        // held-out problems and can score far above ln V while training normally.
        new("validation loss", Baseline(config), Statistics.Direction.Lower, r => r.Methods.Select(m => (m.Name, m.ValidationLoss)))
            { Source = "methods[name].validationLoss (nats per answer token)" },
        new("KL to the teacher", Baseline(config), Statistics.Direction.Lower, r => r.Methods.Select(m => (m.Name, m.TeacherKl)))
            { Source = "methods[name].teacherKl (nats per answer token)" },
    ];

    public static ExperimentDefinition Definition => Experiment.Definition;

    /// <summary>Summary lines, tables and charts of a run.</summary>
    public static ExperimentOutput Output(DistillConfig config, DistillResult result)
    {
        var t = result.Teacher;
        var summary = new List<string>
        {
            $"teacher: {t.Parameters:N0} parameters, {t.Steps} steps{(t.Cached ? " (loaded from cache)" : $" in {t.Seconds:F1} s")}: " +
            $"exact match {t.Accuracy:P1}, validation loss {t.ValidationLoss:F4}",
            $"students: {result.StudentParameters:N0} parameters, {result.StudentSteps} steps, {result.StudentTokens:N0} tokens each; " +
            $"labelled pool {config.LabelledExamples} problems; accuracy is exact match, teacher_kl is KL(teacher‖student)",
        };
        summary.Add($"example {result.Example.Problem}: after {result.Example.Prefix} the teacher's entropy is {result.Example.TeacherEntropy:F3} nats");

        var methods = ResultTable.Of("methods", result.Methods);
        var curves = ResultTable.Of("loss_curves", "model",
            t.Curve.Select(p => ("teacher", p)).Concat(result.Methods.SelectMany(m => m.Curve.Select(p => (m.Name, p)))), display: false);
        var sweep = ResultTable.Of("temperature_sweep", result.TemperatureSweep);
        var example = ResultTable.Of("next_token_example", result.Example.Distributions.SelectMany(d =>
            d.Probabilities.Select((p, i) => new NextTokenRow(d.Model, result.Example.Tokens[i], p))), display: false);
        return new ExperimentOutput(config, config.Seeds, result, summary, [methods, curves, sweep, example],
        [
            new NamedChart("accuracy", "Exact-match accuracy per method", DistillCharts.Accuracy(result)),
            new NamedChart("validation-loss", "Validation loss by step", DistillCharts.ValidationLoss(result)),
            new NamedChart("temperature-sweep", "Forward KL: accuracy against temperature", DistillCharts.TemperatureSweep(result)),
            new NamedChart("next-token", "Teacher's and students' next-token distributions", DistillCharts.NextToken(result)),
        ]);
    }

}

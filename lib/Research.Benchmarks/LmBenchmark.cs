using Research.Data;
using Research.Distillation;
using Research.Experiments;
using Research.Models;
using Research.Platform;
using Research.Training;
using static TorchSharp.torch;

namespace Research.Benchmarks;

/// <summary>
/// Training throughput and memory of the kit's tiny LM: the <c>distill</c> student (or teacher) trained with
/// cross-entropy on fresh addition problems, as in that experiment.
/// </summary>
/// <param name="Steps">Optimizer steps; memory is sampled at <see cref="EarlyStep"/> and at the last step.</param>
/// <param name="EarlyStep">The step whose memory is the baseline (after warm-up of the allocators).</param>
/// <param name="Model">"student" or "teacher": which of distill's default models to train.</param>
public sealed record LmBenchmarkConfig(int Steps = 1000, int EarlyStep = 100, int BatchSize = 64, string Model = "student", int Seed = 0)
{
    /// <summary>The models the benchmark can train.</summary>
    public static IReadOnlyList<string> Models { get; } = ["student", "teacher"];

    public LmBenchmarkConfig Validated()
    {
        if (Steps < 2 || Steps > 1_000_000) throw new ConfigException($"LmBenchmarkConfig.Steps must be in 2..1000000 (got {Steps})");
        if (EarlyStep < 1 || EarlyStep >= Steps) throw new ConfigException($"LmBenchmarkConfig.EarlyStep must be in 1..Steps−1 ({Steps - 1}) (got {EarlyStep})");
        if (BatchSize < 1 || BatchSize > 65_536) throw new ConfigException($"LmBenchmarkConfig.BatchSize must be in 1..65536 (got {BatchSize})");
        if (!Models.Contains(Model)) throw new ConfigException($"LmBenchmarkConfig.Model must be one of {string.Join(", ", Models)} (got '{Model}')");
        return this;
    }
}

/// <param name="TokensPerSecond">Training tokens (input positions) per second of training-step time.</param>
/// <param name="MemoryGrowthMegabytes">Working set at the last step minus at the early step.</param>
public sealed record LmBenchmarkResult(string Model, long Parameters, int BatchSize, int SequenceLength, int Steps,
    double TokensPerSecond, double MillisecondsPerStep, MemorySample Early, MemorySample Last, double MemoryGrowthMegabytes,
    double FinalLoss, int TorchThreads, string Device);

public static class LmBenchmark
{
    public static LmBenchmarkResult Run(LmBenchmarkConfig config, Device device, IProgress<ExperimentProgress>? progress = null,
        CancellationToken cancellation = default)
    {
        config.Validated();
        TorchRuntime.EnsureLoaded();
        var distill = new DistillConfig();
        var task = new ArithmeticTask(distill.Task);
        var modelConfig = config.Model == "teacher" ? distill.Teacher : distill.Student;
        using var model = new LanguageModel(modelConfig, device, new Generator((ulong)config.Seed, device));
        var training = distill.StudentTraining with { Steps = config.Steps, WarmupSteps = Math.Min(distill.StudentTraining.WarmupSteps, config.Steps), LogEvery = config.Steps };
        using var trainer = new Trainer(model, training);
        var step = DistillExperiment.FreshProblems(task, model, config.BatchSize, new Generator((ulong)config.Seed + 1), device);
        MemorySample? early = null, last = null;
        double loss = 0;
        while (trainer.Step < config.Steps)
        {
            cancellation.ThrowIfCancellationRequested();
            (loss, _, _) = trainer.TrainStep(step);
            if (trainer.Step == config.EarlyStep) early = MemorySample.Now(trainer.Step);
            if (trainer.Step == config.Steps) last = MemorySample.Now(trainer.Step);
            if (trainer.Step % 10 == 0) progress?.Report(new ExperimentProgress("training", trainer.Step, config.Steps));
        }
        progress?.Report(new ExperimentProgress("done", config.Steps, config.Steps));
        var tokens = (long)config.Steps * config.BatchSize * (task.SequenceLength - 1);
        return new LmBenchmarkResult(config.Model, model.ParameterCount, config.BatchSize, task.SequenceLength - 1, config.Steps,
            tokens / trainer.TrainingSeconds, trainer.TrainingSeconds * 1000 / config.Steps, early!, last!,
            Math.Round(last!.WorkingSetMegabytes - early!.WorkingSetMegabytes, 1), loss, get_num_threads(), device.ToString());
    }
}

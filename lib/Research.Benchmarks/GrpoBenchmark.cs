using System.Diagnostics;
using Research.Experiments;
using Research.Platform;
using Research.Rl;
using Research.Training;
using static TorchSharp.torch;

namespace Research.Benchmarks;

/// <summary>
/// One GRPO step of the r1-zero experiment's small model (its default config: G = 8 responses for 32 prompts,
/// rule-based scoring, μ updates), split into sampling and update time; and the sampler with its KV cache against
/// the same sampler re-running the whole prefix for every token, on the same prompts and seed.
/// </summary>
/// <param name="PretrainSteps">Brief training of the model first, so responses end at EOS as a base model's do
/// (a random model rarely stops before the length limit).</param>
public sealed record GrpoBenchmarkConfig(int Prompts = 32, int GroupSize = 8, int Repetitions = 5, int Warmup = 1, int PretrainSteps = 150, int Seed = 0)
{
    public GrpoBenchmarkConfig Validated()
    {
        if (Prompts is < 1 or > 4096) throw new ConfigException($"GrpoBenchmarkConfig.Prompts must be in 1..4096 (got {Prompts})");
        if (GroupSize is < 2 or > 1024) throw new ConfigException($"GrpoBenchmarkConfig.GroupSize (G) must be in 2..1024 (got {GroupSize})");
        if (Repetitions is < 1 or > 1000) throw new ConfigException($"GrpoBenchmarkConfig.Repetitions must be in 1..1000 (got {Repetitions})");
        if (Warmup is < 0 or > 100) throw new ConfigException($"GrpoBenchmarkConfig.Warmup must be in 0..100 (got {Warmup})");
        if (PretrainSteps is < 0 or > 100_000) throw new ConfigException($"GrpoBenchmarkConfig.PretrainSteps must be in 0..100000 (got {PretrainSteps})");
        return this;
    }
}

/// <param name="SampleMilliseconds">Median time of one step's sampling (KV cache).</param>
/// <param name="UpdateMilliseconds">Median time of the rest of the step: scoring, old and reference log-probabilities, μ updates.</param>
/// <param name="SampledTokens">Response tokens per step (up to and including EOS), median over the timed steps.</param>
/// <param name="CachedTokensPerSecond">Sampled tokens per second of the sampler with its KV cache.</param>
/// <param name="UncachedTokensPerSecond">The same without the cache (every token re-runs the prompt and the response so far).</param>
/// <param name="Ratio">Cached over uncached time per sampled token (below 1: the cache is faster).</param>
/// <param name="Identical">The cached and uncached samplers drew the same tokens from the same seed.</param>
public sealed record GrpoBenchmarkResult(int Prompts, int GroupSize, int PolicyUpdates, long Parameters, double SampleMilliseconds,
    double UpdateMilliseconds, double SampledTokens, double CachedTokensPerSecond, double UncachedTokensPerSecond, double Ratio, bool Identical,
    int Repetitions, int TorchThreads, string Device);

public static class GrpoBenchmark
{
    public static GrpoBenchmarkResult Run(GrpoBenchmarkConfig config, Device device, IProgress<ExperimentProgress>? progress = null)
    {
        config.Validated();
        TorchRuntime.EnsureLoaded();
        var experiment = ExperimentConfigs.Load<R1ZeroConfig>(R1ZeroExperiment.Id).Validated();
        var grpo = experiment.Grpo with { PromptsPerStep = config.Prompts, GroupSize = config.GroupSize };
        var task = new ReasoningTask(experiment.Task);
        using var model = new Research.Models.LanguageModel(experiment.Small, device, new Generator((ulong)config.Seed, device));
        if (config.PretrainSteps > 0)
            R1ZeroExperiment.Pretrain(model, experiment.Pretraining with { Training = experiment.Pretraining.Training with
                { Steps = config.PretrainSteps, WarmupSteps = Math.Min(experiment.Pretraining.Training.WarmupSteps, config.PretrainSteps), LogEvery = config.PretrainSteps } },
                task, new Generator((ulong)config.Seed + 1), device);
        int runs = config.Warmup + config.Repetitions, total = 2 * runs;
        using var trainer = new Trainer(model, TrainerConfig.Constant(runs * grpo.PolicyUpdates, grpo.LearningRate));
        var prompts = new Generator((ulong)config.Seed + 2);
        var rollouts = new Generator((ulong)config.Seed + 3, device);
        var sample = new List<double>();
        var update = new List<double>();
        var tokens = new List<double>();
        for (int i = 0; i < runs; i++)
        {
            using var scope = NewDisposeScope();
            var (point, _) = Grpo.Step(model, null, trainer, grpo, task, task.Sample(config.Prompts, prompts), rollouts, i + 1, device);
            if (i >= config.Warmup)
            {
                sample.Add(point.SampleSeconds * 1000);
                update.Add(point.UpdateSeconds * 1000);
                tokens.Add(point.ResponseLength * config.Prompts * config.GroupSize);
            }
            progress?.Report(new ExperimentProgress("grpo steps", i + 1, total));
        }

        // The sampler alone, cached against uncached, on one fixed batch of prompts and one seed per repetition.
        var fixedPrompts = task.Prompts(task.Sample(config.Prompts, new Generator((ulong)config.Seed + 4)), device);
        var cached = new List<double>();
        var uncached = new List<double>();
        bool identical = true;
        double sampled = 0;
        for (int i = 0; i < runs; i++)
        {
            using var scope = NewDisposeScope();
            var (withCache, a) = Time(() => Sampler.Sample(model, fixedPrompts, config.GroupSize, grpo.Sampling, new Generator((ulong)i, device)));
            var (without, b) = Time(() => Sampler.Sample(model, fixedPrompts, config.GroupSize, grpo.Sampling, new Generator((ulong)i, device), useCache: false));
            identical &= a.Tokens.shape.SequenceEqual(b.Tokens.shape) && a.Tokens.eq(b.Tokens).all().item<bool>();
            sampled = a.Mask.sum().item<long>();
            if (i >= config.Warmup)
            {
                cached.Add(withCache / sampled);
                uncached.Add(without / sampled);
            }
            a.Dispose();
            b.Dispose();
            progress?.Report(new ExperimentProgress("sampler", runs + i + 1, total));
        }
        double cachedPerToken = Median(cached), uncachedPerToken = Median(uncached);
        return new GrpoBenchmarkResult(config.Prompts, config.GroupSize, grpo.PolicyUpdates, model.ParameterCount, Median(sample), Median(update),
            Median(tokens), 1 / cachedPerToken, 1 / uncachedPerToken, cachedPerToken / uncachedPerToken, identical, config.Repetitions,
            get_num_threads(), device.ToString());
    }

    private static (double Seconds, Rollout Rollout) Time(Func<Rollout> sample)
    {
        long start = Stopwatch.GetTimestamp();
        var rollout = sample();
        return (Stopwatch.GetElapsedTime(start).TotalSeconds, rollout);
    }

    private static double Median(List<double> values) => MathNet.Numerics.Statistics.Statistics.Median(values);
}

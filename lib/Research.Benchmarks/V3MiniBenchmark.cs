using Research.Models;
using System.Diagnostics;
using Research.Data;
using Research.Experiments;
using Research.Mtp;
using Research.Platform;
using Research.V3Mini;
using static TorchSharp.torch;

namespace Research.Benchmarks;

/// <summary>One training step (forward, backward, AdamW, bias update) of the v3-mini full model against its ablations.</summary>
/// <param name="Repetitions">Timed steps per variant, interleaved round-robin after one warm-up step each.</param>
public sealed record V3MiniBenchmarkConfig(int Repetitions = 30, int BatchSize = 16, int Seed = 0)
{
    /// <summary>The variants timed: the full model, three ablations, and the baseline with all three swapped at once.</summary>
    public static IReadOnlyList<string> Variants { get; } = [V3MiniAblations.FullName, "dense-ffn", "mha", "fp32", Baseline];

    /// <summary>FP32 GEMMs, dense FFN and MHA together: the plain transformer the ratio is taken against.</summary>
    public const string Baseline = "fp32-dense-mha";

    public V3MiniBenchmarkConfig Validated()
    {
        const string me = nameof(V3MiniBenchmarkConfig);
        if (Repetitions is < 1 or > 1000) throw new ConfigException($"{me}.Repetitions must be in 1..1000 (got {Repetitions})");
        if (BatchSize is < 1 or > 1024) throw new ConfigException($"{me}.BatchSize must be in 1..1024 (got {BatchSize})");
        return this;
    }
}

/// <param name="Milliseconds">Median step time of the variant.</param>
/// <param name="RatioToBaseline">Its median over the baseline's.</param>
public sealed record V3MiniBenchmarkVariant(string Name, long TotalParameters, long ActivatedParameters, [property: Column("ms", Format = "F1")] double Milliseconds,
    [property: Column(Format = "F2")] double RatioToBaseline, [property: Column(Format = "F4")] double Loss);

/// <param name="Ratio">Full model / FP32-dense-MHA baseline step time.</param>
/// <param name="Fp8Ratio">Full model / its FP32 ablation: what simulated FP8 GEMMs cost (goal ≤ <see cref="Fp8Goal"/>).</param>
/// <param name="AllFinite">Every timed step's loss was finite (the self-check).</param>
public sealed record V3MiniBenchmarkResult(IReadOnlyList<V3MiniBenchmarkVariant> Variants, double Ratio, double Fp8Ratio, bool AllFinite, int Repetitions,
    int BatchSize, int SequenceLength, int TorchThreads, string Device)
{
    /// <summary>Simulated FP8 may cost at most this much over FP32 per step: rounding is a few passes over each
    /// operand, small beside the GEMMs it feeds.</summary>
    public const double Fp8Goal = 1.8;

    public bool Fp8GoalMet => Fp8Ratio <= Fp8Goal;
}

public static class V3MiniBenchmark
{
    public static V3MiniBenchmarkResult Run(V3MiniBenchmarkConfig config, Device device, IProgress<ExperimentProgress>? progress = null)
    {
        config.Validated();
        TorchRuntime.EnsureLoaded();
        var experiment = ExperimentConfigs.Load<V3MiniExperimentConfig>(V3MiniExperiment.Id) with { BatchSize = config.BatchSize };
        var corpus = new MultiDomainCorpus(experiment.Corpus);
        var models = V3MiniBenchmarkConfig.Variants.Select(name =>
        {
            var c = name == V3MiniBenchmarkConfig.Baseline
                ? V3MiniAblations.Of("dense-ffn", experiment with { Model = V3MiniAblations.Of("mha", experiment) with { Fp8 = null } }) with { Fp8 = null }
                : V3MiniAblations.Of(name, experiment);
            var mini = new LanguageModel(c, device, new TorchSharp.torch.Generator((ulong)config.Seed, device));
            return (Name: name, Mini: mini, Optimizer: optim.AdamW(mini.parameters(), 1e-3));
        }).ToList();
        var times = models.Select(_ => new List<double>()).ToList();
        var losses = models.Select(_ => 0.0).ToArray();
        bool finite = true;
        var rng = new Random(config.Seed + 1);
        try
        {
            int total = (config.Repetitions + 1) * models.Count, done = 0;
            for (int rep = 0; rep <= config.Repetitions; rep++)
                for (int i = 0; i < models.Count; i++)
                {
                    var (_, mini, optimizer) = models[i];
                    using var scope = NewDisposeScope();
                    using var batch = SequenceBatch.FromCorpus(corpus, config.BatchSize, rng, device);
                    long start = Stopwatch.GetTimestamp();
                    mini.train();
                    optimizer.zero_grad();
                    var loss = mini.Losses(batch.Sequences, experiment.Lambda, batch.Mask).Total;
                    loss.backward();
                    optimizer.step();
                    mini.UpdateBiases();
                    double value = loss.item<float>();
                    if (rep > 0) times[i].Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                    finite &= double.IsFinite(value);
                    losses[i] = value;
                    progress?.Report(new ExperimentProgress("bench v3-mini", ++done, total));
                }
            double Median(List<double> t) => MathNet.Numerics.Statistics.Statistics.Median(t);
            double baseline = Median(times[^1]);
            var variants = models.Select((m, i) =>
            {
                var count = Accounting.ParameterCounting.Count(m.Mini.Config);
                return new V3MiniBenchmarkVariant(m.Name, count.Total, count.Activated, Median(times[i]), Median(times[i]) / baseline, losses[i]);
            }).ToList();
            double fp32 = variants.Single(v => v.Name == "fp32").Milliseconds;
            return new V3MiniBenchmarkResult(variants, variants[0].RatioToBaseline, variants[0].Milliseconds / fp32, finite, config.Repetitions, config.BatchSize,
                experiment.Corpus.SequenceLength, get_num_threads(), device.ToString());
        }
        finally
        {
            foreach (var (_, mini, optimizer) in models)
            {
                optimizer.Dispose();
                mini.Dispose();
            }
        }
    }
}

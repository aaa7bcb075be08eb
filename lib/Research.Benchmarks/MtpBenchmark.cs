using Research.Experiments;
using Research.Mtp;
using static TorchSharp.torch;

namespace Research.Benchmarks;

/// <summary>
/// Self-speculative decoding against plain cached greedy decoding on a model trained with MTP: the mtp experiment's
/// corpus run (its data, λ schedule, prompts and decoders) at one depth D and one seed, with the main model's layer
/// count as a knob.
/// </summary>
/// <param name="Layers">Main-model layers. 8 by default (the experiment trains 4): the draft costs one block plus a
/// projection whatever the main model's depth, so the speed-up grows with depth; V3's one MTP block sits beside 61.</param>
/// <param name="Steps">Training steps on the corpus.</param>
/// <param name="Depth">D, the MTP depths trained.</param>
/// <param name="DraftDepth">Depths chained into each draft (V3: 1); at most D.</param>
/// <param name="Repetitions">Timed passes over the prompts, after one warm-up pass.</param>
public sealed record MtpBenchmarkConfig(int Layers = 8, int Steps = 300, int Depth = 1, int DraftDepth = 1, int Repetitions = 5, int Seed = 0)
{
    /// <summary>V3 §5.4.3 reports 1.8×; the goal for the toy on a quiet machine.</summary>
    public const double Goal = 1.3;

    public MtpBenchmarkConfig Validated()
    {
        const string me = nameof(MtpBenchmarkConfig);
        if (Layers is < 1 or > 64) throw new ConfigException($"{me}.Layers must be in 1..64 (got {Layers})");
        if (Steps is < 1 or > 100_000) throw new ConfigException($"{me}.Steps must be in 1..100000 (got {Steps})");
        if (Depth is < 1 or > 8) throw new ConfigException($"{me}.Depth (D) must be in 1..8: speculative decoding drafts with the MTP depths (got {Depth})");
        if (DraftDepth < 1 || DraftDepth > Depth)
            throw new ConfigException($"{me}.DraftDepth must be in 1..{Depth} (the trained MTP depth D): a draft cannot use a depth the model was not trained with (got {DraftDepth})");
        if (Repetitions is < 1 or > 100) throw new ConfigException($"{me}.Repetitions must be in 1..100 (got {Repetitions})");
        return this;
    }

    /// <summary>The mtp experiment's default config reduced to this benchmark's one corpus run.</summary>
    public MtpExperimentConfig Experiment()
    {
        var defaults = ExperimentConfigs.Load<MtpExperimentConfig>(MtpExperiment.Id);
        return (defaults with
        {
            CorpusModel = defaults.CorpusModel with { NumHiddenLayers = Layers },
            CorpusTraining = defaults.CorpusTraining with { Steps = Steps, WarmupSteps = Math.Min(defaults.CorpusTraining.WarmupSteps, Steps), LogEvery = Steps },
            Addition = null,
            Depths = [Depth],
            DraftDepth = DraftDepth,
            DecodeRepetitions = Repetitions + 1,
            Seeds = [Seed],
        }).Validated();
    }
}

/// <param name="Ratio">Speculative over plain tokens per second (medians over the timed passes).</param>
/// <param name="PredictedRatio">What the parts of one step predict (<see cref="DecodeCost.PredictedSpeedup"/>).</param>
/// <param name="Identical">Both decoders gave the same tokens for every prompt.</param>
/// <param name="TorchThreads">Intra-op threads while decoding (both decoders run on one; batch-1 rows gain nothing from more).</param>
public sealed record MtpBenchmarkResult(int Layers, int Dim, int Depth, int DraftDepth, long Parameters, long MtpParameters, int Steps,
    double ValidationLoss, int Prompts, int TokensPerPrompt, double PlainTokensPerSecond, double SpeculativeTokensPerSecond, double Ratio,
    double PredictedRatio, double AcceptanceRate, double TokensPerForward, bool Identical, int Repetitions, int TorchThreads, string Device)
{
    public double Goal => MtpBenchmarkConfig.Goal;

    public bool GoalMet => Ratio >= Goal;
}

public static class MtpBenchmark
{
    public static MtpBenchmarkResult Run(MtpBenchmarkConfig config, Device device, IProgress<ExperimentProgress>? progress = null)
    {
        var experiment = config.Validated().Experiment();
        var run = MtpExperiment.Run(experiment, device, progress).First.Runs.Single();
        var d = run.Decoding!;
        return new MtpBenchmarkResult(config.Layers, experiment.CorpusModel.HiddenSize, config.Depth, config.DraftDepth, run.Parameters, run.MtpParameters,
            config.Steps, run.ValidationLoss, d.Prompts, d.TokensPerPrompt, d.PlainTokensPerSecond, d.SpeculativeTokensPerSecond, d.Speedup, d.PredictedSpeedup,
            d.AcceptanceRate, d.TokensPerForward, d.Identical, config.Repetitions, MtpExperiment.DecodeThreads, device.ToString());
    }
}

using MathNet.Numerics.Distributions;
using MathNet.Numerics.Random;
using Research.Experiments;
using Research.Statistics;
using Xunit;
using static TorchSharp.torch;

namespace Research.Tests.Experiments;

/// <summary>A simulated experiment: each arm's loss at a seed is its planted shift plus noise drawn from the seed.</summary>
/// <param name="Shifts">Each arm's true loss minus the baseline's ("base" is the baseline, always 0).</param>
/// <param name="Diverge">Arm and seed whose run returns NaN (a diverged run), or null.</param>
public sealed record SimulatedConfig(IReadOnlyDictionary<string, double> Shifts, double SeedSd = 2.0, double NoiseSd = 0.1,
    (string Arm, int Seed)? Diverge = null) : IExperimentConfig<SimulatedConfig>
{
    public IReadOnlyList<int> Seeds { get; init; } = [0];

    public SimulatedConfig WithSeeds(IReadOnlyList<int> seeds) => this with { Seeds = seeds };

    public SimulatedConfig Validated() => this;
}

public sealed record SimulatedResult(IReadOnlyList<(string Arm, double Loss)> Losses);

public sealed class ExperimentSeedsTests
{
    private const double Margin = 0.2, DivergedAbove = 100;

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    private static readonly List<int> SeedsRun = [];

    private static readonly Experiment<SimulatedConfig, SimulatedResult> Simulated = new("simulated", "Simulated", "Planted effects.",
        (config, seed, _) =>
        {
            SeedsRun.Add(seed);
            var rng = new MersenneTwister(seed);
            double shared = Normal.Sample(rng, 0, config.SeedSd);   // what a seed moves for every arm (init, data order)
            return new SimulatedResult([.. new[] { ("base", 0.0) }.Concat(config.Shifts.Select(kv => (kv.Key, kv.Value))).Select(a =>
                (a.Item1, config.Diverge == (a.Item1, seed) ? double.NaN : 10 + a.Item2 + shared + Normal.Sample(rng, 0, config.NoiseSd)))]);
        },
        (config, seeded) => new ExperimentOutput(config, seeded.Seeds, seeded, [], [], []),
        _ => [new ExperimentMetric<SimulatedResult>("loss", "base", Direction.Lower, r => r.Losses, Margin, DivergedAbove)]);

    private static SimulatedConfig Planted(int seeds, double better = -1, double worse = 1, double none = 0) =>
        new(new Dictionary<string, double> { ["better"] = better, ["worse"] = worse, ["same"] = none }, NoiseSd: 0.02) { Seeds = [.. Enumerable.Range(0, seeds)] };

    private static Verdict VerdictOf(SeededResult<SimulatedResult> result, string arm) => result.Comparison("loss")[arm].Verdict;

    [Fact]
    public void Each_seed_runs_once_in_order_and_the_result_keeps_that_order()
    {
        SeedsRun.Clear();
        var result = Simulated.Run(Planted(3) with { Seeds = [4, 1, 9] }, CPU, cancellation: Token);

        Assert.Equal([4, 1, 9], SeedsRun);
        Assert.Equal([4, 1, 9], result.PerSeed.Select(r => r.Seed));
        Assert.Equal([4, 1, 9], result.Seeds);
        Assert.Equal(["base", "better", "worse", "same"], result.Comparison("loss").Arms.Select(a => a.Arm));
    }

    [Fact]
    public void Planted_effects_far_above_the_noise_are_found_with_their_sign_and_no_effect_is_equivalent()
    {
        var result = Simulated.Run(Planted(5), CPU, cancellation: Token);

        Assert.Equal(Verdict.Better, VerdictOf(result, "better"));
        Assert.Equal(Verdict.Worse, VerdictOf(result, "worse"));
        Assert.Equal(Verdict.Equivalent, VerdictOf(result, "same"));   // Δ's SE ≈ 0.013 against a margin of 0.2
        // The paired differences remove the seed's shared shift (SD 2), so Δ is the planted shift within the noise
        Assert.InRange(result.Comparison("loss")["better"].Mean, -1.2, -0.8);
    }

    [Fact]
    public void Fewer_than_three_seeds_decide_nothing_however_large_the_effect()
    {
        var result = Simulated.Run(Planted(2, better: -50, worse: 50), CPU, cancellation: Token);

        Assert.All(result.Comparison("loss").Comparisons, c => Assert.Equal(Verdict.Inconclusive, c.Verdict));
        Assert.All(result.Comparison("loss").Comparisons, c => Assert.Equal(2, c.N));
    }

    [Fact]
    public void A_diverged_run_is_counted_and_left_out_of_its_arm_and_its_pairs()
    {
        var config = Planted(5) with { Diverge = ("worse", 3) };
        var result = Simulated.Run(config, CPU, cancellation: Token);
        var loss = result.Comparison("loss");

        Assert.Equal([3], loss.Arm("worse").Diverged);
        Assert.Equal(4, loss["worse"].N);
        Assert.Equal(5, loss["better"].N);
        Assert.True(double.IsFinite(loss["worse"].Mean));
        Assert.Equal(Verdict.Worse, loss["worse"].Verdict);   // still found on the four seeds left
        // The baseline diverging removes that seed from every pair
        var baseDown = Simulated.Run(Planted(5) with { Diverge = ("base", 0) }, CPU, cancellation: Token).Comparison("loss");
        Assert.All(baseDown.Comparisons, c => Assert.Equal(4, c.N));
    }

    [Fact]
    public void A_value_beyond_the_stated_bound_counts_as_diverged()
    {
        var result = Simulated.Run(Planted(4, worse: 500), CPU, cancellation: Token);   // every "worse" run ends above 100

        var loss = result.Comparison("loss");
        Assert.Equal([0, 1, 2, 3], loss.Arm("worse").Diverged);
        Assert.Equal(0, loss["worse"].N);
        Assert.Equal(Verdict.Inconclusive, loss["worse"].Verdict);
        Assert.Contains(Simulated.Output(Planted(4, worse: 500), result).Summary, l => l.Contains("worse: 4 diverged runs"));
    }

    [Fact]
    public void The_output_says_when_there_are_too_few_seeds_for_any_verdict()
    {
        var one = Simulated.Output(Planted(1), Simulated.Run(Planted(1), CPU, cancellation: Token)).Summary;
        var four = Simulated.Output(Planted(4), Simulated.Run(Planted(4), CPU, cancellation: Token)).Summary;

        Assert.Contains(one, l => l.StartsWith("n = 1 < 3: every verdict is inconclusive"));
        Assert.Contains(four, l => l.StartsWith("n = 4 < 5: only large effects"));
        Assert.Contains(four, l => l.StartsWith("loss, better − base:") && l.EndsWith(": better"));
    }

    [Theory]
    [InlineData(3, 301)]
    [InlineData(5, 302)]
    public void With_no_planted_effect_the_experiments_verdicts_claim_a_difference_in_at_most_alpha_of_runs(int seeds, int rngSeed)
    {
        // The calibration check of the statistics core, through the experiments' own verdict path: per-seed results →
        // Experiment.Compare → SeedComparison → verdicts. Each simulated ablation draws fresh seeds.
        const int ablations = 2_000;
        var config = new SimulatedConfig(new Dictionary<string, double> { ["a"] = 0, ["b"] = 0, ["c"] = 0, ["d"] = 0, ["e"] = 0 }, NoiseSd: 1);
        var rng = new MersenneTwister(rngSeed);
        int claims = 0;
        for (int k = 0; k < ablations; k++)
        {
            var seedList = Enumerable.Range(0, seeds).Select(_ => rng.Next(1_000_000_000)).Distinct().ToList();
            var runs = seedList.Select(s => new SeedRun<SimulatedResult>(s, Simulated.RunSeed(config, s, CPU, cancellation: Token))).ToList();
            if (Simulated.Compare(config with { Seeds = seedList }, runs, bootstrap: false).Single().Comparisons
                .Any(c => c.Verdict is Verdict.Better or Verdict.Worse)) claims++;
        }
        double rate = (double)claims / ablations, alpha = PairedComparisons.DefaultAlpha;
        Assert.True(rate <= alpha + 3 * Math.Sqrt(alpha * (1 - alpha) / ablations), $"family-wise error {rate} at n = {seeds}");
    }

    [Fact]
    public void An_accuracy_metric_gives_each_arm_its_standard_error_over_problems_and_seeds()
    {
        var values = new Dictionary<string, SortedDictionary<int, double>>
        {
            ["base"] = new() { [0] = 0.88, [1] = 0.92, [2] = 0.90, [3] = 0.90 },
            ["other"] = new() { [0] = 0.5, [1] = 0.5, [2] = 0.5, [3] = 0.5 },
        };
        var metric = SeedComparison.Build("accuracy", "", Direction.Higher, 0.01, null, ["base", "other"], "base", values, 4,
            bootstrap: false, trialsPerSeed: 100);

        // √(p̄(1 − p̄)/(problems · seeds)) with p̄ = 0.9 over 100 problems × 4 seeds
        Assert.Equal(Math.Sqrt(0.9 * 0.1 / 400), metric.ProblemStandardError(metric.Arm("base"))!.Value, 12);
        Assert.Equal(Math.Sqrt(0.25 / 400), metric.ProblemStandardError(metric.Arm("other"))!.Value, 12);
        Assert.Contains(ComparisonOutput.Lines(metric), l => l == "accuracy, base: 90.0 % ± 1.5 % (binomial standard error over 100 trials × 4 seeds)");
        Assert.Null(metric with { TrialsPerSeed = null } is var plain ? plain.ProblemStandardError(plain.Arm("base")) : 0);
    }
}

using System.Text.Json;
using Research.Experiments;
using Research.Statistics;
using Xunit;

namespace Research.Tests.Statistics;

public sealed class PairedComparisonsTests
{
    // Student (1908) / Cushny and Peebles: R's `sleep`, extra hours of sleep, drug 2 − drug 1 for patients 1..10.
    private static readonly double[] Sleep = [1.2, 2.4, 1.3, 1.3, 0.0, 1.0, 1.8, 0.8, 4.6, 1.4];

    // {−2, −1, 0, 1, 2} + shift: mean = shift, s² = 10/4 = 2.5, SE = √(2.5/5) = √0.5, df = 4. Handy for tables.
    private static double[] FiveAround(double shift) => [shift - 2, shift - 1, shift, shift + 1, shift + 2];
    private static readonly double Se5 = Math.Sqrt(0.5);

    // t table, df = 4 (upper-tail quantiles): 0.90 → 1.533, 0.95 → 2.132, 0.975 → 2.776, 0.99 → 3.747.
    private const double T95Df4 = 2.132, T975Df4 = 2.776;

    private static IReadOnlyList<(string, IReadOnlyList<double>)> Arms(params (string Arm, double[] D)[] arms) =>
        [.. arms.Select(a => (a.Arm, (IReadOnlyList<double>)a.D))];

    [Fact]
    public void Student_sleep_data_matches_R_paired_t_test()
    {
        // R: t.test(extra ~ group, data = sleep, paired = TRUE) on group 2 − group 1:
        // t = 4.0621, df = 9, p-value = 0.002833, 95 % CI 0.7001142 2.4598858, mean difference 1.58.
        var d = PairedComparisons.Compare(Arms(("drug2", Sleep)), Direction.Higher, margin: null).Single();

        Assert.Equal(10, d.N);
        Assert.Equal(1.58, d.Mean, 1e-12);
        Assert.Equal(4.0621, d.Mean / (d.StandardDeviation / Math.Sqrt(d.N)), 5e-5);
        Assert.Equal(0.002833, d.PValue, 5e-7);
        Assert.Equal(0.7001142, d.Low, 5e-8);
        Assert.Equal(2.4598858, d.High, 5e-8);
        Assert.Equal(d.PValue, d.AdjustedPValue);   // a family of one
        Assert.Null(d.EquivalencePValue);
        Assert.Equal(Verdict.Better, d.Verdict);    // more sleep is the aim
    }

    [Fact]
    public void Direction_decides_whether_a_difference_is_better_or_worse()
    {
        Assert.Equal(Verdict.Worse, PairedComparisons.Compare(Arms(("a", Sleep)), Direction.Lower, null).Single().Verdict);
        var negated = Sleep.Select(x => -x).ToArray();
        Assert.Equal(Verdict.Better, PairedComparisons.Compare(Arms(("a", negated)), Direction.Lower, null).Single().Verdict);
    }

    [Fact]
    public void Tost_p_value_matches_the_t_table_by_hand()
    {
        // mean 0.5, SE √0.5. With Δ = 0.5 + 2.132·√0.5 the upper one-sided statistic (Δ − d̄)/SE is t_{0.95,4}, so
        // p⁺ = 0.05; the lower one, (d̄ + Δ)/SE = 2.132 + 1/√0.5 ≈ 3.55, has a smaller tail, so p_eq = p⁺ = 0.05.
        var at95 = PairedComparisons.Compare(Arms(("a", FiveAround(0.5))), Direction.Lower, margin: 0.5 + T95Df4 * Se5).Single();
        var at975 = PairedComparisons.Compare(Arms(("a", FiveAround(0.5))), Direction.Lower, margin: 0.5 + T975Df4 * Se5).Single();

        Assert.Equal(0.05, at95.EquivalencePValue!.Value, 1e-4);    // the table's 3 decimals move p by < 3e-5
        Assert.Equal(0.025, at975.EquivalencePValue!.Value, 1e-4);
    }

    [Fact]
    public void Tost_declares_equivalence_only_when_the_90_percent_interval_lies_inside_the_margin()
    {
        // Two-sided p for d̄ = 0.5: t = 0.5/√0.5 ≈ 0.71 < t_{0.90,4} = 1.533, so p > 0.2: no difference.
        // Δ = 2.2: (2.2 − 0.5)/√0.5 ≈ 2.40 lies between t_{0.95} and t_{0.975}, so 0.025 < p_eq < 0.05 → equivalent.
        // Δ = 1.9: (1.9 − 0.5)/√0.5 ≈ 1.98 < t_{0.95} = 2.132, so p_eq > 0.05 → inconclusive.
        var wide = PairedComparisons.Compare(Arms(("a", FiveAround(0.5))), Direction.Lower, margin: 2.2).Single();
        var narrow = PairedComparisons.Compare(Arms(("a", FiveAround(0.5))), Direction.Lower, margin: 1.9).Single();

        Assert.True(wide.PValue > 0.2);
        Assert.InRange(wide.EquivalencePValue!.Value, 0.025, 0.05);
        Assert.Equal(Verdict.Equivalent, wide.Verdict);
        Assert.True(narrow.EquivalencePValue > 0.05);
        Assert.Equal(Verdict.Inconclusive, narrow.Verdict);
    }

    [Fact]
    public void Equivalence_is_Holm_adjusted_across_the_arms()
    {
        // The Δ = 2.2 arm alone is equivalent (p_eq in (0.025, 0.05)); two identical arms tie, Holm gives both 2·p_eq > 0.05.
        var pair = PairedComparisons.Compare(Arms(("a", FiveAround(0.5)), ("b", FiveAround(0.5))), Direction.Lower, margin: 2.2);

        Assert.All(pair, d => Assert.Equal(2 * d.EquivalencePValue!.Value, d.AdjustedEquivalencePValue!.Value, 1e-15));
        Assert.All(pair, d => Assert.Equal(Verdict.Inconclusive, d.Verdict));
    }

    [Fact]
    public void A_difference_that_survives_alone_can_fail_Holm_in_a_family()
    {
        // d̄ = 3√0.5, so t = 3.0: between t_{0.975,4} = 2.776 and t_{0.99,4} = 3.747, hence 0.02 < p < 0.05 (two-sided).
        // Alone: worse (Lower is better). Three identical arms: Holm gives each 3p > 0.06 → inconclusive.
        var d = FiveAround(3 * Se5);
        var alone = PairedComparisons.Compare(Arms(("a", d)), Direction.Lower, null).Single();
        var three = PairedComparisons.Compare(Arms(("a", d), ("b", d), ("c", d)), Direction.Lower, null);

        Assert.InRange(alone.PValue, 0.02, 0.05);
        Assert.Equal(Verdict.Worse, alone.Verdict);
        Assert.All(three, x => Assert.Equal(3 * x.PValue, x.AdjustedPValue, 1e-15));
        Assert.All(three, x => Assert.Equal(Verdict.Inconclusive, x.Verdict));
    }

    [Fact]
    public void Fewer_than_three_seeds_are_always_inconclusive()
    {
        var two = PairedComparisons.Compare(Arms(("a", [5.0, 5.1])), Direction.Lower, margin: 100).Single();
        var one = PairedComparisons.Compare(Arms(("a", [5.0])), Direction.Lower, margin: 100).Single();
        var none = PairedComparisons.Compare(Arms(("a", [])), Direction.Lower, margin: 100).Single();

        Assert.Equal(Verdict.Inconclusive, two.Verdict);
        Assert.True(two.PValue < 0.05);          // it has a p-value, just not enough seeds to act on it
        Assert.Equal(Verdict.Inconclusive, one.Verdict);
        Assert.True(double.IsNaN(one.PValue) && double.IsNaN(one.StandardDeviation));
        Assert.Equal(Verdict.Inconclusive, none.Verdict);
        Assert.Equal(0, none.N);
    }

    [Fact]
    public void Identical_differences_are_a_sure_result_and_zero_is_equivalent()
    {
        var worse = PairedComparisons.Compare(Arms(("a", [0.5, 0.5, 0.5])), Direction.Lower, null).Single();
        var better = PairedComparisons.Compare(Arms(("a", [-0.5, -0.5, -0.5])), Direction.Lower, null).Single();
        var zero = PairedComparisons.Compare(Arms(("a", [0.0, 0.0, 0.0])), Direction.Lower, margin: 0.1).Single();
        var zeroNoMargin = PairedComparisons.Compare(Arms(("a", [0.0, 0.0, 0.0])), Direction.Lower, null).Single();

        Assert.Equal((0.0, Verdict.Worse), (worse.PValue, worse.Verdict));
        Assert.Equal((0.5, 0.5), (worse.Low, worse.High));
        Assert.Equal((0.0, Verdict.Better), (better.PValue, better.Verdict));
        Assert.Equal((1.0, 0.0, Verdict.Equivalent), (zero.PValue, zero.EquivalencePValue!.Value, zero.Verdict));
        Assert.Equal(Verdict.Inconclusive, zeroNoMargin.Verdict);
    }

    [Fact]
    public void A_NaN_or_infinite_difference_never_gives_better_or_worse_and_still_counts_in_the_family()
    {
        var results = PairedComparisons.Compare(
            Arms(("nan", [1.0, double.NaN, 1.2, 1.1]), ("inf", [1.0, double.PositiveInfinity, 1.2]), ("sleep", Sleep)),
            Direction.Higher, margin: 10);

        Assert.All(results.Take(2), d =>
        {
            Assert.Equal(Verdict.Inconclusive, d.Verdict);
            Assert.True(double.IsNaN(d.PValue) && double.IsNaN(d.AdjustedPValue) && double.IsNaN(d.EquivalencePValue!.Value));
            Assert.True(double.IsNaN(d.BootstrapLow) && double.IsNaN(d.BootstrapHigh));
        });
        var sleep = results[2];
        Assert.Equal(3 * sleep.PValue, sleep.AdjustedPValue, 1e-15);   // m = 3: the failed arms are still in the family
        Assert.Equal(Verdict.Better, sleep.Verdict);
    }

    [Fact]
    public void Bootstrap_is_reproducible_from_its_seed_and_contains_the_mean()
    {
        var a = PairedComparisons.Compare(Arms(("a", Sleep)), Direction.Higher, null, bootstrapSeed: 42).Single();
        var b = PairedComparisons.Compare(Arms(("a", Sleep)), Direction.Higher, null, bootstrapSeed: 42).Single();
        var c = PairedComparisons.Compare(Arms(("a", Sleep)), Direction.Higher, null, bootstrapSeed: 43).Single();
        // The same arm in a larger family gets the same interval: each arm draws from its own generator.
        var inFamily = PairedComparisons.Compare(Arms(("x", FiveAround(1)), ("a", Sleep)), Direction.Higher, null, bootstrapSeed: 42)[1];

        Assert.Equal((a.BootstrapLow, a.BootstrapHigh), (b.BootstrapLow, b.BootstrapHigh));
        Assert.Equal((a.BootstrapLow, a.BootstrapHigh), (inFamily.BootstrapLow, inFamily.BootstrapHigh));
        Assert.NotEqual((a.BootstrapLow, a.BootstrapHigh), (c.BootstrapLow, c.BootstrapHigh));
        Assert.InRange(a.Mean, a.BootstrapLow, a.BootstrapHigh);
        Assert.InRange(c.Mean, c.BootstrapLow, c.BootstrapHigh);
    }

    [Fact]
    public void Bootstrap_interval_is_close_to_the_t_interval_for_normal_data()
    {
        // For n = 30 normal values the percentile interval is about d̄ ± z_{0.975}·√((n−1)/n)·SE (the plug-in SD divides
        // by n), against d̄ ± t_{0.975,29}·SE: each end sits about (2.045 − 1.96·0.983)·SE ≈ 0.12 SE inside. On top come
        // the sample's skewness (≈ 0.04 SE at n = 30) and resampling noise (≈ 0.03 SE at B = 10 000), so each end must
        // lie within 0.25 SE of the t interval's, and the bootstrap interval must be the narrower one.
        for (int dataSeed = 1; dataSeed <= 5; dataSeed++)
        {
            var rng = new MathNet.Numerics.Random.MersenneTwister(dataSeed);
            var d = MathNet.Numerics.Distributions.Normal.Samples(rng, 0.3, 1.0).Take(30).ToArray();

            var r = PairedComparisons.Compare(Arms(("a", d)), Direction.Lower, null).Single();
            double se = r.StandardDeviation / Math.Sqrt(r.N);

            Assert.Equal(r.Low, r.BootstrapLow, 0.25 * se);
            Assert.Equal(r.High, r.BootstrapHigh, 0.25 * se);
            Assert.True(r.BootstrapHigh - r.BootstrapLow < r.High - r.Low);
        }
    }

    [Fact]
    public void The_verdict_does_not_need_the_bootstrap()
    {
        var arms = Arms(("a", Sleep), ("b", FiveAround(0.5)), ("c", FiveAround(3 * Se5)));

        var full = PairedComparisons.Compare(arms, Direction.Higher, margin: 2.2);
        var quick = PairedComparisons.CompareWithoutBootstrap(arms, Direction.Higher, margin: 2.2);

        Assert.Equal(full.Select(d => d with { BootstrapLow = 0, BootstrapHigh = 0 }),
            quick.Select(d => d with { BootstrapLow = 0, BootstrapHigh = 0 }));
        Assert.All(quick, d => Assert.True(double.IsNaN(d.BootstrapLow)));
    }

    [Fact]
    public void Direction_reads_lower_and_higher_from_the_kit_json()
    {
        Assert.Equal(Direction.Lower, JsonSerializer.Deserialize<Direction>("\"lower\"", ExperimentConfigs.Json));
        Assert.Equal(Direction.Higher, JsonSerializer.Deserialize<Direction>("\"higher\"", ExperimentConfigs.Json));
        Assert.Equal("\"inconclusive\"", JsonSerializer.Serialize(Verdict.Inconclusive, ExperimentConfigs.Json));
    }

    [Fact]
    public void Bad_input_is_rejected_naming_the_parameter()
    {
        var ok = Arms(("a", Sleep));
        string Param(Action a) => Assert.ThrowsAny<ArgumentException>(a).ParamName!;

        foreach (var alpha in new[] { 0.0, 1.0, -0.1, 1.5, double.NaN })
            Assert.Equal("alpha", Param(() => PairedComparisons.Compare(ok, Direction.Lower, null, alpha)));
        foreach (var margin in new[] { 0.0, -1.0, double.NaN, double.PositiveInfinity })
            Assert.Equal("margin", Param(() => PairedComparisons.Compare(ok, Direction.Lower, margin)));
        Assert.Equal("bootstrapResamples", Param(() => PairedComparisons.Compare(ok, Direction.Lower, null, bootstrapResamples: 0)));
        Assert.Equal("arms", Param(() => PairedComparisons.Compare(Arms(("a", Sleep), ("a", Sleep)), Direction.Lower, null)));
        Assert.Equal("arms", Param(() => PairedComparisons.Compare(null!, Direction.Lower, null)));
        Assert.Equal("resamples", Param(() => Bootstrap.MeanInterval(Sleep, resamples: 0)));
    }
}

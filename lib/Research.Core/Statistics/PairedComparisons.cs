using MathNet.Numerics.Distributions;

namespace Research.Statistics;

/// <summary>Which way a metric is better. In JSON (kebab-case): "lower", "higher".</summary>
public enum Direction { Lower, Higher }

/// <summary>The verdict of one arm against the baseline on one metric (style guide §5).</summary>
public enum Verdict { Better, Worse, Equivalent, Inconclusive }

/// <summary>One arm against the baseline: the differences d_i = arm_i − baseline_i over the seeds both have.</summary>
/// <param name="N">seeds with a difference.</param>
/// <param name="Mean">mean difference d̄ (in the metric's units; its sign is arm minus baseline).</param>
/// <param name="StandardDeviation">sample SD of the d_i (n − 1).</param>
/// <param name="Low">lower end of the paired-t interval on d̄ at level 1 − α.</param>
/// <param name="BootstrapLow">lower end of the percentile-bootstrap interval on d̄ at level 1 − α (reported only; NaN from
/// <see cref="PairedComparisons.CompareWithoutBootstrap"/>).</param>
/// <param name="PValue">two-sided paired-t p-value for H0: mean difference = 0.</param>
/// <param name="AdjustedPValue">PValue after Holm over the arms compared together.</param>
/// <param name="Margin">the equivalence margin Δ declared before the run, or null.</param>
/// <param name="EquivalencePValue">TOST p-value for H0: |mean difference| ≥ Δ (null without a margin).</param>
/// <param name="AdjustedEquivalencePValue">EquivalencePValue after Holm over the arms.</param>
public sealed record PairedDifference(string Arm, int N, double Mean, double StandardDeviation, double Low, double High,
    double BootstrapLow, double BootstrapHigh, double PValue, double AdjustedPValue, double? Margin, double? EquivalencePValue,
    double? AdjustedEquivalencePValue, Verdict Verdict);

/// <summary>
/// Paired multi-seed comparisons of arms against a baseline on one metric (Dror et al. 2018 on paired tests; style
/// guide §5): a paired t-test per arm, Holm across the arms, and an equivalence test (TOST) against a declared margin.
/// </summary>
public static class PairedComparisons
{
    /// <summary>Fewer seeds than this give no verdict: with n = 2 one lucky seed decides, and the SD has one degree of freedom.</summary>
    public const int MinimumSeeds = 3;

    /// <summary>The level every comparison the kit prints is made at unless told otherwise.</summary>
    public const double DefaultAlpha = 0.05;

    /// <summary>
    /// All arms of one metric against the baseline. The arms given are the family: Holm adjusts the difference p-values
    /// across them, and separately the equivalence p-values when a <paramref name="margin"/> is given.
    /// </summary>
    public static IReadOnlyList<PairedDifference> Compare(
        IReadOnlyList<(string Arm, IReadOnlyList<double> Differences)> arms, Direction direction, double? margin,
        double alpha = 0.05, int bootstrapResamples = 10_000, int bootstrapSeed = 0)
    {
        Checks.Resamples(bootstrapResamples, nameof(bootstrapResamples), "PairedComparisons.Compare");
        var tested = CompareWithoutBootstrap(arms, direction, margin, alpha);
        return [.. tested.Select((d, i) =>
        {
            // A fresh generator per arm: an arm's interval does not depend on which other arms are in the family.
            var (low, high) = Bootstrap.MeanInterval(arms[i].Differences, alpha, bootstrapResamples, bootstrapSeed);
            return d with { BootstrapLow = low, BootstrapHigh = high };
        })];
    }

    /// <summary>
    /// <see cref="Compare"/> without the bootstrap (BootstrapLow and BootstrapHigh are NaN). The verdict never looks at
    /// the bootstrap, so this gives the same verdicts at a fraction of the cost: for simulations and quick checks.
    /// </summary>
    public static IReadOnlyList<PairedDifference> CompareWithoutBootstrap(
        IReadOnlyList<(string Arm, IReadOnlyList<double> Differences)> arms, Direction direction, double? margin,
        double alpha = 0.05)
    {
        Validate(arms, margin, alpha);
        var tests = arms.Select(a => PairedT(a.Differences, alpha, margin)).ToArray();
        var adjusted = Holm.Adjust([.. tests.Select(t => t.PValue)]);
        var adjustedEquivalence = margin is null ? null : Holm.Adjust([.. tests.Select(t => t.EquivalencePValue!.Value)]);

        return [.. tests.Select((t, i) =>
        {
            double? adjustedEq = adjustedEquivalence?[i];
            return new PairedDifference(arms[i].Arm, t.N, t.Mean, t.StandardDeviation, t.Low, t.High, double.NaN, double.NaN,
                t.PValue, adjusted[i], margin, t.EquivalencePValue, adjustedEq,
                Decide(t.N, t.Mean, adjusted[i], adjustedEq, direction, alpha));
        })];
    }

    /// <summary>
    /// The rule of style guide §5: n &lt; <see cref="MinimumSeeds"/> is inconclusive; a difference significant after Holm is
    /// better or worse by its sign and <paramref name="direction"/>; else equivalence significant after Holm is
    /// equivalent; else inconclusive. A NaN p-value (a NaN or infinite difference) never gives better or worse.
    /// </summary>
    public static Verdict Decide(int n, double mean, double adjustedPValue, double? adjustedEquivalencePValue,
        Direction direction, double alpha)
    {
        if (n < MinimumSeeds || double.IsNaN(adjustedPValue) || double.IsNaN(mean)) return Verdict.Inconclusive;
        if (adjustedPValue < alpha && mean != 0)
            return (mean < 0) == (direction == Direction.Lower) ? Verdict.Better : Verdict.Worse;
        if (adjustedEquivalencePValue < alpha) return Verdict.Equivalent;
        return Verdict.Inconclusive;
    }

    private sealed record TTest(int N, double Mean, double StandardDeviation, double Low, double High, double PValue,
        double? EquivalencePValue);

    private static TTest PairedT(IReadOnlyList<double> d, double alpha, double? margin)
    {
        int n = d.Count;
        // A diverged run (NaN or ±∞) has no meaningful mean difference to test: report it, decide nothing.
        if (n == 0 || !d.All(double.IsFinite))
            return new TTest(n, n == 0 ? double.NaN : d.Average(), double.NaN, double.NaN, double.NaN, double.NaN,
                margin is null ? null : double.NaN);

        var s = Describe.Of(d, 1 - alpha);
        double df = n - 1;
        // Two-sided: p = 2·P(T_{n−1} ≥ |d̄|/SE).
        double p = Math.Min(1, 2 * UpperTail(Math.Abs(s.Mean), s.StandardError, df));
        // TOST (Schuirmann 1987): H0⁻: μ ≤ −Δ is rejected for large (d̄ + Δ)/SE, H0⁺: μ ≥ +Δ for large (Δ − d̄)/SE;
        // equivalence needs both, so its p-value is the larger one. Rejecting at α is the (1 − 2α) t interval inside ±Δ.
        double? pEq = margin is { } m
            ? Math.Max(UpperTail(s.Mean + m, s.StandardError, df), UpperTail(m - s.Mean, s.StandardError, df))
            : null;
        return new TTest(n, s.Mean, s.StandardDeviation, s.Low, s.High, p, pEq);
    }

    /// <summary>
    /// P(T_df ≥ shift/se). With se = 0 (every seed gave the same difference, n ≥ 2) the statistic is ±∞ or 0/0: a nonzero
    /// shift is a sure result (p = 0 for shift &gt; 0, 1 for shift &lt; 0), and a zero shift is no evidence at all (p = 1).
    /// NaN for n = 1, where se is NaN.
    /// </summary>
    private static double UpperTail(double shift, double se, double df)
    {
        if (double.IsNaN(se)) return double.NaN;
        if (se == 0) return shift > 0 ? 0 : 1;
        return StudentT.CDF(0, 1, df, -shift / se);   // the lower tail at −t: no cancellation for small p
    }

    private static void Validate(IReadOnlyList<(string Arm, IReadOnlyList<double> Differences)> arms, double? margin, double alpha)
    {
        const string caller = "PairedComparisons.Compare";
        ArgumentNullException.ThrowIfNull(arms);
        Checks.Alpha(alpha, caller);
        if (margin is { } m && !(m > 0 && double.IsFinite(m)))
            throw new ArgumentOutOfRangeException(nameof(margin), margin, $"{caller}: margin must be a finite number > 0 when given.");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < arms.Count; i++)
        {
            var (arm, differences) = arms[i];
            if (arm is null) throw new ArgumentException($"{caller}: arms[{i}] has no name.", nameof(arms));
            if (differences is null) throw new ArgumentException($"{caller}: arm '{arm}' has no differences list.", nameof(arms));
            if (!seen.Add(arm)) throw new ArgumentException($"{caller}: arm names must be distinct; '{arm}' appears twice.", nameof(arms));
        }
    }
}

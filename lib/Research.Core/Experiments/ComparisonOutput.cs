using System.Globalization;
using Research.Statistics;
using Research.Sweeps;

namespace Research.Experiments;

/// <summary>How a <see cref="MetricReport"/> reads: one table (per arm its values, then its difference from the baseline)
/// and one line per arm. <c>research run</c> and <c>research sweep report</c> print the same.</summary>
public static class ComparisonOutput
{
    /// <summary>Seeds below which the output says the verdicts rest on too few runs.</summary>
    public const int RecommendedSeeds = 5;

    /// <summary>What every comparison below rests on, said once before them.</summary>
    public static IEnumerable<string> Preamble(IReadOnlyList<int> seeds)
    {
        int n = seeds.Count;
        yield return $"Comparisons: paired over {n} seed{(n == 1 ? "" : "s")} ({string.Join(", ", seeds)}), Δ = arm − baseline per seed; " +
                     "95 % Student-t intervals; Holm's correction across each metric's arms; TOST against the metric's declared margin.";
        if (n < PairedComparisons.MinimumSeeds)
            yield return $"n = {n} < {PairedComparisons.MinimumSeeds}: every verdict is inconclusive. Run more seeds (research run <id> --seeds {RecommendedSeeds}) or a sweep for verdicts.";
        else if (n < RecommendedSeeds)
            yield return $"n = {n} < {RecommendedSeeds}: only large effects can reach a verdict (see Statistics/README.md on power).";
    }

    /// <summary>One line per compared arm (and one per diverged arm).</summary>
    public static IEnumerable<string> Lines(MetricReport metric)
    {
        foreach (var a in metric.Arms)
            if (metric.ProblemStandardError(a) is double se)
                yield return $"{metric.Name}, {a.Arm}: {a.Summary!.Mean:P1} ± {se:P1} (binomial standard error over {metric.TrialsPerSeed} trials × {a.Summary.N} seed{(a.Summary.N == 1 ? "" : "s")})";
        foreach (var c in metric.Comparisons)
            yield return $"{metric.Name}, {c.Arm} − {metric.Baseline}: {Verdicts.Signed(c.Mean)} [{Verdicts.Signed(c.Low)}, {Verdicts.Signed(c.High)}] (n = {c.N}, Holm p = {P(c.AdjustedPValue)}): {Verdicts.Name(c.Verdict)}";
        foreach (var a in metric.Arms.Where(a => a.Diverged.Count > 0))
            yield return $"{metric.Name}, {a.Arm}: {a.Diverged.Count} diverged run{(a.Diverged.Count == 1 ? "" : "s")} (seed{(a.Diverged.Count == 1 ? "" : "s")} {string.Join(", ", a.Diverged)}) " +
                         $"left out{(metric.DivergedAbove is double b ? $" (non-finite, or {(metric.Direction == Direction.Lower ? "above" : "below")} {Verdicts.Number(b)})" : " (non-finite)")}";
    }

    /// <summary>One metric as a table: per arm its n, mean, SD and interval, then its difference from the baseline and the verdict.</summary>
    public static ResultTable Table(MetricReport metric) => ResultTable.Of($"{metric.Name} ({(metric.Direction == Direction.Lower ? "lower" : "higher")} is better" +
        (metric.Margin is double m ? $", margin ±{m.ToString(CultureInfo.InvariantCulture)}" : "") + ")", metric.Arms.Select(a =>
        {
            var (s, c) = (a.Summary, metric.Comparisons.FirstOrDefault(x => x.Arm == a.Arm));
            return new ArmLine(a.Arm, s?.N ?? 0, a.Diverged.Count, s?.Mean, s?.StandardDeviation, s is { N: > 1 } ? Interval(s.Low, s.High) : "–",
                c is null ? "(baseline)" : Verdicts.Number(c.Mean), c is null ? "" : Interval(c.Low, c.High), c is null ? "" : Interval(c.BootstrapLow, c.BootstrapHigh),
                c?.AdjustedPValue, c is null ? "" : Verdicts.Name(c.Verdict));
        }));

    /// <summary>A file-safe chart name for the metric.</summary>
    public static string ChartName(MetricReport metric) =>
        "seeds-" + new string([.. metric.Name.ToLowerInvariant().Select(ch => char.IsAsciiLetterOrDigit(ch) ? ch : '-')]).Trim('-');

    private static string Interval(double low, double high) => $"[{Verdicts.Number(low)}, {Verdicts.Number(high)}]";

    private static string P(double p) => double.IsNaN(p) ? "–" : p.ToString(p < 0.001 ? "0.0e0" : "0.000", CultureInfo.InvariantCulture);
}

/// <summary>A line of <see cref="ComparisonOutput.Table"/>; the intervals are t intervals unless named bootstrap.</summary>
public sealed record ArmLine(string Arm, int N, int Diverged, double? Mean, [property: Column("sd")] double? StandardDeviation, [property: Column("t_interval")] string Interval,
    [property: Column("delta")] string Difference, [property: Column("delta_t_interval")] string DifferenceInterval,
    [property: Column("delta_bootstrap")] string DifferenceBootstrap, [property: Column("p_holm")] double? AdjustedPValue, string Verdict);

using System.Globalization;
using System.Text.Json;
using Research.Experiments;
using Research.Statistics;

namespace Research.Sweeps;

/// <summary>
/// What <c>research sweep report</c> computes from the finished cells. Per arm: n, mean, SD and a Student-t interval.
/// Per arm against the baseline: the paired differences over shared seeds, their mean with a t interval and a
/// percentile-bootstrap interval, a p-value adjusted by Holm across the arms of the metric, and the verdict.
/// </summary>
public sealed record SweepReport(
    string Name, string Experiment, string Baseline, IReadOnlyList<string> Arms, IReadOnlyList<int> Seeds,
    int Cells, int Done, int Failed, int Pending, double Alpha, int BootstrapResamples, int BootstrapSeed,
    string Method, IReadOnlyList<MetricReport> Metrics, DateTime CreatedUtc)
{
    public const double DefaultAlpha = PairedComparisons.DefaultAlpha;
    public const int DefaultResamples = 10_000, DefaultBootstrapSeed = 0;

    /// <summary>Builds the report of the sweep in <paramref name="directory"/> from whatever cells have finished.</summary>
    public static SweepReport Build(string directory, double alpha = DefaultAlpha)
    {
        var plan = SweepPlan.Read(directory);
        var metrics = plan.ResolvedMetrics();
        var states = plan.Cells.ToDictionary(c => c, c => SweepCells.StateOf(directory, c));
        var results = plan.Cells.Where(c => states[c] == CellState.Done).ToDictionary(c => c, c => SweepCells.ResultOf(directory, c));

        var reports = new List<MetricReport>();
        foreach (var metric in metrics)
        {
            // values[arm][seed]; a path the result does not hold is an error naming it (MetricException).
            var values = plan.Arms.ToDictionary(a => a, _ => new SortedDictionary<int, double>());
            foreach (var (cell, result) in results)
            {
                try { values[cell.Arm][cell.Seed] = metric.Path.Evaluate(result); }
                catch (MetricException e) { throw new MetricException($"metric '{metric.Name}': {e.Message} (in {cell.Folder}/{SweepPlan.ResultFile})"); }
            }
            reports.Add(SeedComparison.Build(metric.Name, metric.Path.Text, metric.Direction, metric.Margin, null, plan.Arms, plan.Baseline,
                values, plan.Seeds.Count, alpha));
        }

        int compared = plan.Arms.Count - 1;
        var method = $"Paired over shared seeds: Δ = arm − {plan.Baseline} per seed. {100 * (1 - alpha):0.#} % intervals, each comparison's own (not widened for the family, " +
                     $"so one can exclude 0 while Holm's verdict stays inconclusive): Student t on the mean (and on each arm's mean), and percentile bootstrap of the mean Δ ({DefaultResamples} resamples, seed {DefaultBootstrapSeed}). " +
                     $"p-values from the paired t-test, adjusted by Holm's method across the {compared} arm{(compared == 1 ? "" : "s")} compared on each metric. " +
                     "Verdict: better or worse when the adjusted p < α; equivalent when both one-sided tests (TOST) against the metric's margin " +
                     "reject after the same adjustment; otherwise inconclusive; fewer than 3 shared seeds is always inconclusive. " +
                     "NaN or infinite values (diverged runs) are left out and listed.";
        return new SweepReport(plan.Name, plan.Experiment, plan.Baseline, plan.Arms, plan.Seeds, plan.Cells.Count,
            states.Values.Count(s => s == CellState.Done), states.Values.Count(s => s == CellState.Failed),
            states.Values.Count(s => s is CellState.Pending or CellState.Running), alpha, DefaultResamples, DefaultBootstrapSeed,
            method, reports, DateTime.UtcNow);
    }

    /// <summary>Per metric and arm: n, mean, SD, the t interval.</summary>
    public ResultTable SummaryTable() => ResultTable.Of("summary", Metrics.SelectMany(m => m.Arms.Select(a => new ArmRow(m.Name, a.Arm,
        a.Summary?.N ?? 0, a.Summary?.Mean, a.Summary?.StandardDeviation, a.Summary?.Low, a.Summary?.High, a.Missing, a.Diverged.Count))));

    /// <summary>Per metric and arm against the baseline: the paired differences and the verdict.</summary>
    public ResultTable DifferencesTable() => ResultTable.Of("differences", Metrics.SelectMany(m => m.Comparisons.Select(c => new DifferenceRow(m.Name,
        c.Arm, Baseline, c.N, c.Mean, c.StandardDeviation, c.Low, c.High, c.BootstrapLow, c.BootstrapHigh, c.PValue, c.AdjustedPValue, m.Margin,
        c.AdjustedEquivalencePValue, Verdicts.Name(c.Verdict)))));

    /// <summary>One metric as the terminal and the HTML page show it: per arm its values, then its difference from the baseline.</summary>
    public ResultTable ArmsTable(MetricReport metric) => ComparisonOutput.Table(metric);

    /// <summary>
    /// Writes <c>report/</c> in the sweep directory: summary.csv, differences.csv, report.json and, with
    /// <paramref name="html"/>, index.html, whole or not at all (<see cref="AtomicFolder"/>).
    /// </summary>
    public string Write(string directory, bool html)
    {
        var final = Path.Combine(directory, "report");
        AtomicFolder.Write(final, partial =>
        {
            foreach (var table in new[] { SummaryTable(), DifferencesTable() })
                File.WriteAllText(Path.Combine(partial, table.Name + ".csv"), table.ToCsv());
            File.WriteAllText(Path.Combine(partial, "report.json"), ToJson());
            if (html) File.WriteAllText(Path.Combine(partial, "index.html"), SweepCharts.Page(this));
        });
        return final;
    }

    /// <summary>The report as JSON (what <c>--json</c> prints and <c>report/report.json</c> holds).</summary>
    public string ToJson() => JsonSerializer.Serialize(this, ExperimentConfigs.Json);
}

/// <summary>A row of <c>summary.csv</c>: one arm's values of one metric; no mean or interval without values.</summary>
public sealed record ArmRow(string Metric, string Arm, int N, double? Mean, [property: Column("sd")] double? StandardDeviation, double? Low, double? High,
    int Missing, int Diverged);

/// <summary>A row of <c>differences.csv</c>: one arm against the baseline on one metric, paired by seed.</summary>
public sealed record DifferenceRow(string Metric, string Arm, string Baseline, int N, [property: Column("mean_diff")] double Mean,
    [property: Column("sd_diff")] double StandardDeviation, [property: Column("t_low")] double Low, [property: Column("t_high")] double High,
    double BootstrapLow, double BootstrapHigh, [property: Column("p")] double PValue, [property: Column("p_holm")] double AdjustedPValue,
    double? Margin, [property: Column("p_equivalence_holm")] double? AdjustedEquivalencePValue, string Verdict);

/// <summary>How verdicts read in tables.</summary>
public static class Verdicts
{
    public static string Name(Verdict verdict) => verdict switch
    {
        Verdict.Better => "better",
        Verdict.Worse => "worse",
        Verdict.Equivalent => "equivalent",
        _ => "inconclusive",
    };

    /// <summary>A number for a table: four significant digits, invariant culture, "–" for NaN.</summary>
    public static string Number(double value) =>
        double.IsNaN(value) ? "–" : value.ToString("G4", CultureInfo.InvariantCulture);

    /// <summary><see cref="Number"/> with its sign always written (+0.02, −0.01), for differences.</summary>
    public static string Signed(double value) => double.IsNaN(value) ? "–" : (value >= 0 ? "+" : "") + Number(value);
}

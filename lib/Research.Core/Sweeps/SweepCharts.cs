using System.Net;
using Microsoft.FSharp.Core;
using Plotly.NET;
using Plotly.NET.CSharp;
using Plotly.NET.TraceObjects;
using Research.Charts;
using Research.Experiments;
using Research.Statistics;
using Chart = Plotly.NET.CSharp.Chart;

namespace Research.Sweeps;

/// <summary>The report's pictures: every seed as a dot beside each arm's interval, and a forest plot of the paired differences.</summary>
public static class SweepCharts
{
    /// <summary>Each arm's mean with its t interval, and every seed's value as a dot beside it.</summary>
    public static GenericChart Arms(MetricReport metric)
    {
        var arms = metric.Arms.Where(a => a.Summary is not null).ToList();
        var seeds = Chart.Point<string, double, string>(
            x: arms.SelectMany(a => a.Values.Select(_ => a.Arm)), y: arms.SelectMany(a => a.Values.Select(v => v.Value)),
            Name: "one seed", MultiText: arms.SelectMany(a => a.Values.Select(v => $"seed {v.Seed}")).ToArray(), Opacity: 0.45);
        var means = ErrorBars.Asymmetric(Chart.Point<string, double, string>(x: arms.Select(a => a.Arm), y: arms.Select(a => a.Summary!.Mean), Name: "mean, t interval"),
            "error_y", arms.Select(a => a.Summary!.High - a.Summary.Mean), arms.Select(a => a.Summary!.Mean - a.Summary.Low));
        return Chart.Combine([seeds, means])
            .WithXAxisStyle<double, double, string>(TitleText: "arm")
            .WithYAxisStyle<double, double, string>(TitleText: $"{metric.Name} ({(metric.Direction == Statistics.Direction.Lower ? "lower" : "higher")} is better)")
            .WithTitle($"{metric.Name}: every seed, and each arm's mean with its interval")
            .WithSize(Math.Max(640, 110 * arms.Count + 240), 440);
    }

    /// <summary>The mean paired difference of each arm from the baseline with its t interval; zero and the margin drawn.</summary>
    public static GenericChart Forest(MetricReport metric, string baseline)
    {
        var rows = metric.Comparisons.Where(c => c.N > 0 && double.IsFinite(c.Mean)).ToList();
        string Label(Statistics.PairedDifference c) => $"{c.Arm} ({Verdicts.Name(c.Verdict)}, n={c.N})";
        var points = ErrorBars.Asymmetric(Chart.Point<double, string, string>(x: rows.Select(c => c.Mean), y: rows.Select(Label), Name: "mean Δ, t interval"),
            "error_x", rows.Select(c => c.High - c.Mean), rows.Select(c => c.Mean - c.Low));
        var lines = new List<GenericChart> { points, VerticalLine(0, rows.Select(Label), "no difference") };
        if (metric.Margin is double m)
        {
            lines.Add(VerticalLine(-m, rows.Select(Label), $"−margin ({m:G3})"));
            lines.Add(VerticalLine(m, rows.Select(Label), $"+margin ({m:G3})"));
        }
        return Chart.Combine(lines)
            .WithXAxisStyle<double, double, string>(TitleText: $"Δ {metric.Name} = arm − {baseline}")
            .WithYAxisStyle<double, double, string>(TitleText: "arm")
            .WithTitle($"{metric.Name}: paired differences from {baseline}")
            .WithSize(860, Math.Max(320, 60 * rows.Count + 180));
    }

    /// <summary>The report as an offline page: what was compared and how, the tables, the charts (plotly.js inline).</summary>
    public static string Page(SweepReport report)
    {
        string H(string s) => WebUtility.HtmlEncode(s);
        var parts = new List<string>
        {
            $"<h1>Sweep {H(report.Name)} ({H(report.Experiment)})</h1>",
            $"<p>{report.Arms.Count} arms × {report.Seeds.Count} seeds ({string.Join(", ", report.Seeds)}): {report.Done} of {report.Cells} cells finished" +
            (report.Failed > 0 ? $", {report.Failed} failed" : "") + (report.Pending > 0 ? $", {report.Pending} not run" : "") +
            $". Baseline: <code>{H(report.Baseline)}</code>. α = {report.Alpha}.</p>",
            $"<p>{H(report.Method)}</p>",
        };
        foreach (var metric in report.Metrics)
        {
            parts.Add($"<h2>{H(metric.Name)}</h2><p><code>{H(metric.Path)}</code>, {(metric.Direction == Statistics.Direction.Lower ? "lower" : "higher")} is better" +
                      (metric.Margin is double m ? $", equivalence margin ±{m}" : ", no equivalence margin") + ".</p>");
            parts.Add(report.ArmsTable(metric).ToHtml());
            parts.Add(ChartHtml.Fragment(Arms(metric)));
            if (metric.Comparisons.Count > 0) parts.Add(ChartHtml.Fragment(Forest(metric, report.Baseline)));
        }
        return ChartHtml.Page($"Sweep {report.Name}", parts);
    }

    private static GenericChart VerticalLine(double x, IEnumerable<string> categories, string name)
    {
        var labels = categories.ToList();
        return Chart.Line<double, string, string>(x: labels.Select(_ => x), y: labels, Name: name, ShowMarkers: false);
    }
}

using Plotly.NET;
using Plotly.NET.CSharp;
using Research.Experiments;
using Research.Statistics;
using Chart = Plotly.NET.CSharp.Chart;

namespace Research.Charts;

/// <summary>A live run drawn against a committed multi-seed reference.</summary>
public static class ReferenceCharts
{
    /// <summary>
    /// Per arm of one metric: every reference seed as a dot, the reference mean with its 95 % t interval, the 95 %
    /// prediction interval for one more seed, and the live run's value as a star.
    /// </summary>
    public static GenericChart LiveAgainstReference(MetricReport reference, MetricReport? live, string unit)
    {
        var arms = reference.Arms.Where(a => a.Summary is not null).ToList();
        var names = arms.Select(a => a.Arm).ToList();
        var seeds = Chart.Point<string, double, string>(
            x: arms.SelectMany(a => a.Values.Select(_ => a.Arm)), y: arms.SelectMany(a => a.Values.Select(v => v.Value)),
            Name: $"reference seeds (n = {arms.Max(a => a.Values.Count)})", MultiText: arms.SelectMany(a => a.Values.Select(v => $"seed {v.Seed}")).ToArray(),
            Opacity: 0.4, MarkerColor: Color.fromString("#888888"));
        var intervals = arms.Select(a => Describe.PredictionInterval([.. a.Values.Select(v => v.Value)])).ToList();
        var prediction = WithError(Chart.Point<string, double, string>(x: names, y: arms.Select(a => a.Summary!.Mean), Name: "95 % prediction interval for one seed",
                MarkerColor: Color.fromString("#bbbbdd")),
            intervals.Zip(arms, (i, a) => i.High - a.Summary!.Mean), intervals.Zip(arms, (i, a) => a.Summary!.Mean - i.Low), width: 14);
        var means = WithError(Chart.Point<string, double, string>(x: names, y: arms.Select(a => a.Summary!.Mean), Name: "reference mean, 95 % t interval",
                MarkerColor: Color.fromString("#1f3b73")),
            arms.Select(a => a.Summary!.High - a.Summary.Mean), arms.Select(a => a.Summary!.Mean - a.Summary.Low), width: 6);
        var traces = new List<GenericChart> { seeds, prediction, means };
        if (live is not null)
        {
            var points = live.Arms.SelectMany(a => a.Values.Select(v => (a.Arm, v))).Where(p => names.Contains(p.Arm)).ToList();
            traces.Add(Chart.Point<string, double, string>(x: points.Select(p => p.Arm), y: points.Select(p => p.v.Value), Name: "this run",
                MultiText: points.Select(p => $"seed {p.v.Seed}").ToArray(), MarkerSymbol: StyleParam.MarkerSymbol.Star, MarkerColor: Color.fromString("#d62728")));
        }
        return Chart.Combine(traces)
            .WithTitle($"{reference.Name}: this run against {arms.Max(a => a.Values.Count)} committed seeds")
            .WithXAxisStyle<double, double, string>(TitleText: "arm")
            .WithYAxisStyle<double, double, string>(TitleText: $"{reference.Name} ({unit}; {(reference.Direction == Direction.Lower ? "lower" : "higher")} is better)")
            .WithSize(Math.Max(640, 110 * arms.Count + 260), 460);
    }

    private static GenericChart WithError(GenericChart chart, IEnumerable<double> plus, IEnumerable<double> minus, int width) =>
        ErrorBars.Asymmetric(chart, "error_y", plus, minus, width);
}

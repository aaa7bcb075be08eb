using Microsoft.FSharp.Core;
using Plotly.NET;
using Plotly.NET.CSharp;
using Research.Charts;
using Chart = Plotly.NET.CSharp.Chart;

namespace Research.Moe;

/// <summary>Charts of <see cref="MoeBalanceResult"/>; they read plain numbers only.</summary>
public static class MoeCharts
{
    /// <summary>Most columns a per-step heatmap draws: steps are averaged in windows so a long run stays a small chart.</summary>
    public const int MaxHeatmapColumns = 60;

    /// <summary>
    /// Expert load against training step, one heatmap per strategy (rows) and layer (columns). A cell is the expert's
    /// share of the window's assignments relative to a perfectly balanced share: 1 is balanced, 0 an idle expert.
    /// </summary>
    public static GenericChart LoadHeatmaps(MoeBalanceResult result)
    {
        int steps = result.Steps, window = (steps + MaxHeatmapColumns - 1) / MaxHeatmapColumns;
        var starts = Enumerable.Range(0, (steps + window - 1) / window).Select(w => w * window).ToArray();
        var charts = new List<GenericChart>();
        var titles = new List<string>();
        foreach (var s in result.Strategies)
            for (int l = 0; l < result.Layers; l++)
            {
                var loads = s.Loads[l];
                // z[expert][window] = load relative to the balanced load over that window
                var z = Enumerable.Range(0, result.Experts).Select(e => starts.Select(start =>
                {
                    var span = loads[start..Math.Min(steps, start + window)];
                    return span.Sum(step => (double)step[e]) / span.Sum(step => step.Average(c => (double)c));
                }).ToArray()).ToArray();
                charts.Add(Shared(Chart.Heatmap<double, int, int, string>(zData: z, X: starts.Select(x => x + 1).ToArray(),
                    Y: Enumerable.Range(0, result.Experts).ToArray(), ShowScale: charts.Count == 0, ColorScale: StyleParam.Colorscale.Viridis), 0, 3));
                titles.Add($"{s.Name}, layer {l}");
            }
        return Chart.Grid(charts, result.Strategies.Count, result.Layers, SubPlotTitles: titles.ToArray())
            .WithTitle("Expert load by training step (load ÷ balanced load; colour capped at 3)")
            .WithSize(520 * result.Layers, 230 * result.Strategies.Count + 80);
    }

    /// <summary>MaxVio_batch against step (mean over layers, 10-step moving average), one line per strategy.</summary>
    public static GenericChart MaxVioCurves(MoeBalanceResult result) =>
        Chart.Combine(result.Strategies.Select(s =>
            {
                var smooth = MovingAverage(s.MaxVioBatchByStep, 10);
                return Chart.Line<double, double, string>(x: Enumerable.Range(1, smooth.Length).Select(i => (double)i).ToArray(), y: smooth, Name: s.Name);
            }))
            .WithTitle("MaxVio per training batch (0 = perfectly balanced; mean over layers, 10-step moving average)")
            .WithXAxisStyle<double, double, string>(TitleText: "training step")
            .WithYAxisStyle<double, double, string>(TitleText: "MaxVio_batch (log scale)", AxisType: StyleParam.AxisType.Log)
            .WithSize(800, 440);

    /// <summary>
    /// Which experts each domain's tokens use on the validation set, one heatmap per strategy and layer: the share of the
    /// domain's assignments going to each expert, relative to a uniform share (1 = uniform).
    /// </summary>
    public static GenericChart DomainHeatmaps(MoeBalanceResult result)
    {
        var charts = new List<GenericChart>();
        var titles = new List<string>();
        foreach (var s in result.Strategies)
            for (int l = 0; l < result.Layers; l++)
            {
                var z = s.DomainLoads[l].Select(row =>
                {
                    double mean = Math.Max(1, row.Average(c => (double)c));
                    return row.Select(c => c / mean).ToArray();
                }).ToArray();
                charts.Add(Shared(Chart.Heatmap<double, int, string, string>(zData: z, X: Enumerable.Range(0, result.Experts).ToArray(),
                    Y: result.Domains.ToArray(), ShowScale: charts.Count == 0, ColorScale: StyleParam.Colorscale.Viridis), 0, 4));
                titles.Add($"{s.Name}, layer {l}");
            }
        return Chart.Grid(charts, result.Strategies.Count, result.Layers, SubPlotTitles: titles.ToArray())
            .WithTitle("Experts used by each domain (validation; share ÷ uniform share, colour capped at 4)")
            .WithSize(520 * result.Layers, 200 * result.Strategies.Count + 80);
    }

    /// <summary>MaxVio_global and validation loss per strategy, side by side.</summary>
    public static GenericChart Summary(MoeBalanceResult result)
    {
        var names = result.Strategies.Select(s => s.Name).ToArray();
        var maxVio = Chart.Column<double, string, string>(values: result.Strategies.Select(s => s.MaxVioGlobal).ToArray(), Keys: names, Name: "MaxVio_global");
        var loss = Chart.Column<double, string, string>(values: result.Strategies.Select(s => s.ValidationLoss).ToArray(), Keys: names, Name: "validation loss");
        return Chart.Grid([maxVio, loss], 1, 2, SubPlotTitles: new[] { "MaxVio_global (lower is more balanced)", "validation cross-entropy (nats)" })
            .WithTitle("Balance and loss per strategy (same model, data, steps and seed)")
            .WithSize(1000, 420);
    }

    private static double[] MovingAverage(double[] values, int window) =>
        [.. values.Select((_, i) => values[Math.Max(0, i - window + 1)..(i + 1)].Average())];

    // One colour scale for every heatmap of a grid, so cells compare across subplots.
    private static GenericChart Shared(GenericChart heatmap, double min, double max) =>
        GenericChart.mapTrace(FuncConvert.FromFunc<Trace, Trace>(trace =>
        {
            trace.SetProperty("zmin", min);
            trace.SetProperty("zmax", max);
            return trace;
        }), heatmap);
}

using Plotly.NET;
using Plotly.NET.CSharp;
using Research.Charts;
using Chart = Plotly.NET.CSharp.Chart;

namespace Research.Accounting;

/// <summary>Charts of <see cref="EfficiencyResult"/>; they read plain numbers only. B = 10^9 parameters.</summary>
public static class EfficiencyCharts
{
    private const double Billion = 1e9;

    /// <summary>The parts as the chart groups them: each trace one group, stacked.</summary>
    public static IReadOnlyList<(string Name, ParameterPart[] Parts)> Groups { get; } =
    [
        ("embedding + output head", [ParameterPart.Embedding, ParameterPart.OutputHead]),
        ("attention (projections, latent norms, biases)", [ParameterPart.AttentionProjections, ParameterPart.AttentionNorms, ParameterPart.AttentionBiases]),
        ("dense FFN", [ParameterPart.DenseFfn]),
        ("routed experts", [ParameterPart.RoutedExperts]),
        ("shared experts", [ParameterPart.SharedExperts]),
        ("gate and its bias", [ParameterPart.Gate, ParameterPart.GateBias]),
        ("layer norms", [ParameterPart.LayerNorms]),
    ];

    /// <summary>Stacked bars of the budget model: stored (main + MTP) and activated per token, by part.</summary>
    public static GenericChart Budget(EfficiencyResult r)
    {
        string[] keys = ["stored", "activated per token"];
        var traces = Groups.Select(g => Chart.StackedColumn<double, string, string>(
            values: [g.Parts.Sum(p => r.BudgetParts.Single(x => x.Part == p).Total) / Billion, g.Parts.Sum(p => r.BudgetParts.Single(x => x.Part == p).Activated) / Billion],
            Keys: keys, Name: g.Name)).ToList();
        traces.Add(Chart.StackedColumn<double, string, string>(values: [r.BudgetMtp / Billion, 0], Keys: keys, Name: "MTP module (stored apart)"));
        return Chart.Combine(traces)
            .WithTitle($"{r.Budget}: where the parameters are")
            .WithXAxisStyle<double, double, string>(TitleText: "parameters")
            .WithYAxisStyle<double, double, string>(TitleText: "parameters (billions)")
            .WithSize(760, 480);
    }

    /// <summary>Total and activated parameters of every preset, side by side, log axis.</summary>
    public static GenericChart TotalVsActivated(EfficiencyResult r) =>
        Chart.Combine(
            [
                Chart.Column<double, string, string>(values: r.Sizes.Select(s => s.Total / Billion).ToArray(), Keys: r.Sizes.Select(s => s.Name).ToArray(), Name: "total"),
                Chart.Column<double, string, string>(values: r.Sizes.Select(s => s.Activated / Billion).ToArray(), Keys: r.Sizes.Select(s => s.Name).ToArray(), Name: "activated per token"),
            ])
            .WithTitle("Total and activated parameters (main model, embedding and head included)")
            .WithXAxisStyle<double, double, string>(TitleText: "model")
            .WithYAxisStyle<double, double, string>(TitleText: "parameters (billions, log scale)", AxisType: StyleParam.AxisType.Log)
            .WithSize(860, 440);

    /// <summary>Training FLOPs per token against activated parameters, with the 6N line; MoE models also at their total.</summary>
    public static GenericChart FlopsVsActivated(EfficiencyResult r)
    {
        GenericChart Points(IEnumerable<SizeRow> rows, Func<SizeRow, long> x, string name) => Chart.Point<double, double, string>(
            x: rows.Select(s => x(s) / Billion).ToArray(), y: rows.Select(s => s.TrainingFlops / Billion).ToArray(), Name: name,
            MultiText: rows.Select(s => s.Name).ToArray());
        double max = r.Sizes.Max(s => s.Total) / Billion * 1.5, min = r.Sizes.Min(s => s.Activated) / Billion / 1.5;
        return Chart.Combine(
            [
                Chart.Line<double, double, string>(x: [min, max], y: [6 * min, 6 * max], Name: "6N (N = parameters)"),
                Points(r.Sizes.Where(s => !s.IsMoe), s => s.Activated, "dense"),
                Points(r.Sizes.Where(s => s.IsMoe), s => s.Activated, "MoE at its activated parameters"),
                Points(r.Sizes.Where(s => s.IsMoe), s => s.Total, "MoE at its total parameters"),
            ])
            .WithTitle($"Training FLOPs per token at seq {r.Sequence} (2 per multiply-add, training = 3 × forward)")
            .WithXAxisStyle<double, double, string>(TitleText: "parameters (billions, log scale)", AxisType: StyleParam.AxisType.Log)
            .WithYAxisStyle<double, double, string>(TitleText: "training GFLOPs per token (log scale)", AxisType: StyleParam.AxisType.Log)
            .WithSize(860, 500);
    }

    /// <summary>The decoding bound (tokens per second per sequence) against context, one line per model, cache and batch.</summary>
    public static GenericChart DecodingBound(EfficiencyResult r) =>
        Chart.Combine(r.Decoding.GroupBy(d => (d.Model, d.Cache, d.Batch)).Select(g => Chart.Line<double, double, string>(
                x: g.Select(d => (double)d.Context).ToArray(), y: g.Select(d => d.TokensPerSecondPerSequence).ToArray(),
                Name: $"{g.Key.Model}, {g.Key.Cache.ToUpperInvariant()} cache, batch {g.Key.Batch}", ShowMarkers: true)))
            .WithTitle($"Upper bound on decoding speed from memory bandwidth ({r.Decoding[0].Hardware}, FP8 weights, BF16 cache)")
            .WithXAxisStyle<double, double, string>(TitleText: "context (tokens, log scale)", AxisType: StyleParam.AxisType.Log)
            .WithYAxisStyle<double, double, string>(TitleText: "tokens per second per sequence (bound, log scale)", AxisType: StyleParam.AxisType.Log)
            .WithSize(860, 500);
}

using Plotly.NET;
using Plotly.NET.CSharp;
using Research.Charts;
using Chart = Plotly.NET.CSharp.Chart;

namespace Research.Distillation;

/// <summary>Charts of <see cref="DistillResult"/>; they read plain numbers only.</summary>
public static class DistillCharts
{
    /// <summary>Validation loss of the true answers against step, one line per method.</summary>
    public static GenericChart ValidationLoss(DistillResult result) =>
        Chart.Combine(result.Methods.Select(m => Chart.Line<double, double, string>(
                x: m.Curve.Select(p => (double)p.Step).ToArray(), y: m.Curve.Select(p => p.ValidationLoss ?? double.NaN).ToArray(), Name: m.Name)))
            .WithTitle($"Student validation loss (teacher {result.Teacher.ValidationLoss:F3} nats)")
            .WithXAxisStyle<double, double, string>(TitleText: "training step")
            .WithYAxisStyle<double, double, string>(TitleText: "cross-entropy of the answer tokens (nats, log scale)", AxisType: StyleParam.AxisType.Log)
            .WithSize(760, 440);

    /// <summary>Exact-match accuracy per method, the teacher's as the first bar.</summary>
    public static GenericChart Accuracy(DistillResult result) =>
        Chart.Column<double, string, string>(
                values: new[] { result.Teacher.Accuracy * 100 }.Concat(result.Methods.Select(m => m.Accuracy * 100)).ToArray(),
                Keys: new[] { "teacher" }.Concat(result.Methods.Select(m => m.Name)).ToArray(), Name: "exact match")
            .WithTitle("Exact-match accuracy of greedy answers on held-out problems")
            .WithXAxisStyle<double, double, string>(TitleText: "model")
            .WithYAxisStyle<double, double, string>(TitleText: "exact match (%)")
            .WithSize(760, 420);

    /// <summary>The forward-KL student's accuracy against the distillation temperature.</summary>
    public static GenericChart TemperatureSweep(DistillResult result) =>
        Chart.Line<double, double, string>(
                x: result.TemperatureSweep.Select(s => s.Temperature).ToArray(), y: result.TemperatureSweep.Select(s => s.Accuracy * 100).ToArray(),
                Name: "forward KL", ShowMarkers: true)
            .WithTitle("Forward-KL student: accuracy against temperature T")
            .WithXAxisStyle<double, double, string>(TitleText: "temperature T", AxisType: StyleParam.AxisType.Log)
            .WithXTickValues(result.TemperatureSweep.Select(s => s.Temperature))
            .WithYAxisStyle<double, double, string>(TitleText: "exact match (%)")
            .WithSize(640, 400);

    /// <summary>Teacher's and students' next-token probabilities at the example position, one group of bars per token.</summary>
    public static GenericChart NextToken(DistillResult result)
    {
        var example = result.Example;
        return Chart.Combine(example.Distributions.Select(d => Chart.Column<double, string, string>(
                values: d.Probabilities.ToArray(), Keys: example.Tokens.ToArray(), Name: d.Model)))
            .WithTitle($"Next token after {example.Prefix} ({example.Problem}; true next token {example.Target})")
            .WithXAxisStyle<double, double, string>(TitleText: "token (^ BOS, $ EOS, _ PAD)")
            .WithYAxisStyle<double, double, string>(TitleText: "probability")
            .WithSize(860, 440);
    }
}

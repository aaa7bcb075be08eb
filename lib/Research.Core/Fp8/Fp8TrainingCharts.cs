using Plotly.NET;
using Plotly.NET.CSharp;
using Research.Charts;
using Chart = Plotly.NET.CSharp.Chart;

namespace Research.Fp8;

/// <summary>Charts of <see cref="Fp8TrainingResult"/>; they read plain numbers only.</summary>
public static class Fp8TrainingCharts
{
    /// <summary>Training loss (mean over each logging window) against step, one line per run, log y.</summary>
    public static GenericChart TrainingLoss(Fp8TrainingResult result) =>
        Curves(result, p => p.TrainLoss, "Training loss: FP32 vs FP8 per-tensor vs FP8 fine-grained", "training loss (nats, log scale)");

    /// <summary>Validation loss against step, one line per run, log y; the Bayes loss is the floor.</summary>
    public static GenericChart ValidationLoss(Fp8TrainingResult result) =>
        Curves(result, p => p.ValidationLoss, $"Validation loss (Bayes floor {result.BayesLoss:F3} nats)", "validation loss (nats, log scale)");

    private static GenericChart Curves(Fp8TrainingResult result, Func<LossPoint, double> loss, string title, string yTitle)
    {
        var lines = result.Runs.Select(r => Chart.Line<double, double, string>(
            x: r.Curve.Select(p => (double)p.Step).ToArray(), y: r.Curve.Select(loss).ToArray(), Name: r.Name));
        return Chart.Combine(lines)
            .WithTitle(title)
            .WithXAxisStyle<double, double, string>(TitleText: "training step")
            .WithYAxisStyle<double, double, string>(TitleText: yTitle, AxisType: StyleParam.AxisType.Log)
            .WithSize(720, 420);
    }
}

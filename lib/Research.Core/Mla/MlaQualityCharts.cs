using Plotly.NET;
using Plotly.NET.CSharp;
using Research.Charts;
using Research.Training;
using Chart = Plotly.NET.CSharp.Chart;

namespace Research.Mla;

/// <summary>Charts of <see cref="MlaQualityResult"/>; they read plain numbers only.</summary>
public static class MlaQualityCharts
{
    /// <summary>
    /// Validation loss against KV-cache elements per token over all layers (log x), one labelled marker per variant:
    /// DeepSeek-V2 App. D's quality-for-cache trade-off at toy scale. Lower and further left is better.
    /// </summary>
    public static GenericChart LossAgainstCache(MlaQualityResult result) =>
        Chart.Combine(result.Variants.Select(v => Chart.Point<double, double, string>(
                x: [v.CacheElementsPerToken], y: [v.ValidationLoss], Name: v.Name,
                Text: $"{v.Name} ({v.CacheBytesPerTokenBf16} B/token in bf16)", TextPosition: StyleParam.TextPosition.TopCenter)))
            .WithTitle($"Validation loss against KV cache ({result.Layers} layers, {result.ParameterBudget:N0} parameters each, {result.Steps} steps; one seed)")
            .WithXAxisStyle<double, double, string>(TitleText: "KV cache per token, all layers (elements, log scale)", AxisType: StyleParam.AxisType.Log)
            .WithXTickValues(result.Variants.Select(v => (double)v.CacheElementsPerToken).Distinct().Order())
            .WithYAxisStyle<double, double, string>(TitleText: "validation cross-entropy (nats per token)")
            .WithSize(760, 460);

    /// <summary>Validation loss against step, one line per variant, log y.</summary>
    public static GenericChart ValidationCurves(MlaQualityResult result) =>
        Curves(result, p => p.ValidationLoss ?? double.NaN, "Validation loss by step (same seed, batches and parameter budget)", "validation loss (nats, log scale)");

    /// <summary>Training loss (mean over each logging window) against step, one line per variant, log y.</summary>
    public static GenericChart TrainingCurves(MlaQualityResult result) =>
        Curves(result, p => p.TrainLoss, "Training loss by step (mean over each logging window)", "training loss (nats, log scale)");

    private static GenericChart Curves(MlaQualityResult result, Func<LogPoint, double> loss, string title, string yTitle) =>
        Chart.Combine(result.Variants.Select(v => Chart.Line<double, double, string>(
                x: v.Curve.Select(p => (double)p.Step).ToArray(), y: v.Curve.Select(loss).ToArray(), Name: v.Name)))
            .WithTitle(title)
            .WithXAxisStyle<double, double, string>(TitleText: "training step")
            .WithYAxisStyle<double, double, string>(TitleText: yTitle, AxisType: StyleParam.AxisType.Log)
            .WithSize(720, 420);
}

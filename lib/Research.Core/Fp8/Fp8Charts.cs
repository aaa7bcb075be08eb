using Plotly.NET;
using Plotly.NET.CSharp;
using Research.Charts;
using Chart = Plotly.NET.CSharp.Chart;

namespace Research.Fp8;

/// <summary>Charts of the FP8 experiments' results; they read plain numbers only.</summary>
public static class Fp8Charts
{
    /// <summary>Max relative rounding error against magnitude, one line per format, log-log.</summary>
    public static GenericChart RoundingError(Fp8FormatsResult result) =>
        Chart.Combine(result.Formats.Select(f =>
            {
                var points = result.Errors.Where(p => p.Format == f.Name).ToList();
                return Chart.Line<double, double, string>(x: points.Select(p => p.Magnitude), y: points.Select(p => p.MaxRelativeError), Name: f.Name);
            }))
            .WithTitle("Worst relative rounding error by magnitude")
            .WithXAxisStyle<double, double, string>(TitleText: "|x| (bucket start)", AxisType: StyleParam.AxisType.Log)
            .WithYAxisStyle<double, double, string>(TitleText: "max |round(x) − x| / |x|", AxisType: StyleParam.AxisType.Log)
            .WithSize(760, 440);

    /// <summary>Every positive value of each format on a log axis: the grid gets coarser with each binade.</summary>
    public static GenericChart Grid(Fp8FormatsResult result) =>
        Chart.Combine(result.Formats.Where(f => f.PositiveValues.Count > 0).Select(f =>
                Chart.Point<double, string, string>(x: f.PositiveValues, y: f.PositiveValues.Select(_ => f.Name), Name: f.Name)))
            .WithTitle("Representable positive values")
            .WithXAxisStyle<double, double, string>(TitleText: "value", AxisType: StyleParam.AxisType.Log)
            .WithYAxisStyle<double, double, string>(TitleText: "format")
            .WithSize(760, 360);

    /// <summary>Relative RMSE of ordinary values against the outlier gain, one line per granularity, log-log.</summary>
    public static GenericChart ScalingError(Fp8ScalingResult result) =>
        Chart.Combine(result.Points.GroupBy(p => p.Granularity).Select(g =>
                Chart.Line<double, double, string>(x: g.Select(p => p.OutlierGain), y: g.Select(p => p.RelativeRmse), Name: g.Key, ShowMarkers: true)))
            .WithTitle($"{result.Format}: error of ordinary activations as outlier channels grow")
            .WithXAxisStyle<double, double, string>(TitleText: "outlier channel gain (×)", AxisType: StyleParam.AxisType.Log)
            .WithXTickValues(result.Points.Select(p => p.OutlierGain).Distinct())
            .WithYAxisStyle<double, double, string>(TitleText: "relative RMSE ‖Q(x) − x‖ / ‖x‖", AxisType: StyleParam.AxisType.Log)
            .WithSize(760, 440);

    /// <summary>Box plot of log10 relative errors per granularity at the largest outlier gain.</summary>
    public static GenericChart ScalingDistribution(Fp8ScalingResult result) =>
        Chart.Combine(result.Distributions.Select(d =>
                Chart.BoxPlot<string, double, string>(X: d.Log10RelativeErrors.Select(_ => d.Granularity).ToArray(), Y: d.Log10RelativeErrors.ToArray(), Name: d.Granularity)))
            .WithTitle($"{result.Format}: per-element error of ordinary activations, largest outlier gain")
            .WithXAxisStyle<double, double, string>(TitleText: "scaling granularity")
            .WithYAxisStyle<double, double, string>(TitleText: "log10 relative error (−8 = exact)")
            .WithSize(760, 440);
    /// <summary>Max relative error against K, without and with promotion, log-log.</summary>
    public static GenericChart AccumulationError(Fp8AccumulationResult result) =>
        Chart.Combine(new[] { false, true }.Select(promotion =>
            {
                var points = result.Points.Where(p => p.Promotion == promotion).OrderBy(p => p.K).ToList();
                var name = promotion ? $"promotion to FP32 every {result.PromotionInterval}" : "no promotion";
                return Chart.Line<double, double, string>(x: points.Select(p => (double)p.K), y: points.Select(p => p.MaxRelativeError), Name: name, ShowMarkers: true);
            }))
            .WithTitle($"{result.Format} GEMM {result.Rows}×K·K×{result.Columns}, {result.AccumulatorMantissaBits}-bit tensor-core accumulator")
            .WithXAxisStyle<double, double, string>(TitleText: "inner dimension K (elements)", AxisType: StyleParam.AxisType.Log)
            .WithXTickValues(result.Points.Select(p => (double)p.K).Distinct())
            .WithYAxisStyle<double, double, string>(TitleText: "max relative error ‖ΔC‖max / ‖C‖max", AxisType: StyleParam.AxisType.Log)
            .WithSize(760, 440);
}

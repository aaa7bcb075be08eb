using Plotly.NET;
using Plotly.NET.CSharp;
using Research.Charts;
using Chart = Plotly.NET.CSharp.Chart;

namespace Research.Mtp;

/// <summary>Charts of <see cref="MtpResult"/>; they read plain numbers only.</summary>
public static class MtpCharts
{
    /// <summary>The main model's validation loss against step, one line per task and D, log y.</summary>
    public static GenericChart ValidationCurves(MtpResult result) =>
        Chart.Combine(result.Runs.Select(r => Chart.Line<double, double, string>(
                x: r.Curve.Select(p => (double)p.Step).ToArray(), y: r.Curve.Select(p => p.ValidationLoss ?? double.NaN).ToArray(), Name: r.Name)))
            .WithTitle("Main model's validation loss (MTP dropped): same seed, batches and main-model size")
            .WithXAxisStyle<double, double, string>(TitleText: "training step")
            .WithYAxisStyle<double, double, string>(TitleText: "validation cross-entropy (nats per token, log scale)", AxisType: StyleParam.AxisType.Log)
            .WithSize(760, 440);

    /// <summary>Acceptance rate of the depth-1 drafts per group (corpus domain, or addition), one bar series per D ≥ 1 run.</summary>
    public static GenericChart AcceptanceByGroup(MtpResult result) =>
        Chart.Combine(result.Runs.Where(r => r.Decoding is not null).Select(r => Chart.Column<double, string, string>(
                values: r.Decoding!.ByGroup.Select(g => g.AcceptanceRate).ToArray(), Keys: r.Decoding.ByGroup.Select(g => g.Group).ToArray(), Name: r.Name)))
            .WithTitle("Draft acceptance by domain (V3 reports 85–90 % for its second token)")
            .WithYAxisStyle<double, double, string>(TitleText: "accepted drafts", MinMax: new Tuple<double, double>(0, 1))
            .WithSize(720, 420);

    /// <summary>Tokens per second of plain and self-speculative decoding for each D ≥ 1 run, side by side.</summary>
    public static GenericChart Speedup(MtpResult result)
    {
        var runs = result.Runs.Where(r => r.Decoding is not null).ToArray();
        string[] names = [.. runs.Select(r => r.Name)];
        return Chart.Combine(
            [
                Chart.Column<double, string, string>(values: runs.Select(r => r.Decoding!.PlainTokensPerSecond).ToArray(), Keys: names, Name: "plain cached greedy"),
                Chart.Column<double, string, string>(values: runs.Select(r => r.Decoding!.SpeculativeTokensPerSecond).ToArray(), Keys: names,
                    Name: "self-speculative", MultiText: runs.Select(r => $"{r.Decoding!.Speedup:F2}×").ToArray()),
            ])
            .WithTitle("Decoding speed, batch 1 (same prompts, same tokens)")
            .WithYAxisStyle<double, double, string>(TitleText: "tokens per second")
            .WithSize(720, 420);
    }
}

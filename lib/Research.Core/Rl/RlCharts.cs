using Plotly.NET;
using Plotly.NET.CSharp;
using Research.Charts;
using Chart = Plotly.NET.CSharp.Chart;

namespace Research.Rl;

/// <summary>Charts of <see cref="R1ZeroResult"/>; they read plain numbers only.</summary>
public static class RlCharts
{
    /// <summary>A held-out score against RL step, one line per run, the base model's value as a dotted line.</summary>
    public static GenericChart HeldOut(R1ZeroResult result, Func<EvalPoint, double> value, string axis)
    {
        int last = result.Runs.Max(r => r.Evaluations[^1].Step);
        var lines = result.Runs.Select(r => Chart.Line<double, double, string>(
            x: r.Evaluations.Select(e => (double)e.Step).ToArray(), y: r.Evaluations.Select(e => 100 * value(e)).ToArray(), Name: r.Name, ShowMarkers: true));
        double baseValue = 100 * value(result.Base.Evaluation);
        var baseline = Chart.Line<double, double, string>(x: new double[] { 0, last }, y: new[] { baseValue, baseValue }, Name: "base model",
            LineDash: StyleParam.DrawingStyle.Dot);
        return Chart.Combine([.. lines, baseline])
            .WithTitle($"Held-out {axis.Split(' ')[0]} (k samples at T = 0.6, top-p 0.95)")
            .WithXAxisStyle<double, double, string>(TitleText: "RL step (distilled: SFT updates ÷ μ)")
            .WithYAxisStyle<double, double, string>(TitleText: axis)
            .WithSize(760, 420);
    }

    /// <summary>A rollout statistic against RL step, one line per RL run.</summary>
    public static GenericChart PerStep(R1ZeroResult result, Func<RlStep, double> value, string axis, bool percent) =>
        Chart.Combine(new[] { result.Teacher }.Concat(result.Runs).Where(r => r.Steps.Count > 0).Select(r => Chart.Line<double, double, string>(
                x: r.Steps.Select(s => (double)s.Step).ToArray(), y: r.Steps.Select(s => (percent ? 100 : 1) * value(s)).ToArray(), Name: r.Name)))
            .WithTitle($"{char.ToUpperInvariant(axis[0])}{axis[1..]} of the rollouts")
            .WithXAxisStyle<double, double, string>(TitleText: "RL step")
            .WithYAxisStyle<double, double, string>(TitleText: axis)
            .WithSize(760, 420);

    /// <summary>Final pass@1 and cons@k per run, the base model first.</summary>
    public static GenericChart Final(R1ZeroResult result, int k)
    {
        var names = new[] { "base" }.Concat(result.Runs.Select(r => r.Name)).ToArray();
        return Chart.Combine(
            [
                Chart.Column<double, string, string>(values: new[] { result.Base.PassAt1 }.Concat(result.Runs.Select(r => r.PassAt1)).Select(v => 100 * v).ToArray(), Keys: names, Name: "pass@1"),
                Chart.Column<double, string, string>(values: new[] { result.Base.ConsAtK }.Concat(result.Runs.Select(r => r.ConsAtK)).Select(v => 100 * v).ToArray(), Keys: names, Name: $"cons@{k}"),
            ])
            .WithTitle("Small model: final held-out scores")
            .WithXAxisStyle<double, double, string>(TitleText: "run")
            .WithYAxisStyle<double, double, string>(TitleText: "%")
            .WithSize(760, 420);
    }
}

using Microsoft.FSharp.Core;
using Plotly.NET;
using Plotly.NET.LayoutObjects;

namespace Research.Charts;

/// <summary>The few chart settings Plotly.NET.CSharp 0.14 does not expose as C# extension methods.</summary>
public static class ChartStyle
{
    /// <summary>Sets the chart's title (Plotly.NET's F# <c>Chart.withTitle</c>).</summary>
    public static GenericChart WithTitle(this GenericChart chart, string title) =>
        Plotly.NET.Chart.withTitle(title, FSharpOption<Font>.None).Invoke(chart);

    /// <summary>
    /// Puts x-axis ticks exactly at <paramref name="values"/> (e.g. the measured sizes on a log axis, where Plotly's
    /// own minor ticks read 2, 3, 4...). Style the axis with WithXAxisStyle first.
    /// </summary>
    public static GenericChart WithXTickValues(this GenericChart chart, IEnumerable<double> values)
    {
        var axis = GenericChart.getLayout(chart).TryGetTypedPropertyValue<LinearAxis>("xaxis")
            ?? throw new InvalidOperationException("ChartStyle.WithXTickValues: style the x axis (WithXAxisStyle) first");
        axis.Value.SetProperty("tickvals", values.ToArray());
        return chart;
    }
}

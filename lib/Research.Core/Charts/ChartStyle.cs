using Microsoft.FSharp.Core;
using Plotly.NET;

namespace Research.Charts;

/// <summary>The few chart settings Plotly.NET.CSharp 0.14 does not expose as C# extension methods.</summary>
public static class ChartStyle
{
    /// <summary>Sets the chart's title (Plotly.NET's F# <c>Chart.withTitle</c>).</summary>
    public static GenericChart WithTitle(this GenericChart chart, string title) =>
        Plotly.NET.Chart.withTitle(title, FSharpOption<Font>.None).Invoke(chart);
}

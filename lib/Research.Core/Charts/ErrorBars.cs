using Plotly.NET;
using Plotly.NET.TraceObjects;

namespace Research.Charts;

/// <summary>Asymmetric error bars (an interval around a point); Plotly.NET.CSharp has no C# method for them.</summary>
public static class ErrorBars
{
    /// <summary>Sets <paramref name="property"/> ("error_x" or "error_y") on every trace of <paramref name="chart"/>:
    /// <paramref name="plus"/> above and <paramref name="minus"/> below each point (a non-finite length draws none).</summary>
    public static GenericChart Asymmetric(GenericChart chart, string property, IEnumerable<double> plus, IEnumerable<double> minus, int? width = null)
    {
        foreach (var trace in GenericChart.getTraces(chart))
        {
            var error = new Error();
            error.SetProperty("type", "data");
            error.SetProperty("symmetric", false);
            error.SetProperty("array", plus.Select(Finite).ToArray());
            error.SetProperty("arrayminus", minus.Select(Finite).ToArray());
            if (width is int w) error.SetProperty("width", w);
            trace.SetProperty(property, error);
        }
        return chart;
    }

    private static double Finite(double v) => double.IsFinite(v) ? v : 0;
}

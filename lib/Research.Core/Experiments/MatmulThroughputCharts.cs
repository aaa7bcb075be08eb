using Plotly.NET;
using Plotly.NET.CSharp;
using Research.Charts;
using Chart = Plotly.NET.CSharp.Chart;

namespace Research.Experiments;

/// <summary>Charts of <see cref="MatmulThroughputResult"/>; they read plain numbers only.</summary>
public static class MatmulThroughputCharts
{
    /// <summary>Median and best GFLOP/s against n, on a log₂ size axis.</summary>
    public static GenericChart GflopsBySize(MatmulThroughputResult result)
    {
        var sizes = result.Points.Select(p => (double)p.Size).ToArray();
        var median = Chart.Line<double, double, string>(x: sizes, y: result.Points.Select(p => p.MedianGflops).ToArray(),
            Name: "median", ShowMarkers: true);
        var best = Chart.Line<double, double, string>(x: sizes, y: result.Points.Select(p => p.BestGflops).ToArray(),
            Name: "best", ShowMarkers: true);
        return Chart.Combine([median, best])
            .WithTitle($"float32 matmul on {result.Device} ({result.Threads} threads)")
            .WithXAxisStyle<double, double, string>(TitleText: "matrix size n (n×n · n×n)", AxisType: StyleParam.AxisType.Log)
            .WithXTickValues(sizes)
            .WithYAxisStyle<double, double, string>(TitleText: "throughput (GFLOP/s)")
            .WithSize(720, 420);
    }
}

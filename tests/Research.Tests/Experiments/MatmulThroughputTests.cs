using System.Text.Json;
using Plotly.NET;
using Research.Experiments;
using TorchSharp;
using Xunit;

namespace Research.Tests.Experiments;

public sealed class MatmulThroughputTests
{
    [Fact]
    public void Throughput_counts_two_n_cubed_flops_per_matmul()
    {
        var result = MatmulThroughput.Run(new MatmulThroughputConfig([32, 64], Repeats: 3), torch.CPU, cancellation: TestContext.Current.CancellationToken).First;

        Assert.All(result.Points, p =>
        {
            // GFLOP/s · ms = 2n³ / 1e6, whatever the machine's speed.
            Assert.Equal(2.0 * p.Size * p.Size * p.Size / 1e6, p.MedianGflops * p.MedianMilliseconds, 1e-6 * p.Size * p.Size * p.Size);
            Assert.True(p.BestMilliseconds <= p.MedianMilliseconds);
        });
    }

    [Fact]
    public void The_embedded_default_config_is_valid_and_seeded()
    {
        var config = ExperimentConfigs.Load<MatmulThroughputConfig>(MatmulThroughput.Id).Validated();

        Assert.NotEmpty(config.Sizes);
        Assert.Equal([0], config.Seeds);
    }

    [Fact]
    public void Chart_has_median_and_best_traces_on_a_log_size_axis_with_units()
    {
        var result = new MatmulThroughputResult("cpu", 2, [new(64, 1, 0.5, 0.5, 1), new(128, 4, 2, 1, 2)]);

        var figure = JsonDocument.Parse(GenericChart.toFigureJson(MatmulThroughputCharts.GflopsBySize(result))).RootElement;

        Assert.Equal(["median", "best"], figure.GetProperty("data").EnumerateArray().Select(t => t.GetProperty("name").GetString()));
        Assert.Equal([64.0, 128.0], figure.GetProperty("data")[0].GetProperty("x").EnumerateArray().Select(x => x.GetDouble()));
        var layout = figure.GetProperty("layout");
        Assert.Equal("log", layout.GetProperty("xaxis").GetProperty("type").GetString());
        Assert.Equal([64.0, 128.0], layout.GetProperty("xaxis").GetProperty("tickvals").EnumerateArray().Select(x => x.GetDouble()));
        Assert.Contains("matrix size", layout.GetProperty("xaxis").GetProperty("title").GetProperty("text").GetString());
        Assert.Contains("GFLOP/s", layout.GetProperty("yaxis").GetProperty("title").GetProperty("text").GetString());
    }
}

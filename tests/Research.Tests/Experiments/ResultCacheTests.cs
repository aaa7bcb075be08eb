using System.Text.Json.Serialization;
using Research.Experiments;
using Xunit;
using static TorchSharp.torch;

namespace Research.Tests.Experiments;

public sealed class ResultCacheTests
{
    private sealed record Config(int Steps, int Seed);

    private sealed record Result(double Loss, IReadOnlyList<double> Curve, string Name, [property: JsonIgnore] long[][]? Loads = null);

    [Fact]
    public void Off_by_default_every_call_runs()
    {
        Assert.Null(Environment.GetEnvironmentVariable(ResultCache.Variable));
        int runs = 0;
        for (int i = 0; i < 2; i++) ResultCache.Through("toy", new Config(3, 0), CPU, () => new Result(++runs, [], "a"));
        Assert.Equal(2, runs);
    }

    [Fact]
    public void On_a_result_is_computed_once_per_config_and_read_back_whole()
    {
        var folder = TestPaths.TempFolder();
        Environment.SetEnvironmentVariable(ResultCache.Variable, folder);
        try
        {
            int runs = 0;
            Result Run() => new(0.1 * ++runs, [double.NaN, 1.5, double.PositiveInfinity], "µ·∇", [[1, 2], [3]]);
            var first = ResultCache.Through("toy", new Config(3, 0), CPU, Run);
            var second = ResultCache.Through("toy", new Config(3, 0), CPU, Run);
            Assert.Equal(1, runs);
            Assert.Equal(first.Loss, second.Loss);
            Assert.Equal(first.Curve, second.Curve);   // NaN and ∞ survive the JSON
            Assert.Equal(first.Name, second.Name);
            Assert.Equal(first.Loads, second.Loads);   // result.json leaves [JsonIgnore] fields out; the cache keeps them
            // Another seed, another config field or another experiment is another key.
            ResultCache.Through("toy", new Config(3, 1), CPU, Run);
            ResultCache.Through("toy", new Config(4, 0), CPU, Run);
            ResultCache.Through("other", new Config(3, 0), CPU, Run);
            Assert.Equal(4, runs);
            Assert.Equal(4, Directory.GetFiles(folder, "*.json").Length);
            Assert.Empty(Directory.GetFiles(folder, "*partial*"));
        }
        finally { Environment.SetEnvironmentVariable(ResultCache.Variable, null); }
    }
}

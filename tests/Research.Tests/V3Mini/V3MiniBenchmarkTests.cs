using System.Text.Json;
using Research.Benchmarks;
using Research.Cli;
using Research.Tests.Cli;
using Xunit;

namespace Research.Tests.V3Mini;

public sealed class V3MiniBenchmarkTests
{
    [Fact]
    public void Bench_v3_mini_times_a_training_step_of_every_variant_against_the_baseline()
    {
        var (exit, stdout, stderr) = InProcessCli.Run("bench", "v3-mini", "--repetitions", "1", "--json");
        Assert.True(exit == ExitCodes.Ok, stderr);
        var r = JsonDocument.Parse(stdout).RootElement;
        Assert.True(r.GetProperty("allFinite").GetBoolean());
        var variants = r.GetProperty("variants").EnumerateArray().ToDictionary(v => v.GetProperty("name").GetString()!);
        Assert.Equal(V3MiniBenchmarkConfig.Variants, variants.Keys);
        double baseline = variants[V3MiniBenchmarkConfig.Baseline].GetProperty("milliseconds").GetDouble();
        foreach (var v in variants.Values)
            Assert.Equal(v.GetProperty("milliseconds").GetDouble() / baseline, v.GetProperty("ratioToBaseline").GetDouble(), 9);
        Assert.Equal(variants["full"].GetProperty("ratioToBaseline").GetDouble(), r.GetProperty("ratio").GetDouble());
        Assert.Equal(variants["full"].GetProperty("milliseconds").GetDouble() / variants["fp32"].GetProperty("milliseconds").GetDouble(),
            r.GetProperty("fp8Ratio").GetDouble(), 9);
        // FP32 changes the arithmetic, not the model; the baseline is dense, so all of it is activated
        Assert.Equal(variants["full"].GetProperty("totalParameters").GetInt64(), variants["fp32"].GetProperty("totalParameters").GetInt64());
        var b = variants[V3MiniBenchmarkConfig.Baseline];
        Assert.Equal(b.GetProperty("totalParameters").GetInt64(), b.GetProperty("activatedParameters").GetInt64());
    }

    [Theory]
    [InlineData(new[] { "bench", "v3-mini", "--repetitions", "0" }, "Repetitions must be in 1..1000")]
    [InlineData(new[] { "bench", "v3-mini", "--steps", "3" }, "Unrecognized command or argument '--steps'. Run 'research --help' for usage.")]
    public void Bench_v3_mini_refuses_bad_repetitions_and_options_of_other_benchmarks(string[] args, string named) =>
        InProcessCli.AssertBadInput(InProcessCli.Run(args), named);
}

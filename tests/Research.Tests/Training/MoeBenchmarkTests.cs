using System.Text.Json;
using Research.Cli;
using Research.Tests.Cli;
using Xunit;

namespace Research.Tests.Training;

public sealed class MoeBenchmarkTests
{
    [Fact]
    public void Bench_moe_times_both_layers_and_checks_the_dispatch_against_the_reference()
    {
        var (exit, stdout, stderr) = InProcessCli.Run("bench", "moe", "--tokens", "256", "--repetitions", "2", "--json");

        Assert.True(exit == ExitCodes.Ok, stderr);
        var root = JsonDocument.Parse(stdout).RootElement;
        Assert.True(root.GetProperty("ratio").GetDouble() > 0);
        Assert.True(root.GetProperty("naiveRatio").GetDouble() > 0);
        Assert.True(root.GetProperty("agrees").GetBoolean());
        Assert.True(root.GetProperty("maxAbsDifference").GetDouble() < 1e-4);
        Assert.Equal((6 + 1) * 128, root.GetProperty("denseHidden").GetInt32());                 // same active width
        Assert.Equal(2L * 3 * 256 * 896, root.GetProperty("activeFlopsPerToken").GetInt64());   // 3 matmuls of d × 896
        Assert.Equal(root.GetProperty("ratio").GetDouble(),
            root.GetProperty("moeMilliseconds").GetDouble() / root.GetProperty("denseMilliseconds").GetDouble(), 9);
        // N_r · max load / Σ loads − 1: 0 when balanced, at most N_r − 1 when one expert takes every assignment;
        // 256 tokens × 6 over 64 experts cannot be balanced to the row by a random gate.
        Assert.InRange(root.GetProperty("paddedFlopsOverhead").GetDouble(), 1e-9, 63);
    }

    [Theory]
    [InlineData(new[] { "bench", "moe", "--steps", "10" }, "Unrecognized command or argument '--steps'. Run 'research --help' for usage.")]
    [InlineData(new[] { "bench", "moe", "--size", "256" }, "Unrecognized command or argument '--size'. Run 'research --help' for usage.")]
    [InlineData(new[] { "bench", "fp8", "--tokens", "64" }, "Unrecognized command or argument '--tokens'. Run 'research --help' for usage.")]
    [InlineData(new[] { "bench", "lm", "--tokens", "64" }, "Unrecognized command or argument '--tokens'. Run 'research --help' for usage.")]
    [InlineData(new[] { "bench", "moe", "--tokens", "0" }, "MoeBenchmarkConfig.Tokens must be in 1..1048576")]
    [InlineData(new[] { "bench", "moe", "--repetitions", "0" }, "MoeBenchmarkConfig.Repetitions must be in 1..1000")]
    public void Bad_options_are_one_line_and_exit_code_2(string[] args, string expected)
    {
        var (exit, stdout, stderr) = InProcessCli.Run(args);

        Assert.Equal(ExitCodes.BadInput, exit);
        Assert.Equal("", stdout);
        Assert.Equal("research: " + expected, stderr.Trim().Split(" (got")[0]);
    }
}

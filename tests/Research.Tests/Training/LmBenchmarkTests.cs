using System.Text.Json;
using Research.Cli;
using Research.Tests.Cli;
using Xunit;

namespace Research.Tests.Training;

/// <summary>Tests that read process-wide counters (live tensors) run alone, after the parallel ones.</summary>
[CollectionDefinition(nameof(ProcessCounters), DisableParallelization = true)]
public sealed class ProcessCounters;

[Collection(nameof(ProcessCounters))]
public sealed class LmBenchmarkTests
{
    [Fact]
    public void Bench_lm_reports_throughput_and_no_tensor_survives_a_step()
    {
        var (exit, stdout, stderr) = InProcessCli.Run("bench", "lm", "--steps", "30", "--json");

        Assert.True(exit == ExitCodes.Ok, stderr);
        var root = JsonDocument.Parse(stdout).RootElement;
        Assert.True(root.GetProperty("tokensPerSecond").GetDouble() > 0);
        Assert.Equal(10, root.GetProperty("sequenceLength").GetInt32());   // 2-digit addition: 3·2 + 5 tokens, inputs one fewer
        var early = root.GetProperty("early");
        var last = root.GetProperty("last");
        Assert.Equal(3, early.GetProperty("step").GetInt32());
        Assert.Equal(30, last.GetProperty("step").GetInt32());
        // Every step's tensors live in its dispose scope: the count of live tensors must not grow with steps (a leak of
        // one tensor per step would add 27). Finalizers of other tests' tensors can only lower it.
        Assert.True(last.GetProperty("liveTensors").GetInt64() <= early.GetProperty("liveTensors").GetInt64(),
            $"live tensors grew from {early.GetProperty("liveTensors")} to {last.GetProperty("liveTensors")}");
        Assert.True(double.IsFinite(root.GetProperty("finalLoss").GetDouble()));
    }

    [Theory]
    [InlineData(new[] { "bench", "lm", "--size", "256" }, "Unrecognized command or argument '--size'. Run 'research --help' for usage.")]
    [InlineData(new[] { "bench", "fp8", "--steps", "10" }, "Unrecognized command or argument '--steps'. Run 'research --help' for usage.")]
    [InlineData(new[] { "bench", "lm", "--model", "giant" }, "LmBenchmarkConfig.Model must be one of student, teacher")]
    [InlineData(new[] { "bench", "lm", "--steps", "1" }, "LmBenchmarkConfig.Steps must be in 2..1000000")]
    public void Bad_options_are_one_line_and_exit_code_2(string[] args, string expected)
    {
        var (exit, stdout, stderr) = InProcessCli.Run(args);

        Assert.Equal(ExitCodes.BadInput, exit);
        Assert.Equal("", stdout);
        Assert.Equal("research: " + expected, stderr.Trim().Split(" (got")[0]);
    }
}

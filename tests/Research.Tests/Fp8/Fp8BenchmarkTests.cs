using System.Text.Json;
using Research.Benchmarks;
using Research.Cli;
using Research.Experiments;
using Research.Tests.Cli;
using TorchSharp;
using Xunit;

namespace Research.Tests.Fp8;

public sealed class Fp8BenchmarkTests
{
    [Fact]
    public void Bench_fp8_json_reports_a_positive_ratio_every_timing_and_bit_identity()
    {
        var (exit, stdout, _) = InProcessCli.Run("bench", "fp8", "--json", "--size", "256", "--repetitions", "2");

        Assert.Equal(ExitCodes.Ok, exit);
        var root = JsonDocument.Parse(stdout).RootElement;
        Assert.True(root.GetProperty("ratio").GetDouble() > 0);
        Assert.True(root.GetProperty("roundRatio").GetDouble() > 0);
        Assert.Equal("256x256 float32", root.GetProperty("tensor").GetString());
        Assert.True(root.GetProperty("threads").GetInt32() >= 1);
        Assert.True(root.GetProperty("bitIdentical").GetBoolean());
        var ms = root.GetProperty("milliseconds");
        foreach (var key in Fp8Benchmark.Definitions.Keys)
            Assert.True(ms.GetProperty(key).GetDouble() > 0, key);
    }

    [Fact]
    public void Bench_prints_a_table_without_json()
    {
        var (exit, stdout, _) = InProcessCli.Run("bench", "fp8", "--size", "128", "--repetitions", "1");

        Assert.Equal(ExitCodes.Ok, exit);
        Assert.Contains("fusedFakeQuant", stdout);
        Assert.Contains("ratio ", stdout);
        Assert.Contains("│ operation ", stdout);   // the timings as a table
    }

    [Fact]
    public void Unknown_benchmark_is_one_line_naming_it_and_exit_code_2()
    {
        InProcessCli.AssertBadInput(InProcessCli.Run("bench", "fp16"), "'fp16'");
    }

    [Fact]
    public void Each_benchmark_is_a_subcommand()
    {
        var bench = BenchCommand.Create(TextWriter.Null, TextWriter.Null);

        Assert.Equal(["fp8", "lm", "moe", "mla", "grpo", "mtp", "v3-mini"], bench.Subcommands.Select(c => c.Name));
        Assert.All(bench.Subcommands, c => Assert.Contains(c.Options, o => o.Name == "--json"));
    }

    [Theory]
    [InlineData("100")]     // not a multiple of the 128-column tile
    [InlineData("0")]
    [InlineData("99999")]
    public void A_size_out_of_range_is_bad_input(string size)
    {
        var (exit, _, stderr) = InProcessCli.Run("bench", "fp8", "--size", size);

        Assert.Equal(ExitCodes.BadInput, exit);
        Assert.StartsWith("research: Fp8BenchmarkConfig.Size", stderr);
        Assert.Single(stderr.Trim().Split('\n'));
    }

    [Fact]
    public void Run_from_a_notebook_times_every_operation_matches_libtorch_and_leaves_no_tensor_alive()
    {
        long live = torch.Tensor.TotalCount;
        var result = Fp8Benchmark.Run(new Fp8BenchmarkConfig(Size: 256, Repetitions: 1, Warmup: 0), cancellation: TestContext.Current.CancellationToken);

        Assert.True(result.BitIdentical);
        Assert.Equal(0, result.TensorsLeftAlive);   // each timed run's tensors die with its dispose scope
        Assert.Equal(result.Milliseconds.FusedFakeQuant / result.Milliseconds.LibtorchRoundTrip, result.Ratio);
        Assert.Throws<ConfigException>(() => new Fp8BenchmarkConfig(Repetitions: 0).Validated());
        // Every run's tensors were disposed by its scope (finalizers of earlier tests may only lower the count).
        Assert.True(torch.Tensor.TotalCount <= live, $"{torch.Tensor.TotalCount - live} tensors outlived the benchmark");
    }
}

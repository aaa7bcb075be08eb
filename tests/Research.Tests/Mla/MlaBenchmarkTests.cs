using System.Text.Json;
using Research.Benchmarks;
using Research.Cli;
using Research.Experiments;
using Research.Mla;
using Research.Models;
using Research.Tests.Cli;
using Research.Tests.Training;
using Xunit;
using static TorchSharp.torch;

namespace Research.Tests.Mla;

/// <summary>The decode benchmark's bookkeeping on tiny layers; its speed goes in reports, never in tests.</summary>
[Collection(nameof(ProcessCounters))]
public sealed class MlaBenchmarkTests
{
    // n_h = 4, d_h = 8: MHA caches 2·4·8 = 64 elements per token, GQA (n_g = 2) 32, MLA d_c + d_h^R = 16 + 4 = 20.
    private static readonly MlaBenchmarkConfig Tiny = new(Dim: 32, Heads: 4, GqaKvHeads: 2, KvLatentDim: 16, RopeHeadDim: 4, Repetitions: 2, Warmup: 1)
    {
        Contexts = [12, 1, 5], Batches = [3, 1],
    };

    [Theory]
    [InlineData(0)]
    [InlineData(12)]   // with query compression
    public void Every_variant_is_timed_at_every_context_and_batch_against_mha_of_the_same_run(int queryLatentDim)
    {
        // Given tiny layers and three contexts (1 = an empty cache) by two batches
        var config = Tiny with { QueryLatentDim = queryLatentDim };
        long live = Tensor.TotalCount;
        ModulesOnly(config);
        long modulesLeave = Tensor.TotalCount - live;   // parameter handles a disposed module leaves to the finalizer
        live = Tensor.TotalCount;
        // When the benchmark runs
        var r = MlaBenchmark.Run(config, CPU);

        // Then there is one cell per context × batch × variant, in ascending order
        Assert.Equal(3 * 2 * 4, r.Cells.Count);
        Assert.Equal([1, 1, 1, 1, 1, 1, 1, 1, 5, 5, 5, 5, 5, 5, 5, 5, 12, 12, 12, 12, 12, 12, 12, 12], r.Cells.Select(c => c.Context));
        Assert.Equal([1, 3, 1, 3, 1, 3], r.Cells.Where(c => c.Variant == DecodeVariant.Mha).Select(c => c.Batch));
        foreach (var cell in r.Cells)
        {
            // And each ratio is against MHA at the same context and batch
            var mha = r.Cells.Single(c => c.Context == cell.Context && c.Batch == cell.Batch && c.Variant == DecodeVariant.Mha);
            Assert.Equal(cell.Milliseconds / mha.Milliseconds, cell.Ratio);
            Assert.True(cell.MinMilliseconds <= cell.Milliseconds && cell.Milliseconds <= cell.MaxMilliseconds && cell.MinMilliseconds > 0);
            // And cache sizes follow DeepSeek-V2 Table 1: 2·n_h·d_h over 2·n_g·d_h = n_h/n_g, over d_c + d_h^R for MLA
            var (elements, ratio) = cell.Variant switch
            {
                DecodeVariant.Mha => (64, 1.0),
                DecodeVariant.Gqa => (32, 4.0 / 2),
                _ => (20, 2.0 * 4 * 8 / (16 + 4)),
            };
            Assert.Equal(elements * sizeof(float), cell.CacheBytesPerToken);
            Assert.Equal(ratio, cell.CacheRatio);
        }
        Assert.All(r.Cells.Where(c => c.Variant == DecodeVariant.Mha), c => Assert.Equal(1.0, c.Ratio));
        // And the headline is absorbed MLA at the longest context and the smallest batch, judged by both goals
        var headline = r.Cells.Single(c => c.Context == 12 && c.Batch == 1 && c.Variant == DecodeVariant.MlaAbsorbed);
        Assert.Equal((12, 1, headline.Ratio, 3.2), (r.HeadlineContext, r.HeadlineBatch, r.Ratio, r.CacheRatio));
        Assert.False(r.GoalMet);   // a 3.2× smaller cache misses the 10× goal whatever the speed
        // And naive and absorbed decoding gave the same outputs
        Assert.True(r.Agrees, $"max |naive − absorbed| = {r.MaxAbsDifference:E2}");
        // And every step's tensors and every cache died with their scopes (finalizers of other tests may only lower the count)
        Assert.True(Tensor.TotalCount <= live + modulesLeave, $"{Tensor.TotalCount - live} tensors outlived the benchmark, {modulesLeave} from its modules");
    }

    private static void ModulesOnly(MlaBenchmarkConfig config)
    {
        using var mha = new Attention(config.Lm, CPU);
        using var gqa = new Attention(config.Lm with { NumKeyValueHeads = config.GqaKvHeads }, CPU);
        using var mla = new MultiHeadLatentAttention(config.Mla, CPU);
    }

    [Fact]
    public void Bench_mla_json_has_the_headline_ratio_and_every_cell()
    {
        var (exit, stdout, stderr) = InProcessCli.Run("bench", "mla", "--contexts", "4,9", "--batches", "2", "--repetitions", "1", "--json");

        Assert.True(exit == ExitCodes.Ok, stderr);
        var root = JsonDocument.Parse(stdout).RootElement;
        var cells = root.GetProperty("cells").EnumerateArray().ToArray();
        Assert.Equal(["mha", "gqa", "mla-naive", "mla-absorbed", "mha", "gqa", "mla-naive", "mla-absorbed"], cells.Select(c => c.GetProperty("variant").GetString()));
        var headline = cells.Single(c => c.GetProperty("context").GetInt32() == 9 && c.GetProperty("variant").GetString() == "mla-absorbed");
        Assert.Equal(headline.GetProperty("ratio").GetDouble(), root.GetProperty("ratio").GetDouble());
        Assert.Equal(2 * 32 * 64 / 288.0, root.GetProperty("cacheRatio").GetDouble(), 12);   // the default layer: 4096 / (256 + 32)
        Assert.Equal(2 * 32 * 64 * 4, cells[0].GetProperty("cacheBytesPerToken").GetInt64());
        Assert.True(root.GetProperty("agrees").GetBoolean());
        Assert.Equal(2048, root.GetProperty("dim").GetInt32());
    }

    [Fact]
    public void Bench_mla_prints_the_goal_then_a_table_by_context_batch_and_variant()
    {
        var (exit, stdout, stderr) = InProcessCli.Run("bench", "mla", "--contexts", "3", "--batches", "1", "--repetitions", "1");

        Assert.True(exit == ExitCodes.Ok, stderr);
        var lines = stdout.TrimEnd().Split('\n');
        Assert.Equal(3 + 4 + 4 + 1, lines.Length);   // dimensions, goal, agreement; title, border, header, rule; four variants; border
        Assert.StartsWith("ratio ", lines[1]);
        Assert.Contains("at context 3, batch 1", lines[1]);
        Assert.Contains("(agree)", lines[2]);
        Assert.Contains("cache_bytes_per_token", lines[5]);
        Assert.Contains("mla-absorbed", lines[10]);
        Assert.Contains(" 14.2 ", lines[10]);   // MHA's cache over MLA's
    }

    [Theory]
    [InlineData(new[] { "bench", "mla", "--tokens", "64" }, "Unrecognized command or argument '--tokens'. Run 'research --help' for usage.")]
    [InlineData(new[] { "bench", "mla", "--size", "256" }, "Unrecognized command or argument '--size'. Run 'research --help' for usage.")]
    [InlineData(new[] { "bench", "mla", "--steps", "10" }, "Unrecognized command or argument '--steps'. Run 'research --help' for usage.")]
    [InlineData(new[] { "bench", "moe", "--contexts", "512" }, "Unrecognized command or argument '--contexts'. Run 'research --help' for usage.")]
    [InlineData(new[] { "bench", "fp8", "--batches", "1" }, "Unrecognized command or argument '--batches'. Run 'research --help' for usage.")]
    [InlineData(new[] { "bench", "lm", "--contexts", "512" }, "Unrecognized command or argument '--contexts'. Run 'research --help' for usage.")]
    [InlineData(new[] { "bench", "mla", "--contexts", "512,x" }, "--contexts must be comma-separated whole numbers such as 512,2048")]
    [InlineData(new[] { "bench", "mla", "--contexts", "0" }, "MlaBenchmarkConfig.Contexts must be one or more lengths in 1..65536")]
    [InlineData(new[] { "bench", "mla", "--batches", "1,0" }, "MlaBenchmarkConfig.Batches must be one or more batch sizes in 1..1024")]
    [InlineData(new[] { "bench", "mla", "--repetitions", "0" }, "MlaBenchmarkConfig.Repetitions must be in 1..1000")]
    public void Bad_options_are_one_line_and_exit_code_2(string[] args, string expected)
    {
        var (exit, stdout, stderr) = InProcessCli.Run(args);

        Assert.Equal(ExitCodes.BadInput, exit);
        Assert.Equal("", stdout);
        Assert.Equal("research: " + expected, stderr.Trim().Split(" (got")[0]);
    }

    [Fact]
    public void Config_errors_name_the_field()
    {
        Assert.Contains("MlaBenchmarkConfig.Heads", Assert.Throws<ConfigException>(() => (Tiny with { Heads = 5 }).Validated()).Message);
        Assert.Contains("MlaBenchmarkConfig.GqaKvHeads", Assert.Throws<ConfigException>(() => (Tiny with { GqaKvHeads = 3 }).Validated()).Message);
        Assert.Contains("MlaBenchmarkConfig.RopeHeadDim", Assert.Throws<ConfigException>(() => (Tiny with { RopeHeadDim = 3 }).Validated()).Message);
        Assert.Contains("MlaBenchmarkConfig.Warmup", Assert.Throws<ConfigException>(() => (Tiny with { Warmup = -1 }).Validated()).Message);
        Assert.Contains("MlaBenchmarkConfig.Contexts", Assert.Throws<ConfigException>(() => (Tiny with { Contexts = [] }).Validated()).Message);
    }
}

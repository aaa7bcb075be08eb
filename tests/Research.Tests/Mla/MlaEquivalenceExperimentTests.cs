using Research.Models;
using System.Text.Json;
using Research.Cli;
using Research.Experiments;
using Research.Mla;
using Research.Tests.Cli;
using Xunit;
using static TorchSharp.torch;

namespace Research.Tests.Mla;

public sealed class MlaEquivalenceExperimentTests
{
    private static readonly MlaEquivalenceConfig Small = new(Sequence: 20, Prefill: 7) { Attention = new ModelConfig(HiddenSize: 32, NumAttentionHeads: 4, QkNopeHeadDim: 8, VHeadDim: 8, KvLoraRank: 12, QLoraRank: 16, QkRopeHeadDim: 4, MaxPositionEmbeddings: 32) };

    [Fact]
    public void The_embedded_config_is_the_record_default()
    {
        var embedded = ExperimentConfigs.Load<MlaEquivalenceConfig>(MlaEquivalenceExperiment.Id);
        Assert.Equal(JsonSerializer.Serialize(new MlaEquivalenceConfig(), ExperimentConfigs.Json), JsonSerializer.Serialize(embedded, ExperimentConfigs.Json));
    }

    [Fact]
    public void Every_route_matches_the_forward_to_rounding_and_mla_keys_have_rank_d_c()
    {
        var r = MlaEquivalenceExperiment.Run(Small, CPU, cancellation: TestContext.Current.CancellationToken).First;

        // Every variant × precision × route, and the float64 differences are rounding of the same algebra
        Assert.Equal(MlaEquivalenceExperiment.Variants.Length * 2 * 2, r.Comparisons.Count);
        Assert.True(r.WithinTolerance);
        Assert.All(r.Comparisons.Where(c => c.Dtype == "float64"), c => Assert.True(c.MaxAbsDifference < 1e-12, $"{c.Variant} {c.Route}: {c.MaxAbsDifference:E2}"));
        Assert.All(r.Comparisons.Where(c => c.Dtype == "float32"), c => Assert.True(c.MaxAbsDifference < 1e-5, $"{c.Variant} {c.Route}: {c.MaxAbsDifference:E2}"));
        Assert.All(r.Comparisons.Where(c => c.Route == "token-by-token"), c => Assert.Equal(Small.Sequence, c.ByPosition.Length));
        Assert.True(r.NaiveVsAbsorbed < 1e-5);

        // Cache elements per token and layer as DeepSeek-V2 Table 1 (d_h = 32 / 4 = 8)
        long Cache(string variant) => r.Comparisons.First(c => c.Variant == variant).CacheElementsPerToken;
        Assert.Equal(2 * 4 * 8, Cache("mha"));
        Assert.Equal(2 * 2 * 8, Cache("gqa"));
        Assert.Equal(2 * 8, Cache("mqa"));
        Assert.Equal(12 + 4, Cache("mla-naive"));
        Assert.Equal(12 + 4, Cache("mla-absorbed"));

        // 20 tokens × 32 key features: MLA's keys are 12 latents up-projected, MHA's are full rank
        Assert.Equal(12, r.LatentKeyRank);
        Assert.Equal(20, r.MhaKeyRank);
    }

    [Fact]
    public void Same_seed_gives_identical_numbers()
    {
        var a = MlaEquivalenceExperiment.Run(Small, CPU, cancellation: TestContext.Current.CancellationToken).First;
        var b = MlaEquivalenceExperiment.Run(Small, CPU, cancellation: TestContext.Current.CancellationToken).First;
        Assert.Equal(a.Comparisons.Select(c => c.MaxAbsDifference), b.Comparisons.Select(c => c.MaxAbsDifference));
        Assert.Equal(a.NaiveVsAbsorbed, b.NaiveVsAbsorbed);
    }

    [Fact]
    public void Chart_draws_one_log_scaled_line_per_variant_and_precision()
    {
        var r = MlaEquivalenceExperiment.Run(Small, CPU, cancellation: TestContext.Current.CancellationToken).First;
        var figure = JsonDocument.Parse(Plotly.NET.GenericChart.toFigureJson(MlaEquivalenceExperiment.DifferencesByPosition(r))).RootElement;

        var names = figure.GetProperty("data").EnumerateArray().Select(t => t.GetProperty("name").GetString()).ToList();
        Assert.Equal(MlaEquivalenceExperiment.Variants.Length * 2, names.Count);
        foreach (var variant in MlaEquivalenceExperiment.Variants)
            foreach (var dtype in new[] { "float32", "float64" })
                Assert.Contains($"{variant} ({dtype})", names);
        var first = figure.GetProperty("data")[0].GetProperty("y").EnumerateArray().Select(y => y.GetDouble()).ToArray();
        Assert.Equal(r.Comparisons[0].ByPosition.Select(d => Math.Max(d, 1e-18)), first);
        var layout = figure.GetProperty("layout");
        Assert.Equal("log", layout.GetProperty("yaxis").GetProperty("type").GetString());
        Assert.Contains("position", layout.GetProperty("xaxis").GetProperty("title").GetProperty("text").GetString());
    }

    [Theory]
    [InlineData("{\"gqaKvHeads\": 3}", "MlaEquivalenceConfig.GqaKvHeads")]
    [InlineData("{\"prefill\": 96}", "MlaEquivalenceConfig.Prefill")]
    [InlineData("{\"sequence\": 500}", "MlaEquivalenceConfig.Sequence")]
    [InlineData("{\"attention\": {\"kvLoraRank\": 16, \"qkRopeHeadDim\": 7}}", "qk_rope_head_dim")]
    [InlineData("{\"attention\": {\"kvLatent\": 7}}", "kvLatent")]
    public void Bad_configs_exit_2_naming_the_field(string json, string field)
    {
        InProcessCli.AssertBadConfig(MlaEquivalenceExperiment.Id, json, field);
    }
}

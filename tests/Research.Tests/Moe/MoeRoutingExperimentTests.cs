using System.Text.Json;
using Research.Cli;
using Research.Experiments;
using Research.Moe;
using Research.Tests.Cli;
using Xunit;
using static TorchSharp.torch;

namespace Research.Tests.Moe;

public sealed class MoeRoutingExperimentTests
{
    private static readonly MoeRoutingConfig Small = new() { Tokens = 1024 };

    [Fact]
    public void The_embedded_config_is_the_record_default()
    {
        var embedded = ExperimentConfigs.Load<MoeRoutingConfig>(MoeRoutingExperiment.Id);
        Assert.Equal(JsonSerializer.Serialize(new MoeRoutingConfig(), ExperimentConfigs.Json), JsonSerializer.Serialize(embedded, ExperimentConfigs.Json));
    }

    [Fact]
    public void Counts_add_up_and_the_node_limit_holds()
    {
        var r = MoeRoutingExperiment.Run(Small, CPU).First;
        Assert.Equal(1024L * 8, r.Loads.Sum());
        Assert.Equal(1024, r.Limited.NodesHistogram.Sum());
        Assert.Equal(1024L * 256, r.Sigmoid.Histogram.Sum());
        Assert.Equal(1024L * 8, r.Sigmoid.SelectedHistogram.Sum());
        Assert.True(r.Limited.MaxNodes <= 4);
        Assert.True(r.Free.MaxNodes > 4);
        Assert.Equal(1.0 / 256, r.Softmax.Mean, 6);                         // softmax rows sum to 1
        Assert.InRange(r.Softmax.MeanSelectedMass, r.Softmax.MeanTop1, 1);
        Assert.Equal(r.Limited.TokensPerDevice.Sum(), r.Limited.DevicesHistogram.Select((c, i) => (long)c * i).Sum());
        Assert.Equal(r.Loads.Sum(), r.Rebalanced.After.Sum(), 6);
        Assert.True(r.Rebalanced.ImbalanceAfter < r.Rebalanced.ImbalanceBefore);
        // no skew: loads are even up to sampling noise, and the rebalancer has little to fix
        var even = MoeRoutingExperiment.Run(Small with { PopularitySkew = 0 }, CPU).First;
        Assert.True(even.MaxVio < r.MaxVio / 2, $"MaxVio without skew {even.MaxVio}, with {r.MaxVio}");
    }

    [Fact]
    public void Same_seed_gives_identical_results()
    {
        var a = MoeRoutingExperiment.Run(Small, CPU).First;
        var b = MoeRoutingExperiment.Run(Small, CPU).First;
        var c = MoeRoutingExperiment.Run(Small with { Seeds = [1] }, CPU).First;
        Assert.Equal(a.Loads, b.Loads);
        Assert.Equal(a.Rebalanced.After, b.Rebalanced.After);
        Assert.NotEqual(a.Loads, c.Loads);
    }

    [Theory]
    [InlineData("""{ "devices": 48 }""", "MoeRoutingConfig.Devices must divide Router.Experts (256)")]
    [InlineData("""{ "devicesPerNode": 5 }""", "MoeRoutingConfig.DevicesPerNode must divide Devices (64)")]
    [InlineData("""{ "redundantExperts": 10 }""", "MoeRoutingConfig.RedundantExperts must be ≥ 0")]
    [InlineData("""{ "popularitySkew": -1 }""", "MoeRoutingConfig.PopularitySkew must be a finite number ≥ 0")]
    [InlineData("""{ "router": { "experts": 256, "topK": 8, "groups": 8, "topGroups": 9 } }""", "RouterConfig.TopGroups must be in 1..Groups (8)")]
    [InlineData("""{ "router": { "experts": 256, "topK": 300 } }""", "RouterConfig.TopK must be in 1..Experts (256)")]
    public void Bad_configs_exit_2_naming_the_field(string json, string expected)
    {
        var folder = TestPaths.TempFolder();
        var path = Path.Combine(folder, "bad.json");
        File.WriteAllText(path, json);

        var (exit, stdout, stderr) = InProcessCli.Run("run", MoeRoutingExperiment.Id, "--config", path, "--out", Path.Combine(folder, "out"));

        Assert.Equal(ExitCodes.BadInput, exit);
        Assert.Contains(expected, stderr);
        Assert.Equal("", stdout);
        Assert.False(Directory.Exists(Path.Combine(folder, "out", MoeRoutingExperiment.Id)));
    }
}

using Research.Experiments;
using Research.Models;
using Research.Moe;
using Xunit;
using static TorchSharp.torch;

namespace Research.Tests.Moe;

public sealed class ExpertParallelTests
{
    [Fact]
    public void Contiguous_placement_and_loads_per_device_and_node()
    {
        var p = ExpertPlacement.Contiguous(8, 4, 2);   // 2 experts per device, 2 devices per node
        Assert.Equal([2, 2, 2, 2], p.SlotsPerDevice());
        Assert.Equal(2, p.Nodes);
        double[] loads = [1, 2, 3, 4, 5, 6, 7, 8];
        Assert.Equal([3.0, 7, 11, 15], p.DeviceLoad(loads));
        Assert.Equal([10.0, 26], p.NodeLoad(loads));
        // a replicated expert's load is split over its copies
        var replicated = new ExpertPlacement(2, 1, [[0, 1], [1]]);
        Assert.Equal([2.0, 2 + 5], replicated.DeviceLoad([4, 5]));
    }

    [Fact]
    public void Traffic_counts_distinct_devices_and_nodes_per_token()
    {
        var p = ExpertPlacement.Contiguous(4, 4, 2);   // expert i on device i; devices 0–1 node 0, 2–3 node 1
        var t = ExpertParallel.Traffic([0, 1, 0, 2, 3, 3], 2, p);
        Assert.Equal((2 + 2 + 1) / 3.0, t.MeanDevices, 12);
        Assert.Equal((1 + 2 + 1) / 3.0, t.MeanNodes, 12);
        Assert.Equal([0, 2, 1], t.NodesHistogram);
        Assert.Equal([2L, 1, 1, 1], t.TokensPerDevice);
    }

    [Fact]
    public void Node_limited_routing_keeps_tokens_within_m_nodes_and_free_routing_matches_the_closed_form()
    {
        var placement = ExpertPlacement.Contiguous(256, 64, 8);   // V3: 4 experts per GPU, 32 per node, 8 nodes
        var scores = rand([4000, 256], generator: new Generator(11));
        var limited = ExpertParallel.Traffic(Router.Select(scores, null, RouterConfig.DeepSeekV3).flatten().data<long>().ToArray(), 8, placement);
        var free = ExpertParallel.Traffic(Router.Select(scores, null, RouterConfig.DeepSeekV3 with { Groups = 1, TopGroups = 1 }).flatten().data<long>().ToArray(), 8, placement);
        Assert.True(limited.MaxNodes <= 4);
        // Uniform random scores make the free choice a uniform 8-subset of 256: E[nodes] = 8(1 − C(224, 8)/C(256, 8)) = 5.2947 (computed with exact binomials in Python).
        // The per-token standard deviation is below 1, so 4000 tokens give a standard error below 0.016.
        double expected = ExpertParallel.ExpectedNodesUniform(256, 8, 8);
        Assert.Equal(5.294652, expected, 6);
        Assert.True(Math.Abs(free.MeanNodes - expected) < 0.06, $"free routing: {free.MeanNodes} nodes per token, expected {expected}");
        Assert.True(limited.MeanNodes < free.MeanNodes - 1);
    }

    [Fact]
    public void Rebalancing_replicates_the_hot_expert_to_a_known_optimum()
    {
        // Contiguous: {6, 2} and {2, 2} → 8 vs 4. Two spare slots go to expert 0 (6 → 3 + 3 → 2 + 2 + 2), and the six
        // replicas of load 2 split 6 / 6.
        var r = ExpertParallel.Rebalance([6, 2, 2, 2], devices: 2, devicesPerNode: 1, redundant: 2);
        Assert.Equal([3, 1, 1, 1], r.Replicas);
        Assert.Equal([8.0, 4], r.Before);
        Assert.Equal([6.0, 6], r.After);
        Assert.Equal(1, r.ImbalanceAfter, 12);
    }

    [Fact]
    public void Rebalancing_at_v3_scale_keeps_every_invariant_and_never_worsens_the_load()
    {
        var rng = new Random(3);
        // Zipf-like skew: a few experts take much of the traffic
        var loads = Enumerable.Range(0, 256).Select(e => 1000.0 / (1 + rng.Next(256) / 8.0)).ToArray();
        var r = ExpertParallel.Rebalance(loads, devices: 64, devicesPerNode: 8, redundant: 64);
        Assert.All(r.Placement.SlotsPerDevice(), s => Assert.Equal(5, s));          // 4 experts + 1 redundant per GPU
        Assert.All(r.Placement.Hosts, h => Assert.NotEmpty(h));
        Assert.Equal(r.Replicas, r.Placement.Hosts.Select(h => h.Length));
        Assert.Equal(loads.Sum(), r.After.Sum(), 6);
        Assert.Equal(loads.Sum(), r.Before.Sum(), 6);
        Assert.True(r.ImbalanceAfter <= r.ImbalanceBefore);
        Assert.True(r.ImbalanceAfter < 1.1, $"after rebalancing max/mean = {r.ImbalanceAfter}");
    }

    [Fact]
    public void Bad_placements_name_what_is_wrong()
    {
        Assert.Contains("Devices (48) must divide Experts (256)", Assert.Throws<ConfigException>(() => ExpertPlacement.Contiguous(256, 48, 8)).Message);
        Assert.Contains("ExpertPlacement.DevicesPerNode must divide Devices (64)", Assert.Throws<ConfigException>(() => ExpertPlacement.Contiguous(256, 64, 6)).Message);
        Assert.Contains("must divide Experts + redundant", Assert.Throws<ConfigException>(() => ExpertParallel.Rebalance(new double[256], 64, 8, 10)).Message);
    }
}

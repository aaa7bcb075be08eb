using Research.Experiments;
using Research.Models;
using Research.Moe;
using Xunit;
using static TorchSharp.torch;

namespace Research.Tests.Moe;

public sealed class RouterTests
{
    private static float[] Values(Tensor t) => t.detach().contiguous().cpu().to(ScalarType.Float32).data<float>().ToArray();
    private static long[] Longs(Tensor t) => t.contiguous().cpu().data<long>().ToArray();

    // The brute-force definition, in plain C#: score groups, keep the best M, then the best k experts among them.
    private static int[] BruteForce(float[] scores, float[] bias, RouterConfig c)
    {
        var biased = scores.Select((s, i) => s + bias[i]).ToArray();
        var allowed = Enumerable.Range(0, c.Groups)
            .Select(g => (g, score: c.GroupScore == GroupScore.Max
                ? biased.Skip(g * c.GroupSize).Take(c.GroupSize).Max()
                : biased.Skip(g * c.GroupSize).Take(c.GroupSize).OrderDescending().Take(Math.Min(2, c.GroupSize)).Sum()))
            .OrderByDescending(x => x.score).Take(c.TopGroups).Select(x => x.g).ToHashSet();
        return [.. Enumerable.Range(0, c.Experts).Where(i => allowed.Contains(i / c.GroupSize)).OrderByDescending(i => biased[i]).Take(c.TopK)];
    }

    public static TheoryData<int, int, int, int, GroupScore> Shapes => new()
    {
        { 8, 2, 1, 1, GroupScore.TopTwoSum },
        { 16, 4, 4, 2, GroupScore.TopTwoSum },
        { 16, 3, 8, 3, GroupScore.Max },
        { 32, 8, 8, 4, GroupScore.TopTwoSum },   // V3's proportions: 4 of 8 groups, 8 experts
        { 12, 1, 12, 5, GroupScore.TopTwoSum },  // groups of one expert
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Selection_equals_brute_force_group_then_top_k(int experts, int k, int groups, int topGroups, GroupScore groupScore)
    {
        var config = new RouterConfig(experts, k, Groups: groups, TopGroups: topGroups, GroupScore: groupScore);
        var g = new Generator(7);
        var scores = rand([200, experts], generator: g);
        var bias = (rand([experts], generator: g) - 0.5) * 0.3;
        var selected = Longs(Router.Select(scores, bias, config));
        var s = Values(scores); var b = Values(bias);
        for (int t = 0; t < 200; t++)
        {
            var expected = BruteForce(s[(t * experts)..((t + 1) * experts)], b, config);
            Assert.Equal(expected.Select(i => (long)i), selected[(t * k)..((t + 1) * k)]);
        }
    }

    [Fact]
    public void Group_limit_keeps_every_token_within_its_top_groups()
    {
        var config = RouterConfig.DeepSeekV3;
        var selected = Longs(Router.Select(rand([500, 256], generator: new Generator(3)), null, config));
        for (int t = 0; t < 500; t++)
            Assert.True(selected[(t * 8)..((t + 1) * 8)].Select(e => e / 32).Distinct().Count() <= 4);
        // without the limit, 8 experts drawn from 8 groups of 32 usually touch more than 4 of them
        var free = Longs(Router.Select(rand([500, 256], generator: new Generator(3)), null, config with { Groups = 1, TopGroups = 1 }));
        Assert.True(Enumerable.Range(0, 500).Count(t => free[(t * 8)..((t + 1) * 8)].Select(e => e / 32).Distinct().Count() > 4) > 250);
    }

    [Fact]
    public void Bias_moves_selection_but_gate_values_come_from_unbiased_affinities()
    {
        var config = new RouterConfig(8, 2, Affinity.Sigmoid, NormalizeTopK: true, RoutedScaling: 2.5);
        var router = new Router(6, config, CPU, new Generator(1));
        var x = randn([50, 6], generator: new Generator(2));
        var before = router.Route(x);
        using (no_grad()) router.Bias[5] = 10f;   // a large bias: expert 5 wins every token
        var after = router.Route(x);
        var experts = Longs(after.Experts);
        var s = Values(after.Scores);
        var w = Values(after.Weights);
        Assert.Equal(Values(before.Scores), s);   // affinities do not see the bias
        for (int t = 0; t < 50; t++)
        {
            Assert.Contains(5L, experts[(2 * t)..(2 * t + 2)]);
            double sum = s[t * 8 + experts[2 * t]] + s[t * 8 + experts[2 * t + 1]];
            for (int j = 0; j < 2; j++)
                Assert.Equal(2.5 * s[t * 8 + experts[2 * t + j]] / sum, w[2 * t + j], 1e-5);
        }
    }

    [Fact]
    public void Normalised_weights_sum_to_the_routed_scaling_and_softmax_weights_are_the_raw_probabilities()
    {
        var x = randn([64, 6], generator: new Generator(4));
        var sigmoid = new Router(6, new RouterConfig(8, 3, RoutedScaling: 2.5), CPU, new Generator(1)).Route(x);
        foreach (var sum in Values(sigmoid.Weights.sum(-1))) Assert.Equal(2.5, sum, 1e-5);

        var softmax = new Router(6, RouterConfig.DeepSeekV2 with { Experts = 8, TopK = 3, Groups = 1, TopGroups = 1, RoutedScaling = 1 }, CPU, new Generator(1)).Route(x);
        Assert.Equal(Values(softmax.Scores.sum(-1)), Enumerable.Repeat(1f, 64), new FloatTolerance(1e-5f));
        Assert.Equal(Values(softmax.Scores.gather(1, softmax.Experts)), Values(softmax.Weights));
        Assert.True(Values(softmax.Weights.sum(-1)).All(v => v < 1));
    }

    [Fact]
    public void Capacity_caps_every_expert_and_drops_the_lowest_gate_values_first()
    {
        var config = new RouterConfig(8, 2, CapacityFactor: 1.0);
        var router = new Router(6, config, CPU, new Generator(1));
        using (no_grad()) router.Bias[0] = 0.2f;   // skew the load so expert 0 overflows
        var r = router.Route(randn([400, 6], generator: new Generator(5)));
        long capacity = Router.Capacity(400, config, 1.0);
        Assert.Equal(100, capacity);
        var experts = Longs(r.Experts);
        var kept = r.Kept!.cpu().data<bool>().ToArray();
        var weights = Values(r.Weights);
        var raw = Values(r.Scores.gather(1, r.Experts) / r.Scores.gather(1, r.Experts).sum(-1, keepdim: true));
        Assert.Contains(false, kept);
        for (int e = 0; e < 8; e++)
        {
            var mine = Enumerable.Range(0, experts.Length).Where(i => experts[i] == e).ToArray();
            Assert.True(mine.Count(i => kept[i]) <= capacity);
            var dropped = mine.Where(i => !kept[i]).ToArray();
            if (dropped.Length == 0) continue;
            Assert.Equal(capacity, mine.Count(i => kept[i]));   // only a full expert drops
            Assert.True(mine.Where(i => kept[i]).Min(i => raw[i]) >= dropped.Max(i => raw[i]));
            Assert.All(dropped, i => Assert.Equal(0f, weights[i]));
        }
        // a generous factor drops nothing
        var wide = new Router(6, config with { CapacityFactor = 8.0 }, CPU, new Generator(1)).Route(randn([400, 6], generator: new Generator(5)));
        Assert.True(wide.Kept!.all().item<bool>());
    }

    [Theory]
    [InlineData(8, 9, 1, 1, null, "TopK")]
    [InlineData(8, 2, 3, 1, null, "Groups")]
    [InlineData(8, 2, 4, 5, null, "TopGroups")]
    [InlineData(8, 5, 4, 2, null, "TopK")]       // 2 kept groups of 2 experts hold only 4
    [InlineData(8, 2, 1, 1, 0.0, "CapacityFactor")]
    [InlineData(8, 2, 1, 1, -1.0, "CapacityFactor")]
    [InlineData(0, 1, 1, 1, null, "Experts")]
    public void Bad_router_configs_name_the_field(int experts, int k, int groups, int topGroups, double? capacity, string field)
    {
        var e = Assert.Throws<ConfigException>(() => new RouterConfig(experts, k, Groups: groups, TopGroups: topGroups, CapacityFactor: capacity).Validated());
        Assert.Contains($"RouterConfig.{field}", e.Message);
    }

    [Fact]
    public void Negative_gamma_is_refused_with_its_name()
    {
        var e = Assert.Throws<ConfigException>(() => new BalancingConfig(BiasUpdateSpeed: -0.001).Validated());
        Assert.Contains("BiasUpdateSpeed (γ)", e.Message);
        Assert.Throws<ConfigException>(() => new BalancingConfig(AuxLossAlpha: double.NaN).Validated());
    }
}

/// <summary>Element-wise float comparison within an absolute tolerance.</summary>
internal sealed class FloatTolerance(float tolerance) : IEqualityComparer<float>
{
    public bool Equals(float a, float b) => Math.Abs(a - b) <= tolerance;
    public int GetHashCode(float f) => 0;
}

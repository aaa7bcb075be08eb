using Research.Models;
using Research.Moe;
using Research.Numerics;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Research.Tests.Moe;

public sealed class MoeLayerTests
{
    private static float[] Values(Tensor t) => t.detach().contiguous().cpu().to(ScalarType.Float32).data<float>().ToArray();

    private static ModelConfig Config(RouterConfig router, int shared = 1, BalancingConfig? balancing = null, int dim = 10) =>
        new ModelConfig(Name: "moe-layer", HiddenSize: dim, NumAttentionHeads: 2, MoeIntermediateSize: 6, NSharedExperts: shared, Balancing: balancing ?? BalancingConfig.None,
            TopkMethod: ModelConfig.AuxLossFreeTopk).WithGate(router);

    public static TheoryData<string> Variants => ["sigmoid", "softmax", "groups", "capacity", "no-shared", "two-shared"];

    private static ModelConfig Variant(string name) => name switch
    {
        "sigmoid" => Config(new RouterConfig(8, 2, RoutedScaling: 2.5)),
        "softmax" => Config(new RouterConfig(8, 3, Affinity.Softmax, NormalizeTopK: false)),
        "groups" => Config(new RouterConfig(16, 4, Groups: 4, TopGroups: 2)),
        "capacity" => Config(new RouterConfig(8, 2, CapacityFactor: 0.5)),
        "no-shared" => Config(new RouterConfig(8, 2), shared: 0),
        "two-shared" => Config(new RouterConfig(8, 1), shared: 2),
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [MemberData(nameof(Variants))]
    public void Sorted_dispatch_equals_the_token_by_token_reference_in_values_and_gradients(string variant)
    {
        var config = Variant(variant);
        var layer = new MoeLayer(config, CPU, new Generator(1));
        var x = randn([3, 7, 10], generator: new Generator(2));
        var target = randn([3, 7, 10], generator: new Generator(3));

        (float[] y, float[][] grads) Run(Func<Tensor, Tensor> f)
        {
            layer.zero_grad();
            var xi = x.clone().requires_grad_(true);
            var y = f(xi);
            (y * target).sum().backward();
            return (Values(y), [Values(xi.grad!), .. layer.parameters().Select(p => Values(p.grad ?? zeros_like(p)))]);
        }

        var fast = Run(layer.forward);
        var naive = Run(layer.ForwardNaive);
        Assert.Equal(naive.y, fast.y, new FloatTolerance(1e-6f));
        for (int i = 0; i < fast.grads.Length; i++) Assert.Equal(naive.grads[i], fast.grads[i], new FloatTolerance(1e-5f));
        if (variant == "capacity") Assert.True(layer.LastStats!.Dropped > 0);
    }

    [Fact]
    public void Gradient_with_respect_to_the_input_matches_finite_differences()
    {
        var layer = new MoeLayer(Config(new RouterConfig(8, 2, RoutedScaling: 2.5, Groups: 4, TopGroups: 2), dim: 6), CPU, new Generator(1));
        layer.to(ScalarType.Float64, false);
        var target = randn([5, 6], dtype: ScalarType.Float64, generator: new Generator(3));
        // Small steps do not change which experts are selected, so the routed function is smooth where it is checked.
        var check = GradientCheck.Compare(x => (layer.forward(x) * target).sum(), randn([5, 6], generator: new Generator(2)));
        Assert.True(check.MaxAbsError < 1e-8, $"max |autograd − finite difference| = {check.MaxAbsError}");
    }

    [Fact]
    public void Every_token_reaches_exactly_k_distinct_experts_and_loads_add_up()
    {
        var layer = new MoeLayer(Config(new RouterConfig(16, 4, Groups: 4, TopGroups: 2)), CPU, new Generator(1)) { RecordSelections = true };
        layer.forward(randn([4, 25, 10], generator: new Generator(2)));
        var stats = layer.LastStats!;
        Assert.Equal(100, stats.Tokens);
        Assert.Equal(400, stats.Loads.Sum());
        Assert.Equal(0, stats.DroppedFraction);
        var chosen = layer.LastExperts!;
        for (int t = 0; t < 100; t++) Assert.Equal(4, chosen[(4 * t)..(4 * t + 4)].Distinct().Count());
        for (int e = 0; e < 16; e++) Assert.Equal(stats.Loads[e], chosen.Count(c => c == e));
    }

    [Fact]
    public void Same_seed_gives_identical_layers_and_outputs()
    {
        var config = Variant("groups");
        var x = randn([2, 5, 10], generator: new Generator(9));
        var a = Values(new MoeLayer(config, CPU, new Generator(4)).forward(x));
        var b = Values(new MoeLayer(config, CPU, new Generator(4)).forward(x));
        var c = Values(new MoeLayer(config, CPU, new Generator(5)).forward(x));
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
    }

    [Fact]
    public void Balance_term_is_one_under_uniform_routing()
    {
        // 4 experts, k = 1, every expert chosen by one of 4 tokens, equal affinities: f = P = 1 for... Σ fᵢPᵢ = 4 · (4/4 · 1/4) = 1
        var scores = full([4, 4], 0.5f);
        var experts = tensor(new long[] { 0, 1, 2, 3 }).view(4, 1);
        Assert.Equal(1.0, Balancing.LoadAffinityProduct(scores, experts).item<float>(), 1e-6);
        // all tokens on expert 0 with affinity mass 0.7 there: f₀ = 4, P₀ = 0.7 → 2.8
        var skewed = tensor(new float[] { 0.7f, 0.1f, 0.1f, 0.1f }).expand(4, 4).contiguous();
        Assert.Equal(2.8, Balancing.LoadAffinityProduct(skewed, zeros([4, 1], dtype: ScalarType.Int64)).item<float>(), 1e-5);
    }

    [Fact]
    public void Sequence_wise_loss_sees_imbalance_that_the_batch_loss_averages_away()
    {
        // Two sequences: the first sends everything to expert 0, the second to expert 1. The batch is balanced over
        // experts {0, 1}; each sequence is not.
        var scores = cat([tensor(new float[] { 0.9f, 0.1f }).expand(1, 4, 2), tensor(new float[] { 0.1f, 0.9f }).expand(1, 4, 2)]).contiguous();
        var experts = cat([zeros([1, 4, 1], dtype: ScalarType.Int64), ones([1, 4, 1], dtype: ScalarType.Int64)]);
        double batch = Balancing.AuxLoss(scores.view(8, 2), experts.view(8, 1), 1).item<float>();
        double sequence = Balancing.SequenceAuxLoss(scores, experts, 1).item<float>();
        Assert.Equal(1.0, batch, 1e-6);            // f = (1, 1), P = (0.5, 0.5)
        Assert.Equal(2 * 0.9, sequence, 1e-5);     // per sequence f = (2, 0), P = (0.9, 0.1)
    }

    [Fact]
    public void Bias_update_moves_each_expert_one_step_toward_the_mean()
    {
        var bias = zeros(3);
        Balancing.UpdateBias(bias, [10, 0, 5], 0.01);
        Assert.Equal(new[] { -0.01f, 0.01f, 0f }, Values(bias));
        Balancing.UpdateBias(bias, [10, 0, 5], 0.01, direction: -1);
        Assert.Equal(new[] { 0f, 0f, 0f }, Values(bias));
    }

    [Fact]
    public void Bias_balancing_evens_a_skewed_router_and_the_flipped_sign_makes_it_worse()
    {
        // Feature 0 of every token is 1, so the centroids' column 0 is a fixed offset per expert: some experts are
        // favoured by every token. Only the bias moves; MaxVio_batch is averaged over the last 50 of 400 batches.
        double Run(double gamma, int direction)
        {
            var router = new Router(8, new RouterConfig(16, 2), CPU, new Generator(1));
            using (no_grad()) router.Weight.copy_(randn([16, 8], generator: new Generator(2)));
            var g = new Generator(3);
            var recent = new List<double>();
            for (int step = 0; step < 400; step++)
            {
                using var scope = NewDisposeScope();
                var x = randn([512, 8], generator: g);
                x[.., 0] = 1f;
                var loads = router.Route(x).Experts.flatten().bincount(null, 16).data<long>().ToArray();
                if (step >= 350) recent.Add(LoadMetrics.MaxVio(loads));
                Balancing.UpdateBias(router.Bias, loads, gamma, direction);
            }
            return recent.Average();
        }
        double none = Run(0, 1), balanced = Run(0.01, 1), flipped = Run(0.01, -1);
        Assert.True(none > 1, $"the skewed router's MaxVio without balancing is {none}");
        // Sampling noise alone leaves MaxVio_batch ≈ 0.2 at 64 assignments per expert; the sign rule adds a γ-sized wobble.
        Assert.True(balanced < 0.4 && balanced < none / 5, $"MaxVio after 400 bias steps {balanced} (none {none})");
        Assert.True(flipped > none, $"flipped sign MaxVio {flipped} vs none {none}");
    }

    [Fact]
    public void Layer_update_uses_the_loads_of_the_last_training_pass_only()
    {
        var layer = new MoeLayer(Config(new RouterConfig(8, 2), balancing: new BalancingConfig(BiasUpdateSpeed: 0.5)), CPU, new Generator(1));
        Assert.Throws<InvalidOperationException>(layer.UpdateBias);
        layer.train();
        layer.forward(randn([64, 10], generator: new Generator(2)));
        var trainLoads = layer.LastStats!.Loads;
        layer.eval();
        layer.forward(randn([3, 10], generator: new Generator(3)));   // an evaluation pass must not steer the bias
        layer.UpdateBias();
        double mean = trainLoads.Average();
        var expected = trainLoads.Select(c => (float)(0.5 * Math.Sign(mean - c))).ToArray();
        Assert.Equal(expected, Values(layer.Router.Bias));
    }

    [Fact]
    public void Balance_loss_exists_only_in_training_and_only_when_configured()
    {
        var x = randn([2, 6, 10], generator: new Generator(2));
        var plain = new MoeLayer(Config(new RouterConfig(8, 2)), CPU, new Generator(1));
        plain.train(); plain.forward(x);
        Assert.Null(plain.LastBalanceLoss);
        var both = new MoeLayer(Config(new RouterConfig(8, 2), balancing: new BalancingConfig(AuxLossAlpha: 0.01, SequenceAuxLossAlpha: 0.1)), CPU, new Generator(1));
        both.train(); both.forward(x);
        Assert.NotNull(both.LastBalanceLoss);
        var r = both.Router.Route(x.view(12, 10));
        double expected = 0.01 * Balancing.LoadAffinityProduct(r.Scores, r.Experts).item<float>() + 0.1 * Balancing.LoadAffinityProduct(r.Scores.view(2, 6, 8), r.Experts.view(2, 6, 2)).mean().item<float>();
        Assert.Equal(expected, both.LastBalanceLoss!.item<float>(), 1e-6);
        both.LastBalanceLoss.backward();
        Assert.True(both.Router.Weight.grad!.abs().sum().item<float>() > 0);   // the loss trains the centroids
        both.eval(); both.forward(x);
        Assert.Null(both.LastBalanceLoss);
    }
}

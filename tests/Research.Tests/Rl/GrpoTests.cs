using Research.Numerics;
using Research.Rl;
using Xunit;
using static TorchSharp.torch;

namespace Research.Tests.Rl;

public sealed class GrpoTests
{
    [Fact]
    public void Advantages_sum_to_zero_in_every_group_and_match_the_closed_form()
    {
        double[][] rewards = [[1, 0, 0, 1.5], [0.5, 0.5, 1.5, 0], [2, 1, 0, 1]];
        using var scope = NewDisposeScope();
        var r = tensor(rewards.SelectMany(x => x).ToArray(), [3, 4]);
        var normalized = Grpo.Advantages(r).to_type(ScalarType.Float64).data<double>().ToArray();
        var centred = Grpo.Advantages(r, normalizeStd: false).to_type(ScalarType.Float64).data<double>().ToArray();
        for (int g = 0; g < 3; g++)
        {
            double mean = rewards[g].Average();
            double std = Math.Sqrt(rewards[g].Sum(x => (x - mean) * (x - mean)) / (rewards[g].Length - 1));   // sample std
            for (int i = 0; i < 4; i++)
            {
                Assert.Equal((rewards[g][i] - mean) / std, normalized[g * 4 + i], 5);
                Assert.Equal(rewards[g][i] - mean, centred[g * 4 + i], 5);
            }
            Assert.Equal(0, normalized.Skip(g * 4).Take(4).Sum(), 5);
            Assert.Equal(0, centred.Skip(g * 4).Take(4).Sum(), 5);
        }
    }

    [Fact]
    public void A_group_of_equal_rewards_gets_zero_advantage_not_nan()
    {
        using var scope = NewDisposeScope();
        var r = tensor(new double[] { 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0 }, [3, 4]);
        foreach (bool std in new[] { true, false })
        {
            var a = Grpo.Advantages(r, std).data<float>().ToArray();
            Assert.All(a.Take(8), v => Assert.Equal(0f, v));
            Assert.All(a, v => Assert.True(float.IsFinite(v)));
            Assert.NotEqual(0f, a[9]);
        }
    }

    [Fact]
    public void A_group_of_one_is_refused()
    {
        using var scope = NewDisposeScope();
        Assert.Throws<ArgumentException>(() => Grpo.Advantages(ones(4, 1)));
    }

    [Fact]
    public void K3_is_non_negative_and_zero_exactly_where_the_policies_agree()
    {
        using var scope = NewDisposeScope();
        var g = new Generator(3);
        var a = randn([1000], generator: g, dtype: ScalarType.Float64);
        var b = randn([1000], generator: g, dtype: ScalarType.Float64);
        Assert.True(Grpo.KlK3(a, b).min().item<double>() >= 0);
        Assert.Equal(0, Grpo.KlK3(a, a).abs().max().item<double>());
        Assert.True(Grpo.KlK3(a, b).mean().item<double>() > 0.1);
    }

    [Fact]
    public void K3_averaged_over_samples_from_the_policy_approaches_the_KL()
    {
        double[] policy = [0.5, 0.3, 0.15, 0.05], reference = [0.25, 0.25, 0.25, 0.25];
        double kl = policy.Zip(reference, (p, q) => p * Math.Log(p / q)).Sum();   // KL(π_θ ‖ π_ref)
        using var scope = NewDisposeScope();
        var draws = multinomial(tensor(policy), 200_000, true, new Generator(11));
        var logPolicy = tensor(policy.Select(p => Math.Log(p)).ToArray()).index_select(0, draws);
        var logReference = tensor(reference.Select(p => Math.Log(p)).ToArray()).index_select(0, draws);
        double estimate = Grpo.KlK3(logPolicy, logReference).mean().item<double>();
        Assert.InRange(estimate, kl - 0.005, kl + 0.005);
        // k3 is unbiased, the naive log-ratio too, but k3 never goes negative on a single sample.
        Assert.True(kl > 0.1);
    }

    // A tiny policy: free logits [B, L, V]; the sampled tokens, old and reference log-probs are fixed.
    private sealed record Tiny(Tensor Logits, Tensor Tokens, Tensor Old, Tensor Reference, Tensor Advantages, Tensor Mask);

    private static Tiny MakeTiny(double oldShift = 0.3)
    {
        var g = new Generator(5);
        var logits = randn([4, 3, 5], generator: g, dtype: ScalarType.Float64);
        var tokens = randint(0, 5, [4, 3], generator: g);
        var mask = tensor(new[] { true, true, true, true, true, false, true, false, false, true, true, true }, [4, 3]);
        var picked = logits.log_softmax(-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1);
        var old = picked + oldShift * randn([4, 3], generator: g, dtype: ScalarType.Float64);
        var reference = picked + 0.5 * randn([4, 3], generator: g, dtype: ScalarType.Float64);
        var advantages = tensor(new double[] { 1.2, -0.7, 0.4, -0.9 });
        return new Tiny(logits, tokens, old, reference, advantages, mask);
    }

    private static Tensor PolicyLogProbs(Tensor logits, Tensor tokens) => logits.log_softmax(-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1);

    [Theory]
    [InlineData(LengthNormalization.PerResponse, 0.04)]
    [InlineData(LengthNormalization.Constant, 0.1)]
    [InlineData(LengthNormalization.PerResponse, 0.0)]
    public void The_loss_gradient_matches_finite_differences(LengthNormalization normalization, double beta)
    {
        using var scope = NewDisposeScope();
        var t = MakeTiny(oldShift: 0.05);   // ratios near 1, inside and a few outside the clip range
        var check = GradientCheck.Compare(
            logits => Grpo.Loss(PolicyLogProbs(logits, t.Tokens), t.Old, t.Reference, t.Advantages, t.Mask, 0.2, beta, normalization, budget: 3),
            t.Logits);
        Assert.True(check.MaxAbsError < 1e-7, $"max |autograd − finite difference| = {check.MaxAbsError}");
        Assert.Contains(check.Autograd, v => Math.Abs(v) > 1e-3);
    }

    [Fact]
    public void At_ratio_one_and_beta_zero_the_gradient_is_reinforce_with_the_group_mean_baseline()
    {
        using var scope = NewDisposeScope();
        var t = MakeTiny();
        double[] rewards = [1, 0, 0.5, 0.5];   // two groups of two: baselines 0.5 and 0.5
        var r = tensor(rewards, [2, 2]);
        var advantages = Grpo.Advantages(r, normalizeStd: false).reshape(-1).to_type(ScalarType.Float64);

        var x = t.Logits.clone().requires_grad_(true);
        var logProbs = PolicyLogProbs(x, t.Tokens);
        Grpo.Loss(logProbs, logProbs.detach(), null, advantages, t.Mask, 0.2, 0).backward();
        var grpo = x.grad!.clone();

        // REINFORCE: −(1/N) Σ_i (r_i − mean of its group) · (1/|o_i|) Σ_t ∇ log π(o_i,t)
        var y = t.Logits.clone().requires_grad_(true);
        var m = t.Mask.to_type(ScalarType.Float64);
        var baseline = tensor(new double[] { 0.5, 0.5, 0.5, 0.5 });
        var perResponse = (PolicyLogProbs(y, t.Tokens) * m).sum(1) / m.sum(1);
        (-((tensor(rewards) - baseline) * perResponse).mean()).backward();
        Assert.True((grpo - y.grad!).abs().max().item<double>() < 1e-12);
        Assert.True(grpo.abs().max().item<double>() > 1e-3);
    }

    [Theory]
    [InlineData(1.0, 1.5, true)]    // A > 0 and ρ above 1 + ε: the clip holds the gain, no gradient
    [InlineData(1.0, 0.5, false)]   // A > 0 and ρ below 1 − ε: not guarded, the gradient pushes ρ up
    [InlineData(-1.0, 0.5, true)]   // A < 0 and ρ below 1 − ε: clipped, no gradient
    [InlineData(-1.0, 1.5, false)]  // A < 0 and ρ above 1 + ε: not guarded, the gradient pushes ρ down
    public void Clipping_zeroes_the_gradient_outside_the_trust_region_in_the_guarded_direction(double advantage, double ratio, bool zero)
    {
        using var scope = NewDisposeScope();
        var logProbs = tensor(new double[] { -1.0, -2.0 }, [1, 2]).requires_grad_(true);
        var old = logProbs.detach() - Math.Log(ratio);   // ρ = π_θ / π_old = ratio on both tokens
        Grpo.Loss(logProbs, old, null, tensor(new[] { advantage }), ones(1, 2, ScalarType.Bool), 0.2, 0).backward();
        var gradient = logProbs.grad!.abs().max().item<double>();
        if (zero) Assert.Equal(0, gradient);
        else Assert.True(gradient > 0.1, $"gradient {gradient}");
    }

    [Fact]
    public void Beta_needs_the_reference_and_epsilon_must_be_positive()
    {
        using var scope = NewDisposeScope();
        var t = MakeTiny();
        var lp = PolicyLogProbs(t.Logits, t.Tokens);
        Assert.Throws<ArgumentException>(() => Grpo.Loss(lp, t.Old, null, t.Advantages, t.Mask, 0.2, 0.1));
        Assert.Throws<ArgumentOutOfRangeException>(() => Grpo.Loss(lp, t.Old, t.Reference, t.Advantages, t.Mask, 0, 0.1));
        Assert.Throws<ArgumentOutOfRangeException>(() => Grpo.Loss(lp, t.Old, t.Reference, t.Advantages, t.Mask, 0.2, 0.1, LengthNormalization.Constant));
    }
}

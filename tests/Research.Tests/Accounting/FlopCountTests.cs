using Research.Accounting;
using Research.Experiments;
using Xunit;

namespace Research.Tests.Accounting;

public sealed class FlopCountTests
{
    private static FlopsPerToken Flops(string preset, int seq = 4096) => FlopCounting.PerToken(ModelPresets.Find(preset), seq);

    [Theory]
    [InlineData("deepseek-v2", 155)]   // HW25 (arXiv 2505.09343) Table 2: 155 GFLOPs per token at sequence 4096
    [InlineData("deepseek-v3", 250)]   // HW25 Table 2: 250 GFLOPs
    public void Training_FLOPs_per_token_at_4096_reproduce_HW25_Table_2(string preset, double gflops)
    {
        Assert.Equal(gflops, Math.Round(Flops(preset).Training / 1e9));
    }

    [Fact]
    public void V3_training_FLOPs_are_6N_of_activated_matrices_plus_3x_causal_attention()
    {
        // Closed form: N = activated matrices (activated minus embedding, norms and gate bias); attention per layer
        // 2·n_h·(d_h + d_h^R + d_v) per position over (T + 1)/2 positions.
        var v3 = ModelPresets.Find("deepseek-v3");
        var count = ParameterCounting.Count(v3);
        long d = 7168, v = 129_280;
        long norms = 61 * (1536 + 512 + 2 * d) + d;
        long matrices = count.Activated - v * d - norms - 58 * 256;
        double attention = 61 * 2.0 * 128 * (128 + 64 + 128) * (4096 + 1) / 2.0;

        var flops = Flops("deepseek-v3");
        Assert.Equal(2.0 * matrices, flops.MatmulForward);
        Assert.Equal(attention, flops.AttentionForward);
        Assert.Equal(3 * (2.0 * matrices + attention), flops.Training);
    }

    [Fact]
    public void A_dense_model_sits_near_6N_and_an_MoE_model_far_below_6_times_its_total()
    {
        var llama = ParameterCounting.Count(ModelPresets.Find("llama3.1-405b"));
        var v3 = ParameterCounting.Count(ModelPresets.Find("deepseek-v3"));

        // Dense: within 3% of 6N (attention at 4096 and the embedding lookup make the difference).
        Assert.InRange(Flops("llama3.1-405b").Training / (6.0 * llama.Total), 0.97, 1.03);
        // MoE: about 6 × activated, a small fraction of 6 × total.
        Assert.InRange(Flops("deepseek-v3").Training / (6.0 * v3.Total), 0.05, 0.07);
    }

    [Fact]
    public void Attention_FLOPs_grow_linearly_with_sequence_and_matmuls_do_not_change()
    {
        var (a, b) = (Flops("deepseek-v3", 2047), Flops("deepseek-v3", 4095));
        Assert.Equal(a.MatmulForward, b.MatmulForward);
        Assert.Equal(2.0, b.AttentionForward / a.AttentionForward, 12);   // (4095 + 1) / (2047 + 1)
    }

    [Theory]
    [InlineData(0)]
    [InlineData(131_073)]
    public void A_sequence_outside_the_context_is_an_error_naming_seq(int seq)
    {
        var e = Assert.Throws<ConfigException>(() => Flops("deepseek-v3", seq));
        Assert.Contains("seq must be in 1..131072", e.Message);
    }
}

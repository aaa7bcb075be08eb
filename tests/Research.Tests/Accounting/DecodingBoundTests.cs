using Research.Models;
using Research.Accounting;
using Research.Mla;
using Xunit;

namespace Research.Tests.Accounting;

public sealed class DecodingBoundTests
{
    private static ModelConfig Preset(string name) => ModelPresets.Find(name);

    [Fact]
    public void Batch_1_reads_the_activated_weights_and_one_KV_cache_per_token()
    {
        // Given V3 in FP8 on one 8 × H800 node at a 4096-token context
        var v3 = Preset("deepseek-v3");
        var count = ParameterCounting.Count(v3);
        var bound = DecodingBound.Bound(v3, Hardware.H800Node, 4096);

        // Then a step reads activated − embedding table + one embedding row, at 1 byte each, and HW25's 70.272 KB per cached token
        double weights = count.Activated - 129_280L * 7168 + 7168;
        Assert.Equal(weights, bound.WeightBytesPerStep);
        Assert.Equal(70_272.0 * 4096, bound.KvBytesPerSequence);
        Assert.Equal(8 * 3.35e12 / (weights + 70_272.0 * 4096), bound.TokensPerSecond, 6);
        Assert.Equal(8.0, bound.ExpertsReadPerLayer, 12);   // K_r experts at batch 1
    }

    [Fact]
    public void Expected_distinct_experts_go_from_K_at_batch_1_to_N_at_large_batches()
    {
        Assert.Equal(8, DecodingBound.ExpectedDistinctExperts(256, 8, 1), 12);
        Assert.Equal(256 * (1 - Math.Pow(248.0 / 256, 2)), DecodingBound.ExpectedDistinctExperts(256, 8, 2), 12);
        Assert.Equal(256, DecodingBound.ExpectedDistinctExperts(256, 8, 100_000), 6);
    }

    [Fact]
    public void Sharing_weights_over_a_batch_raises_the_total_bound_and_lowers_each_sequences()
    {
        var v3 = Preset("deepseek-v3");
        var one = DecodingBound.Bound(v3, Hardware.H800Node, 4096, 1);
        var many = DecodingBound.Bound(v3, Hardware.H800Node, 4096, 64);
        Assert.True(many.TokensPerSecond > one.TokensPerSecond);
        Assert.True(many.TokensPerSecondPerSequence < one.TokensPerSecondPerSequence);
    }

    [Fact]
    public void V3_does_not_fit_one_H800_node_in_FP8_nor_an_M2_Ultra_in_4_bits_but_V2_Lite_fits_the_M2_Ultra()
    {
        // 671B × 1 byte > 8 × 80 GB; 671B × 0.5 byte > 192 GB (Apple: up to 192 GB unified memory).
        Assert.False(DecodingBound.Bound(Preset("deepseek-v3"), Hardware.H800Node, 4096).Fits);
        Assert.False(DecodingBound.Bound(Preset("deepseek-v3"), Hardware.M2Ultra, 4096, 1, DecodingBound.Int4).Fits);
        var lite = DecodingBound.Bound(Preset("deepseek-v2-lite"), Hardware.M2Ultra, 4096, 1, DecodingBound.Bf16);
        Assert.True(lite.Fits);
        Assert.Equal(800e9 / lite.BytesPerStep, lite.TokensPerSecond, 6);
    }

    [Fact]
    public void A_dense_model_reads_all_its_weights_but_the_embedding_table()
    {
        var llama = Preset("llama3.1-70b");
        var count = ParameterCounting.Count(llama);
        var bound = DecodingBound.Bound(llama, Hardware.H800Node, 1024, 1, DecodingBound.Bf16, KvDtype.Bf16);
        Assert.Equal(2.0 * (count.Total - 128_256L * 8192 + 8192), bound.WeightBytesPerStep);
        Assert.Equal(0, bound.ExpertsReadPerLayer);
    }
}

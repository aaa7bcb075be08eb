using Research.Experiments;
using Research.Fp8;
using Research.Numerics;
using Xunit;
using static TorchSharp.torch;

namespace Research.Tests.Fp8;

public sealed class Fp8GemmTests
{
    // E4M3 values with a per-tensor scale, as the experiment feeds the simulator.
    private static (Tensor A, Tensor B) QuantizedPair(int m, int k, int n, ulong seed)
    {
        var generator = new Generator(seed);
        var perTensor = new ScalingConfig(Granularity.PerTensor);
        return (Fp8Scaling.FakeQuant(randn([m, k], generator: generator), Fp8Format.E4M3, perTensor),
                Fp8Scaling.FakeQuant(randn([k, n], generator: generator), Fp8Format.E4M3, perTensor));
    }

    private static double Error(Tensor a, Tensor b, AccumulationConfig config) =>
        ErrorMetrics.RelativeRmse(Fp8Gemm.Matmul(a, b, config), Fp8Gemm.Reference(a, b));

    [Theory]
    [InlineData(1.0 + 1.0 / 8192, AccumulatorRounding.NearestEven, 1.0 + 1.0 / 8192)]            // 1 + 2⁻¹³: the last kept bit
    [InlineData(1.0 + 1.0 / 16384, AccumulatorRounding.NearestEven, 1.0)]                         // 1 + 2⁻¹⁴: a tie, to even
    [InlineData(1.0 + 3.0 / 16384, AccumulatorRounding.NearestEven, 1.0 + 2.0 / 8192)]            // 1 + 3·2⁻¹⁴: a tie, to even (up)
    [InlineData(1.0 + 3.0 / 16384, AccumulatorRounding.TowardZero, 1.0 + 1.0 / 8192)]             // shifted-out bit dropped
    [InlineData(-(1.0 + 3.0 / 16384), AccumulatorRounding.TowardZero, -(1.0 + 1.0 / 8192))]       // toward zero, not down
    [InlineData(4096.0 + 0.25, AccumulatorRounding.TowardZero, 4096.0)]                           // 2¹²: the quantum is 2⁻¹ there
    public void Rounding_to_13_fraction_bits_keeps_the_binade_and_drops_the_rest(double x, AccumulatorRounding rounding, double expected)
    {
        var rounded = Fp8Gemm.RoundToFractionBits(tensor(new[] { x }), 13, rounding);

        Assert.Equal(expected, rounded[0].item<double>());
    }

    [Fact]
    public void A_small_addend_below_the_13th_fraction_bit_is_lost_and_FP32_keeps_it()
    {
        // Given 1 + 2⁻²⁰ as a dot product: A = [1, 2⁻²⁰], B = [1, 1]ᵀ.
        var a = tensor(new[,] { { 1f, MathF.Pow(2, -20) } });
        var b = ones(2, 1);

        // When it is summed in one chunk (aligned to 2⁰, quantum 2⁻¹³), in two chunks, or with 23 bits.
        float oneChunk = Fp8Gemm.Matmul(a, b, AccumulationConfig.NoPromotion).item<float>();
        float twoChunks = Fp8Gemm.Matmul(a, b, new AccumulationConfig(PromotionInterval: null, ChunkSize: 1, Rounding: AccumulatorRounding.NearestEven)).item<float>();
        float wide = Fp8Gemm.Matmul(a, b, AccumulationConfig.NoPromotion with { AccumulatorMantissaBits = 23 }).item<float>();

        // Then 13 bits lose it either way (2⁻²⁰ < half of 2⁻¹³), and FP32's 23 bits keep it exactly.
        Assert.Equal(1f, oneChunk);
        Assert.Equal(1f, twoChunks);
        Assert.Equal(1f + MathF.Pow(2, -20), wide);
    }

    [Theory]
    [InlineData(13, 128, 32)]
    [InlineData(13, null, 32)]
    [InlineData(3, null, 1)]      // 3 fraction bits hold every integer up to 2⁴, one product at a time
    public void All_ones_of_small_K_sum_exactly_to_K(int bits, int? promotion, int chunk)
    {
        int k = bits == 3 ? 16 : 100;   // every partial sum 0..K fits in bits + 1 significant bits
        var c = Fp8Gemm.Matmul(ones(3, k), ones(k, 2), new AccumulationConfig(bits, promotion, chunk));

        Assert.True(c.eq(full(3, 2, (float)k)).all().item<bool>());
    }

    [Fact]
    public void With_23_bits_the_simulated_product_is_as_accurate_as_an_FP32_matmul()
    {
        var (a, b) = QuantizedPair(16, 2048, 16, seed: 1);
        var config = new AccumulationConfig(AccumulatorMantissaBits: 23, PromotionInterval: null, Rounding: AccumulatorRounding.NearestEven);

        double simulated = Error(a, b, config);
        double fp32 = ErrorMetrics.RelativeRmse(a.matmul(b), Fp8Gemm.Reference(a, b));

        // Both sit at float32's level (u = 2⁻²⁴ ≈ 6e-8 per operation); 13 bits would be ~1e-3 here.
        Assert.InRange(simulated, 0, 1e-6);
        Assert.InRange(fp32, 0, 1e-6);
        Assert.True(simulated < 10 * fp32 + 1e-7, $"simulated {simulated:E2}, fp32 matmul {fp32:E2}");
    }

    [Fact]
    public void Promotion_after_every_product_is_a_sequential_FP32_sum_bit_for_bit()
    {
        // Oracle: c ← fl32(c + a_k·b_k) for k = 1..K, one outer product at a time. Unscaled E4M3 values have 4
        // significant bits, so every product (8 bits) is exact in float32 and in the 13-bit accumulator alike.
        var generator = new Generator(2);
        var a = Fp8Format.E4M3.Round(randn([8, 300], generator: generator) * 16f);
        var b = Fp8Format.E4M3.Round(randn([300, 8], generator: generator) * 16f);
        var c = zeros(8, 8);
        for (int k = 0; k < 300; k++)
            c = c + a[.., k..(k + 1)] * b[k..(k + 1), ..];

        var simulated = Fp8Gemm.Matmul(a, b, new AccumulationConfig(PromotionInterval: 1, ChunkSize: 1));

        Assert.True(simulated.eq(c).all().item<bool>());
    }

    [Fact]
    public void Without_promotion_the_error_grows_with_K_and_promotion_every_128_bounds_it()
    {
        var (small, smallB) = QuantizedPair(32, 512, 32, seed: 3);
        var (large, largeB) = QuantizedPair(32, 8192, 32, seed: 3);

        double plainSmall = Error(small, smallB, AccumulationConfig.NoPromotion);
        double plainLarge = Error(large, largeB, AccumulationConfig.NoPromotion);
        double promotedSmall = Error(small, smallB, AccumulationConfig.DeepSeekV3);
        double promotedLarge = Error(large, largeB, AccumulationConfig.DeepSeekV3);

        // 16× more K: truncation loses a fixed fraction per accumulation step, so the plain error grows ~linearly;
        // promoted, each 128-long partial sum carries the same relative error whatever K is.
        Assert.True(plainLarge > 4 * plainSmall, $"no promotion: K=512 {plainSmall:E2}, K=8192 {plainLarge:E2}");
        Assert.True(promotedLarge < 2 * promotedSmall, $"promotion: K=512 {promotedSmall:E2}, K=8192 {promotedLarge:E2}");
        Assert.True(10 * promotedLarge < plainLarge);
    }

    [Fact]
    public void The_result_is_float32_on_the_inputs_device_and_the_inputs_are_untouched()
    {
        var (a, b) = QuantizedPair(4, 64, 5, seed: 4);
        var before = a.clone();

        var c = Fp8Gemm.Matmul(a, b, AccumulationConfig.DeepSeekV3);

        Assert.Equal(new long[] { 4, 5 }, c.shape);
        Assert.Equal(ScalarType.Float32, c.dtype);
        Assert.Equal(a.device.ToString(), c.device.ToString());
        Assert.True(a.eq(before).all().item<bool>());
    }

    [Theory]
    [InlineData(0, 128, 32, "AccumulatorMantissaBits")]
    [InlineData(41, 128, 32, "AccumulatorMantissaBits")]
    [InlineData(13, 128, 0, "ChunkSize")]
    [InlineData(13, 100, 32, "PromotionInterval")]   // not a whole number of chunks
    [InlineData(13, 0, 32, "PromotionInterval")]
    public void Bad_accumulation_configs_name_the_field_and_the_allowed_range(int bits, int? promotion, int chunk, string field)
    {
        var e = Assert.Throws<ConfigException>(() => new AccumulationConfig(bits, promotion, chunk).Validated());

        Assert.Contains($"AccumulationConfig.{field}", e.Message);
        Assert.Contains("must be", e.Message);
    }

    [Fact]
    public void Mismatched_shapes_are_rejected()
    {
        Assert.Throws<ArgumentException>(() => Fp8Gemm.Matmul(ones(2, 3), ones(4, 2), AccumulationConfig.DeepSeekV3));
    }
}

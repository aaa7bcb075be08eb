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

public sealed class Fp8AccumulationExperimentTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    private static Fp8AccumulationConfig Small => new(Rows: 16, Columns: 16, InnerSizes: [256, 4096]);

    [Fact]
    public void Promotion_keeps_the_error_at_K_4096_an_order_of_magnitude_below_a_plain_FP22_accumulator()
    {
        var result = Fp8AccumulationExperiment.Run(Small, CPU, cancellation: Token).First;

        Assert.NotNull(result.K4096);
        var (plain, promoted) = (result.K4096.NoPromotion, result.K4096.Promotion);
        Assert.True(plain > 10 * promoted, $"no promotion {plain:E2}, promotion {promoted:E2}");
        // Without promotion: a few 2⁻¹⁴ losses per 32-product step over 128 steps, 1e-3..1e-2 (V3 §3.3.2: "nearly 2 %").
        Assert.InRange(plain, 1e-3, 3e-2);
        Assert.Equal(plain, result.Points.Single(p => p.K == 4096 && !p.Promotion).MaxRelativeError);
    }

    [Fact]
    public void Research_run_json_shows_the_K_4096_pair_under_result()
    {
        var folder = TestPaths.TempFolder();
        var config = Path.Combine(folder, "tiny.json");
        File.WriteAllText(config, """{ "rows": 8, "columns": 8, "innerSizes": [256, 4096] }""");

        var (exit, output, error) = Cli.InProcessCli.Run(["run", Fp8AccumulationExperiment.Id, "--config", config, "--out", folder, "--json"]);

        Assert.True(exit == 0, error);
        var k4096 = System.Text.Json.JsonDocument.Parse(output).RootElement.GetProperty("result").GetProperty("perSeed")[0].GetProperty("result").GetProperty("k4096");
        Assert.True(k4096.GetProperty("noPromotion").GetDouble() > k4096.GetProperty("promotion").GetDouble());
        Assert.Equal("k,promotion,max_relative_error,mean_relative_error", File.ReadLines(Path.Combine(folder, Fp8AccumulationExperiment.Id, "errors.csv")).First());
    }

    [Fact]
    public void Without_4096_in_the_sweep_there_is_no_headline_pair()
    {
        var result = Fp8AccumulationExperiment.Run(Small with { InnerSizes = [256] }, CPU, cancellation: Token).First;

        Assert.Null(result.K4096);
        Assert.Equal([false, true], result.Points.Select(p => p.Promotion));
    }

    [Fact]
    public void The_same_seed_gives_identical_numbers_and_another_seed_different_ones()
    {
        var a = Fp8AccumulationExperiment.Run(Small with { InnerSizes = [512] }, CPU, cancellation: Token).First;
        var b = Fp8AccumulationExperiment.Run(Small with { InnerSizes = [512] }, CPU, cancellation: Token).First;
        var c = Fp8AccumulationExperiment.Run(Small with { InnerSizes = [512], Seeds = [1] }, CPU, cancellation: Token).First;

        Assert.Equal(a.Points, b.Points);
        Assert.NotEqual(a.Points, c.Points);
    }

    [Fact]
    public void The_embedded_default_sweeps_256_to_16384_with_V3s_accumulator()
    {
        var config = ExperimentConfigs.Load<Fp8AccumulationConfig>(Fp8AccumulationExperiment.Id).Validated();

        Assert.Equal([256, 512, 1024, 2048, 4096, 8192, 16384], config.Ks);
        Assert.Equal(AccumulationConfig.DeepSeekV3, config.Accumulation);
    }

    [Theory]
    [InlineData("""{ "innerSizes": [0] }""", "InnerSizes")]
    [InlineData("""{ "rows": 0 }""", "Rows")]
    [InlineData("""{ "promotionInterval": 100 }""", "PromotionInterval")]
    [InlineData("""{ "accumulatorMantissaBits": 0 }""", "AccumulatorMantissaBits")]
    [InlineData("""{ "rounding": "up" }""", "rounding")]
    [InlineData("""{ "format": "int8" }""", "E4M3")]
    public void Bad_configs_name_the_field(string json, string named)
    {
        var path = Path.Combine(TestPaths.TempFolder(), "config.json");
        File.WriteAllText(path, json);

        var e = Assert.Throws<ConfigException>(() => ExperimentCatalog.Find(Fp8AccumulationExperiment.Id).Run(new ExperimentRequest(CPU, ConfigPath: path)));

        Assert.Contains(named, e.Message);
    }

    [Fact]
    public void Chart_draws_both_runs_against_K_on_log_log_axes_with_units()
    {
        var result = new Fp8AccumulationResult("E4M3", 64, 64, 13, 128, 32, "TowardZero", new PromotionPair(3e-3, 2e-4),
            [new(256, false, 4e-4, 3e-4), new(256, true, 3e-4, 2e-4), new(4096, false, 3e-3, 2e-3), new(4096, true, 2e-4, 1e-4)]);

        var figure = System.Text.Json.JsonDocument.Parse(Plotly.NET.GenericChart.toFigureJson(Fp8Charts.AccumulationError(result))).RootElement;

        var traces = figure.GetProperty("data").EnumerateArray().ToList();
        Assert.Equal(["no promotion", "promotion to FP32 every 128"], traces.Select(t => t.GetProperty("name").GetString()));
        Assert.Equal([4e-4, 3e-3], traces[0].GetProperty("y").EnumerateArray().Select(y => y.GetDouble()));
        var layout = figure.GetProperty("layout");
        Assert.Equal("log", layout.GetProperty("xaxis").GetProperty("type").GetString());
        Assert.Equal("log", layout.GetProperty("yaxis").GetProperty("type").GetString());
        Assert.Equal([256.0, 4096.0], layout.GetProperty("xaxis").GetProperty("tickvals").EnumerateArray().Select(x => x.GetDouble()));
        Assert.Contains("K (elements)", layout.GetProperty("xaxis").GetProperty("title").GetProperty("text").GetString());
        Assert.Contains("relative error", layout.GetProperty("yaxis").GetProperty("title").GetProperty("text").GetString());
    }
}

using Research.Fp8;
using Research.Platform;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Research.Tests.Fp8;

public sealed class Fp8FormatTests
{
    private static float[] Values(Tensor t) => t.data<float>().ToArray();

    // libtorch's own float8 cast and back: the oracle for E4M3 and E5M2.
    private static float[] LibTorchRoundTrip(float[] x, ScalarType float8) =>
        Values(tensor(x).to_type(float8).to_type(ScalarType.Float32));

    private static void AssertBitIdentical(float[] x, float[] expected, float[] actual)
    {
        for (int i = 0; i < x.Length; i++)
        {
            bool same = float.IsNaN(expected[i]) ? float.IsNaN(actual[i])
                : BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]);
            Assert.True(same, $"x = {x[i]:R}: expected {expected[i]:R}, got {actual[i]:R}");
        }
    }

    private static float[] AllFiniteHalves(double max) => LibTorchFloat8.FiniteHalvesWithin(max);

    public static TheoryData<string> LibTorchFormats() => LibTorchFloat8.Formats();

    private static (Fp8Format Format, ScalarType Dtype) Named(string name) => LibTorchFloat8.Named(name);

    [Theory]
    [MemberData(nameof(LibTorchFormats))]
    public void Round_matches_libtorch_on_every_finite_float16_within_range(string name)
    {
        var (format, dtype) = Named(name);
        var x = AllFiniteHalves(format.MaxFinite);

        AssertBitIdentical(x, LibTorchRoundTrip(x, dtype), Values(format.Round(tensor(x))));
    }

    [Theory]
    [MemberData(nameof(LibTorchFormats))]
    public void Round_matches_libtorch_on_a_million_random_float32_within_range(string name)
    {
        var (format, dtype) = Named(name);
        var random = new Random(1234);
        // Random bit patterns cover every binade, subnormals of the format and float32 alike, and ties.
        var x = Enumerable.Range(0, 1_000_000).Select(_ => BitConverter.Int32BitsToSingle(random.Next() | (random.Next(2) << 31)))
            .Where(v => float.IsFinite(v) && Math.Abs(v) <= format.MaxFinite).ToArray();
        Assert.True(x.Length > 100_000);

        AssertBitIdentical(x, LibTorchRoundTrip(x, dtype), Values(format.Round(tensor(x))));
    }

    [Theory]
    [InlineData("E4M3", 448.0, 0.015625, 0.001953125)]          // 1.75·2^8, 2^-6, 2^-9 (OCP FP8 table)
    [InlineData("E5M2", 57344.0, 6.103515625e-05, 1.52587890625e-05)] // 1.75·2^15, 2^-14, 2^-16
    [InlineData("E3M2", 28.0, 0.25, 0.0625)]                     // 1.75·2^4, 2^-2, 2^-4 (OCP MX)
    [InlineData("E2M3", 7.5, 1.0, 0.125)]                        // 1.875·2^2, 2^0, 2^-3
    [InlineData("E2M1", 6.0, 1.0, 0.5)]                          // 1.5·2^2, 2^0, 2^-1
    public void Ranges_match_the_OCP_tables(string name, double max, double minNormal, double minPositive)
    {
        var f = Fp8Format.Standard.Single(s => s.Name == name);

        Assert.Equal((max, minNormal, minPositive), (f.MaxFinite, f.MinNormal, f.MinPositive));
    }

    [Fact]
    public void UE8M0_spans_powers_of_two_from_2_to_the_minus_127_to_2_to_the_127()
    {
        Assert.Equal((Math.Pow(2, 127), Math.Pow(2, -127)), (Fp8Format.UE8M0.MaxFinite, Fp8Format.UE8M0.MinPositive));

        var y = Values(Fp8Format.UE8M0.Round(tensor(new[] { 3f, 2.9f, 5f, 0f, -1f, 1e-39f })));

        // 3 = 1.5·2 is a tie between 2 and 4: even significand (2 → 4); 2.9 → 2; 5 = 1.25·4 → 4; no zero; unsigned.
        Assert.Equal(4f, y[0]);
        Assert.Equal(2f, y[1]);
        Assert.Equal(4f, y[2]);
        Assert.Equal((float)Math.Pow(2, -127), y[3]);
        Assert.True(float.IsNaN(y[4]));
        Assert.Equal((float)Math.Pow(2, -127), y[5]);
    }

    public static TheoryData<string> SmallFormats() => ["E3M2", "E2M3", "E2M1"];

    [Theory]
    [MemberData(nameof(SmallFormats))]
    public void Small_formats_round_to_the_nearest_code_with_ties_to_even(string name)
    {
        var f = Fp8Format.Standard.Single(s => s.Name == name);
        // Independent oracle: decode every code of the format from its bit fields.
        var grid = Enumerable.Range(0, 1 << (f.ExponentBits + f.MantissaBits)).Select(code =>
        {
            int exponent = code >> f.MantissaBits, mantissa = code & ((1 << f.MantissaBits) - 1);
            double value = exponent == 0
                ? mantissa * Math.Pow(2, 1 - f.Bias - f.MantissaBits)
                : (1 + mantissa / Math.Pow(2, f.MantissaBits)) * Math.Pow(2, exponent - f.Bias);
            return (value, even: (mantissa & 1) == 0);
        }).ToArray();
        var random = new Random(7);
        var x = Enumerable.Range(0, 20_000).Select(_ => (float)((random.NextDouble() * 2 - 1) * f.MaxFinite * 1.05)).ToList();
        x.AddRange(grid.Zip(grid.Skip(1), (a, b) => (float)((a.value + b.value) / 2)));   // every exact tie

        var y = Values(f.Round(tensor(x.ToArray())));

        for (int i = 0; i < x.Count; i++)
        {
            double a = Math.Abs(x[i]);
            double best = grid.Min(g => Math.Abs(g.value - a));
            var nearest = grid.Where(g => Math.Abs(g.value - a) == best).ToList();
            double expected = nearest.Count == 1 ? nearest[0].value : nearest.Single(g => g.even).value;
            Assert.Equal(Math.CopySign(Math.Min(expected, f.MaxFinite), x[i]), y[i]);
        }
    }

    [Fact]
    public void Overflow_saturates_by_default_and_gives_NaN_or_Inf_when_asked()
    {
        var x = tensor(new[] { 464f, 465f, -1e6f, float.PositiveInfinity });

        // 464 = 14.5 quanta of 32 in [256, 512): ties to even → 448, not an overflow; 465 rounds to 480 > 448.
        Assert.Equal([448f, 448f, -448f, 448f], Values(Fp8Format.E4M3.Round(x)));
        var nonSaturating = Values(Fp8Format.E4M3.Round(x, OverflowMode.NonSaturating));
        Assert.Equal(448f, nonSaturating[0]);
        Assert.All(nonSaturating[1..], v => Assert.True(float.IsNaN(v)));
        Assert.Equal([57344f, float.NegativeInfinity, float.PositiveInfinity],
            Values(Fp8Format.E5M2.Round(tensor(new[] { 61439f, -61440f, float.PositiveInfinity }), OverflowMode.NonSaturating)));
        Assert.Equal([57344f, -57344f, float.PositiveInfinity],
            Values(Fp8Format.E5M2.Round(tensor(new[] { 61439f, -61440f, float.PositiveInfinity }))));
    }

    [Fact]
    public void Libtorch_e4m3_cast_is_non_saturating_which_is_why_the_kit_clamps_first()
    {
        // Documents the oracle's behaviour at overflow (reference §1.2): both modes exist for this reason.
        var x = new[] { 470f, 1000f };

        var libtorch = LibTorchRoundTrip(x, Doctor.Float8E4M3FN);

        Assert.All(libtorch, v => Assert.True(float.IsNaN(v)));
        Assert.All(Values(Fp8Format.E4M3.Round(tensor(x), OverflowMode.NonSaturating)), v => Assert.True(float.IsNaN(v)));
    }

    [Fact]
    public void NaN_stays_NaN_and_negative_zero_keeps_its_sign()
    {
        var y = Values(Fp8Format.E4M3.Round(tensor(new[] { float.NaN, -0f, -1e-30f })));

        Assert.True(float.IsNaN(y[0]));
        Assert.True(float.IsNegative(y[1]) && y[1] == 0);
        Assert.True(float.IsNegative(y[2]) && y[2] == 0);
    }

    [Fact]
    public void Round_works_on_any_shape_and_rejects_other_dtypes()
    {
        var x = randn(3, 4, 5);

        Assert.Equal(x.shape, Fp8Format.E4M3.Round(x).shape);
        var e = Assert.Throws<ArgumentException>(() => Fp8Format.E4M3.Round(x.to_type(ScalarType.Float64)));
        Assert.Contains("float32", e.Message);
    }

    [Theory]
    [InlineData(0, 3, 7, "exponentBits")]
    [InlineData(4, 11, 7, "mantissaBits")]
    [InlineData(8, 10, -200, "bias")]
    public void Create_rejects_layouts_it_cannot_represent_naming_the_field(int e, int m, int bias, string field)
    {
        var ex = Assert.ThrowsAny<ArgumentException>(() => Fp8Format.Create("X", e, m, bias, hasInfinity: false, hasNan: false));

        Assert.Equal(field, ex.ParamName);
    }
}

using Research.Experiments;
using Research.Fp8;
using Research.Platform;
using Xunit;
using static TorchSharp.torch;

namespace Research.Tests.Fp8;

public sealed class Fp8ScalingTests
{
    private static float[] Values(Tensor t) => t.contiguous().data<float>().ToArray();

    [Fact]
    public void Tile_fake_quant_is_bit_identical_to_an_explicit_per_tile_loop_over_libtorchs_cast()
    {
        // Oracle: each 1×128 tile by hand — s = amax/448 in float32, libtorch's e4m3 cast of x/s, times s.
        var x = randn([4, 300], generator: new Generator(11)) * 3f;
        x[1, 5] = 900f;                                     // an outlier owns its tile's scale
        x[2, TensorIndex.Slice(128, 256)] = 0f;             // an all-zero tile
        var data = Values(x);
        var expected = new float[data.Length];
        for (int r = 0; r < 4; r++)
            for (int c0 = 0; c0 < 300; c0 += 128)
            {
                int n = Math.Min(128, 300 - c0);
                float amax = Enumerable.Range(c0, n).Max(c => Math.Abs(data[r * 300 + c]));
                float s = amax > 0 ? amax / 448f : 1f;
                var scaled = tensor(Enumerable.Range(c0, n).Select(c => data[r * 300 + c] / s).ToArray());
                var cast = Values(scaled.to_type(Doctor.Float8E4M3FN).to_type(ScalarType.Float32));
                for (int i = 0; i < n; i++) expected[r * 300 + c0 + i] = cast[i] * s;
            }

        var actual = Values(Fp8Scaling.FakeQuant(x, Fp8Format.E4M3, ScalingConfig.ActivationTiles));

        Assert.Equal(expected.Select(BitConverter.SingleToInt32Bits), actual.Select(BitConverter.SingleToInt32Bits));
    }

    [Theory]
    [InlineData(Granularity.PerTensor, new long[] { 1, 1 })]
    [InlineData(Granularity.PerRow, new long[] { 3, 1 })]
    [InlineData(Granularity.Tile, new long[] { 3, 3 })]    // 300 columns: 128 + 128 + 44
    [InlineData(Granularity.Block, new long[] { 1, 3 })]   // 3 rows fit one block row
    public void Scale_shapes_follow_the_granularity_with_a_short_last_group(Granularity granularity, long[] shape)
    {
        var q = Fp8Scaling.Quantize(randn(3, 300), Fp8Format.E4M3, new ScalingConfig(granularity));

        Assert.Equal(shape, q.Scales.shape);
        Assert.Equal(new long[] { 3, 300 }, q.Values.shape);
    }

    [Theory]
    [InlineData(Granularity.PerTensor)]
    [InlineData(Granularity.PerRow)]
    [InlineData(Granularity.Tile)]
    [InlineData(Granularity.Block)]
    public void Round_trip_error_is_within_half_a_step_of_each_groups_grid(Granularity granularity)
    {
        var x = randn([200, 260], generator: new Generator(5));
        var q = Fp8Scaling.Quantize(x, Fp8Format.E4M3, new ScalingConfig(granularity, TileSize: 64, BlockSize: 64));
        var scale = Fp8Scaling.Dequantize(q) / q.Values.where(q.Values != 0, ones_like(q.Values));   // per-element scale

        // Half a step of E4M3 at |x/s|: 2^(max(⌊log2 |x/s|⌋, -6) - 3) / 2, scaled back by s.
        var scaled = (x / scale).abs();
        var (_, e) = scaled.frexp();
        var halfStep = ((e - 1).clamp_min(-6) - 4).to_type(ScalarType.Float32).exp2() * scale;
        var error = (Fp8Scaling.Dequantize(q) - x).abs();

        Assert.True((error <= halfStep * 1.0001f).all().item<bool>());
    }

    [Fact]
    public void Each_nonzero_group_uses_the_whole_range_and_a_zero_group_keeps_scale_one()
    {
        var x = randn(2, 256) * 0.01f;
        x[1, TensorIndex.Slice(0, 128)] = 0f;

        var q = Fp8Scaling.Quantize(x, Fp8Format.E4M3, ScalingConfig.ActivationTiles);

        var tileAmax = q.Values.abs().reshape(2, 2, 128).amax([2]);
        Assert.Equal([448f, 448f, 0f, 448f], Values(tileAmax));
        Assert.Equal(1f, q.Scales[1, 0].item<float>());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_group_of_tiny_subnormals_whose_scale_underflows_rounds_to_zero_instead_of_NaN(bool powerOfTwo)
    {
        // Given a tile of float32 subnormals (amax 2⁻¹⁴⁴, so amax/448 underflows to 0) with a zero, beside an ordinary tile.
        // Such tiles occur in gradients behind a saturated activation (GELU' ≈ 0 for very negative inputs).
        var tiny = Enumerable.Range(0, 128).Select(i => i == 0 ? 0f : BitConverter.Int32BitsToSingle(i % 32)).ToArray();
        var x = cat([tensor(tiny).reshape(1, 128), ones(1, 128)], 1);
        Assert.True(x[0, 1..].gt(0).any().item<bool>());

        var y = Fp8Scaling.FakeQuant(x, Fp8Format.E4M3, ScalingConfig.ActivationTiles with { PowerOfTwoScales = powerOfTwo });

        Assert.True(y[0, ..128].eq(0).all().item<bool>());
        Assert.True(y[0, 128..].eq(1).all().item<bool>());
    }

    [Fact]
    public void Tiles_of_a_short_row_equal_tiles_of_the_zero_padded_row()
    {
        var x = randn(3, 200);
        var padded = cat([x, zeros(3, 56)], 1);

        var a = Fp8Scaling.FakeQuant(x, Fp8Format.E4M3, ScalingConfig.ActivationTiles);
        var b = Fp8Scaling.FakeQuant(padded, Fp8Format.E4M3, ScalingConfig.ActivationTiles)[.., ..200];

        Assert.True(a.eq(b).all().item<bool>());
    }

    [Fact]
    public void Power_of_two_scales_are_powers_of_two_that_never_overflow()
    {
        var x = randn([64, 256], generator: new Generator(2)) * 37f;

        var q = Fp8Scaling.Quantize(x, Fp8Format.E4M3, ScalingConfig.ActivationTiles with { PowerOfTwoScales = true });

        var log2 = q.Scales.log2();
        Assert.True(log2.eq(log2.round()).all().item<bool>());
        var amax = x.abs().reshape(64, 2, 128).amax([2]);
        Assert.True((q.Scales >= amax / 448f).all().item<bool>());
        Assert.True((q.Values.abs() <= 448f).all().item<bool>());
    }

    [Fact]
    public void Fake_quant_passes_the_gradient_straight_through()
    {
        var x = randn(4, 128).requires_grad_(true);
        var w = randn(4, 128);

        var y = Fp8Scaling.FakeQuant(x, Fp8Format.E4M3, ScalingConfig.ActivationTiles);
        (y * w).sum().backward();

        Assert.True(x.grad!.eq(w).all().item<bool>());
        Assert.True(y.detach().eq(Fp8Scaling.Dequantize(Fp8Scaling.Quantize(x.detach(), Fp8Format.E4M3, ScalingConfig.ActivationTiles))).all().item<bool>());
    }

    [Fact]
    public void Quantize_keeps_any_rank_and_restores_the_shape()
    {
        var x = randn(2, 3, 130);

        var y = Fp8Scaling.FakeQuant(x, Fp8Format.E5M2, ScalingConfig.ActivationTiles);

        Assert.Equal(x.shape, y.shape);
    }

    [Fact]
    public void NaN_or_Inf_input_is_a_clear_error()
    {
        var x = ones(2, 4);
        x[0, 1] = float.NaN;

        var e = Assert.Throws<ArgumentException>(() => Fp8Scaling.Quantize(x, Fp8Format.E4M3, ScalingConfig.ActivationTiles));
        Assert.Contains("NaN or Inf", e.Message);
    }

    [Theory]
    [InlineData(0, 128, "TileSize")]
    [InlineData(128, 0, "BlockSize")]
    public void Bad_sizes_are_config_errors_naming_the_field(int tile, int block, string field)
    {
        var e = Assert.Throws<ConfigException>(() => Fp8Scaling.Quantize(ones(2, 2), Fp8Format.E4M3, new ScalingConfig(Granularity.Tile, tile, block)));

        Assert.Contains(field, e.Message);
    }
}

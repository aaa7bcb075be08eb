using Research.Fp8;
using Research.Platform;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Research.Tests.Fp8;

public sealed class Fp8FusedKernelsTests
{
    private const int Tile = 128;   // V3 §3.3.2 activation tiles

    private static float[] Values(Tensor t) => t.data<float>().ToArray();

    // libtorch's own e4m3fn cast and back: the oracle.
    private static Tensor LibTorchRoundTrip(Tensor x) => x.to_type(Doctor.Float8E4M3FN).to_type(ScalarType.Float32);

    // Compared as int32 bit patterns (so -0 ≠ +0), any NaN matching any NaN.
    private static void AssertBitIdentical(Tensor x, Tensor expected, Tensor actual)
    {
        Assert.Equal(expected.shape, actual.shape);
        float[] xs = Values(x.reshape(-1)), e = Values(expected.reshape(-1)), a = Values(actual.reshape(-1));
        for (int i = 0; i < e.Length; i++)
        {
            bool same = float.IsNaN(e[i]) ? float.IsNaN(a[i]) : BitConverter.SingleToInt32Bits(e[i]) == BitConverter.SingleToInt32Bits(a[i]);
            Assert.True(same, $"element {i}, x = {xs[i]:R}: expected {e[i]:R}, got {a[i]:R}");
        }
    }

    private static float[] AllFiniteHalves(double max) => LibTorchFloat8.FiniteHalvesWithin(max);

    // Hand-picked E4M3 hard cases (OCP FP8: 3 fraction bits, min normal 2⁻⁶, min subnormal 2⁻⁹, max 448).
    private static readonly float[] Adversarial =
    [
        0f, -0f, 1f, -1f, 448f, -448f, 2f, 0.5f, 256f,
        1.0625f, 1.1875f, -1.0625f,                 // halfway 1|1.125 → 1 (even), 1.125|1.25 → 1.25 (even)
        464f, -464f, 440f,                          // 448|480: tie → 448; 440 halfway 432|448 → 448 (even)
        0.015625f, 0.0146484375f, 0.01611328125f,   // 2⁻⁶; 15·2⁻¹⁰ halfway 7·2⁻⁹|2⁻⁶ → 2⁻⁶; 2⁻⁶ + 2⁻¹⁰ (tie in normal binade) → 2⁻⁶
        0.001953125f, 0.0009765625f, -0.0009765625f, // 2⁻⁹; 2⁻¹⁰ halfway 0|2⁻⁹ → ±0
        0.0029296875f, 0.0048828125f,               // 3·2⁻¹⁰ → 2·2⁻⁹ (even); 5·2⁻¹⁰ → 2·2⁻⁹ (even)
        0.00097656256f, 0.00097656244f,             // just above / below 2⁻¹⁰: → 2⁻⁹, → 0
        1e-40f, -1e-45f, 1.17549435e-38f,           // float32 subnormals and its smallest normal → ±0
        0.0138f, 0.3f, 100.5f, -7.3f,
    ];

    [Fact]
    public void RoundE4M3_matches_libtorch_on_every_finite_float16_within_range()
    {
        var x = tensor(AllFiniteHalves(Fp8FusedKernels.E4M3Max));

        AssertBitIdentical(x, LibTorchRoundTrip(x), Fp8FusedKernels.RoundE4M3(x));
    }

    [Fact]
    public void RoundE4M3_matches_libtorch_on_a_million_random_float32_within_range()
    {
        var random = new Random(4321);
        // Random bit patterns reach every binade, subnormals of E4M3 and of float32, and exact ties.
        var values = Enumerable.Range(0, 1_000_000).Select(_ => BitConverter.Int32BitsToSingle(random.Next() | (random.Next(2) << 31)))
            .Where(v => float.IsFinite(v) && Math.Abs(v) <= Fp8FusedKernels.E4M3Max).ToArray();
        Assert.True(values.Length > 100_000);
        var x = tensor(values);

        AssertBitIdentical(x, LibTorchRoundTrip(x), Fp8FusedKernels.RoundE4M3(x));
    }

    [Fact]
    public void RoundE4M3_matches_libtorch_on_ties_subnormals_zeros_and_powers_of_two()
    {
        var powers = Enumerable.Range(-12, 21).SelectMany(e => new[] { MathF.Pow(2, e), -MathF.Pow(2, e) });
        // Every position: the first 8·k elements take the vector path, the rest the scalar tail.
        var x = tensor(Adversarial.Concat(powers).Concat(Adversarial.Reverse()).ToArray());

        AssertBitIdentical(x, LibTorchRoundTrip(x), Fp8FusedKernels.RoundE4M3(x));
        Assert.Equal([1f, 1.25f, 448f, 448f, 0.015625f, 0f, 0.00390625f],
            Values(Fp8FusedKernels.RoundE4M3(tensor(new[] { 1.0625f, 1.1875f, 464f, 440f, 0.0146484375f, 0.0009765625f, 0.0029296875f }))));
    }

    [Fact]
    public void RoundE4M3_saturates_like_Fp8Format_Round_beyond_448_and_keeps_NaN()
    {
        var halves = LibTorchFloat8.AllHalves();
        var x = tensor(halves.Concat([float.PositiveInfinity, float.NegativeInfinity, float.MaxValue, -3e38f, 480f, 449f]).ToArray());

        var y = Fp8FusedKernels.RoundE4M3(x);

        AssertBitIdentical(x, Fp8Format.E4M3.Round(x, OverflowMode.Saturate), y);
        Assert.Equal([448f, -448f, 448f, -448f, 448f, 448f], Values(y)[^6..]);
    }

    [Theory]
    [InlineData(64, 1024)]   // whole tiles, several parallel chunks
    [InlineData(37, 300)]    // 300 = 2·128 + 44: a shorter last tile
    [InlineData(5, 50)]      // rows shorter than one tile
    [InlineData(3, 131)]     // last tile of 3 elements: scalar path only
    public void FakeQuant_matches_libtorch_cast_with_the_same_per_tile_scales(int rows, int cols)
    {
        var x = randn([rows, cols], generator: new Generator(7)) * 3;
        x[0].mul_(1000);                                                  // an outlier row: large scales
        if (cols > Tile) x[1].narrow(0, 0, Tile).zero_();                 // an all-zero tile: s = 1
        x[2, 0] = tensor(-0f);

        AssertBitIdentical(x, ScaledLibTorchRoundTrip(x, Tile), Fp8FusedKernels.FakeQuantTilesE4M3(x));
    }

    [Fact]
    public void FakeQuant_matches_libtorch_when_scaled_values_land_on_ties_subnormals_and_zeros()
    {
        // A tile whose amax is 448 has s = 1, so x / s = x hits the adversarial values exactly; a tile whose amax
        // is 448·2⁻⁴ has s = 2⁻⁴ (exact), scaling them by 16 into ties of other binades and E4M3's subnormals.
        var tile = Adversarial.Select(v => Math.Abs(v) > 448 ? 448f : v).Concat(Enumerable.Repeat(448f, 1)).ToArray();
        var row = tile.Concat(new float[Tile - tile.Length]).ToArray();
        var x = stack([tensor(row), tensor(row) / 16, tensor(row) * -1, zeros(Tile), -zeros(Tile)]);

        var y = Fp8FusedKernels.FakeQuantTilesE4M3(x);

        AssertBitIdentical(x, ScaledLibTorchRoundTrip(x, Tile), y);
        Assert.All(Values(y[3]).Concat(Values(y[4])), v => Assert.Equal(0f, v));
        Assert.All(Values(y[4]), v => Assert.True(float.IsNegative(v), "-0 keeps its sign"));
    }

    [Theory]
    [InlineData(new long[] { 96, 512 }, 128)]
    [InlineData(new long[] { 4, 6, 200 }, 128)]   // rank 3: rows are all but the last dimension
    [InlineData(new long[] { 1000 }, 128)]        // rank 1: one row
    [InlineData(new long[] { 33, 70 }, 32)]       // another tile size
    public void FakeQuant_is_bit_identical_to_Fp8Scaling_FakeQuant(long[] shape, int tileSize)
    {
        var x = randn(shape, generator: new Generator(11)) * torch.exp(randn(shape, generator: new Generator(12)) * 4);

        var expected = Fp8Scaling.FakeQuant(x, Fp8Format.E4M3, new ScalingConfig(Granularity.Tile, tileSize));

        AssertBitIdentical(x, expected, Fp8FusedKernels.FakeQuantTilesE4M3(x, tileSize));
    }

    [Fact]
    public void FakeQuant_with_default_tiles_is_bit_identical_to_Fp8Scaling_defaults()
    {
        var x = randn([128, 1000], generator: new Generator(3));

        AssertBitIdentical(x, Fp8Scaling.FakeQuant(x, Fp8Format.E4M3, new ScalingConfig()), Fp8FusedKernels.FakeQuantTilesE4M3(x));
    }

    [Theory]
    [InlineData(64, 64, 128)]     // v3-mini's weights: one partial block
    [InlineData(300, 200, 128)]   // 3 × 2 blocks with partial edges, bottom and right
    [InlineData(256, 384, 128)]   // whole blocks only
    [InlineData(50, 70, 16)]      // another block size
    public void Block_FakeQuant_is_bit_identical_to_Fp8Scaling_FakeQuant(int rows, int cols, int blockSize)
    {
        var x = randn([rows, cols], generator: new Generator(13)) * torch.exp(randn([rows, cols], generator: new Generator(14)) * 4);
        x[0, 0] = tensor(3e4f);                                           // an outlier: one block's scale
        if (rows > blockSize && cols > blockSize) x.narrow(0, 0, blockSize).narrow(1, blockSize, Math.Min(blockSize, cols - blockSize)).zero_();   // an all-zero block: s = 1

        var expected = Fp8Scaling.FakeQuant(x, Fp8Format.E4M3, new ScalingConfig(Granularity.Block, BlockSize: blockSize));

        AssertBitIdentical(x, expected, Fp8FusedKernels.FakeQuantBlocksE4M3(x, blockSize));
    }

    [Fact]
    public void Block_FakeQuant_takes_finite_matrices_only()
    {
        Assert.Contains("matrix", Assert.Throws<ArgumentException>(() => Fp8FusedKernels.FakeQuantBlocksE4M3(randn(5, 40, 24))).Message);
        Assert.Contains("NaN or Inf", Assert.Throws<ArgumentException>(() => Fp8FusedKernels.FakeQuantBlocksE4M3(full(4, 4, float.NaN))).Message);
    }

    [Fact]
    public void Kernels_keep_the_shape_and_accept_scalars_and_empty_tensors()
    {
        Assert.Equal(0.3125f, Fp8FusedKernels.RoundE4M3(tensor(0.3f)).item<float>());        // 1.25·2⁻²
        Assert.Equal(0.3f, Fp8FusedKernels.FakeQuantTilesE4M3(tensor(0.3f)).item<float>());  // amax maps to 448 exactly
        Assert.Equal([0L, 5L], Fp8FusedKernels.FakeQuantTilesE4M3(zeros(0, 5)).shape);
        Assert.Equal([0L], Fp8FusedKernels.RoundE4M3(zeros(0)).shape);
    }

    [Fact]
    public void Kernels_write_into_a_preallocated_output_or_in_place()
    {
        var x = randn([40, 300], generator: new Generator(5)) * 50;
        var expectedFakeQuant = Fp8FusedKernels.FakeQuantTilesE4M3(x);
        var expectedRound = Fp8FusedKernels.RoundE4M3(x);
        var output = full([40, 300], float.NaN);

        Assert.Same(output, Fp8FusedKernels.FakeQuantTilesE4M3(x, output));
        AssertBitIdentical(x, expectedFakeQuant, output);
        AssertBitIdentical(x, expectedRound, Fp8FusedKernels.RoundE4M3(x, output));
        var inPlace = x.clone();
        AssertBitIdentical(x, expectedFakeQuant, Fp8FusedKernels.FakeQuantTilesE4M3(inPlace, inPlace));
        Assert.Contains("output shape", Assert.Throws<ArgumentException>(() => Fp8FusedKernels.RoundE4M3(x, zeros(300, 40))).Message);
        Assert.Throws<ArgumentException>(() => Fp8FusedKernels.FakeQuantTilesE4M3(x, zeros([40, 300], dtype: ScalarType.Float64)));
    }

    public static TheoryData<string> BadTensors() => ["float64", "int32", "transposed", "sliced columns", "requires grad"];

    private static Tensor Bad(string kind) => kind switch
    {
        "float64" => zeros(4, 4, dtype: ScalarType.Float64),
        "int32" => zeros(4, 4, dtype: ScalarType.Int32),
        "transposed" => zeros(4, 8).t(),
        "sliced columns" => zeros(4, 8)[.., ..3],
        "requires grad" => zeros(4, 4, requires_grad: true),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    [Theory]
    [MemberData(nameof(BadTensors))]
    public void Kernels_refuse_tensors_they_cannot_read_directly(string kind)
    {
        var round = Assert.Throws<ArgumentException>(() => Fp8FusedKernels.RoundE4M3(Bad(kind)));
        var fake = Assert.Throws<ArgumentException>(() => Fp8FusedKernels.FakeQuantTilesE4M3(Bad(kind)));

        Assert.Contains("Fp8FusedKernels.RoundE4M3", round.Message);
        Assert.Contains("Fp8FusedKernels.FakeQuantTilesE4M3", fake.Message);
    }

    [Fact]
    public void Kernels_refuse_tensors_off_the_CPU()
    {
        var meta = empty(4, 4, device: new Device(DeviceType.META));

        var e = Assert.Throws<ArgumentException>(() => Fp8FusedKernels.FakeQuantTilesE4M3(meta));
        Assert.Contains("CPU tensors only", e.Message);
    }

    [Fact]
    public void FakeQuant_refuses_non_finite_input_and_a_tile_size_below_one()
    {
        var x = randn(4, 300);
        x[3, 299] = tensor(float.NaN);

        Assert.Contains("NaN or Inf", Assert.Throws<ArgumentException>(() => Fp8FusedKernels.FakeQuantTilesE4M3(x)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => Fp8FusedKernels.FakeQuantTilesE4M3(randn(2, 2), 0));
    }

    // Independent oracle: per-tile s = amax / 448 with tensor ops (zero padding to whole tiles, s = 1 for an
    // all-zero tile), then libtorch's cast of x / s and back, times s.
    private static Tensor ScaledLibTorchRoundTrip(Tensor x, int tile)
    {
        long rows = x.shape[0], cols = x.shape[1], tiles = (cols + tile - 1) / tile;
        var padded = cat([x.abs(), zeros(rows, tiles * tile - cols)], 1);
        var amax = padded.reshape(rows, tiles, tile).amax([2]);                           // [R, ⌈C/T⌉]
        var s = where(amax > 0, amax / Fp8FusedKernels.E4M3Max, ones_like(amax));
        var expanded = s.repeat_interleave(tile, 1)[.., ..(int)cols];                    // [R, C]
        return LibTorchRoundTrip(x / expanded) * expanded;
    }
}

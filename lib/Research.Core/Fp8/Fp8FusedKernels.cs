using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using TorchSharp;
using static TorchSharp.torch;

namespace Research.Fp8;

/// <summary>
/// Fused CPU kernels for E4M3 1×T tile fake quantization (DeepSeek-V3 §3.3.2): one read of x and one write of the
/// result, instead of the dozen tensor passes of <see cref="Fp8Scaling.FakeQuant"/>. The tensor-op path is the
/// reference and runs on any device; these kernels take only contiguous float32 CPU tensors and agree with it,
/// and with libtorch's own float8 cast, bit for bit (tests check both).
/// </summary>
/// <remarks>
/// Rounding works on the float32 bit pattern. E4M3 keeps 3 of float32's 23 fraction bits, so in its normal range
/// (|x| ≥ 2⁻⁶) round-to-nearest-even is: add 0x7FFFF plus the lowest kept bit, then clear the 20 dropped bits; a
/// carry out of the fraction moves into the exponent by itself. Below 2⁻⁶ the quantum is the fixed 2⁻⁹ (smallest
/// subnormal), so the significand (with its implicit 1) is shifted right by 141 − exponent bits with the same
/// ties-to-even bias, and the count n ∈ 0..8 of quanta is n · 2⁻⁹ (exact in float32). Results above 448 saturate
/// to ±448; NaN stays NaN; the sign of zero is kept.
/// </remarks>
public static unsafe class Fp8FusedKernels
{
    /// <summary>Largest finite E4M3 value, 1.75·2⁸ (OCP FP8 spec, table 1).</summary>
    public const float E4M3Max = 448f;
    private const uint E4M3MaxBits = 0x43E0_0000;      // 448 as float32 bits
    private const uint InfinityBits = 0x7F80_0000;     // float32 +Inf; larger magnitudes are NaN
    // 2⁻⁶, E4M3's smallest normal: below it the quantum stops shrinking.
    private const uint E4M3MinNormalBits = 121u << 23;
    // Float32 keeps 23 fraction bits, E4M3 3: 20 are rounded away in the normal range.
    private const int DroppedBits = 20;
    // Subnormal quantum 2⁻⁹ = 2^(e − 150 + k) for significand · 2^(e − 150): k = 141 − e bits are dropped.
    private const int SubnormalShiftBase = 141;
    private const float SubnormalQuantum = 1f / 512;   // 2⁻⁹

    // Work per parallel chunk: about 128 KiB of input, large enough that scheduling costs nothing.
    private const int ChunkElements = 32 * 1024;

    /// <summary>
    /// Rounds every element of <paramref name="x"/> to E4M3 (nearest, ties to even, saturating at ±448), as a new
    /// float32 tensor of the same shape. Equals <c>Fp8Format.E4M3.Round(x)</c>, and libtorch's
    /// <c>x.to_type(float8_e4m3fn).to_type(float32)</c> within ±448.
    /// </summary>
    public static Tensor RoundE4M3(Tensor x)
    {
        Check(x, nameof(RoundE4M3));
        return RoundE4M3(x, empty_like(x));
    }

    /// <summary>
    /// <see cref="RoundE4M3(Tensor)"/> into <paramref name="output"/> (same shape, contiguous float32 CPU; it may be x
    /// itself, otherwise it must not overlap x). Returns <paramref name="output"/>.
    /// </summary>
    public static Tensor RoundE4M3(Tensor x, Tensor output)
    {
        CheckPair(x, output, nameof(RoundE4M3));
        long n = x.numel();
        if (n == 0) return output;
        var src = (float*)Address(x);
        var dst = (float*)Address(output);
        ForChunks((n + ChunkElements - 1) / ChunkElements, c =>
        {
            long start = c * ChunkElements;
            RoundSpan(src + start, dst + start, (int)Math.Min(ChunkElements, n - start));
        });
        return output;
    }

    /// <summary>
    /// E4M3 fake quantization with one scale per 1×<paramref name="tileSize"/> tile of each row (the last dimension
    /// is the row; a shorter last tile covers the remainder): s = amax / 448 (s = 1 for an all-zero tile),
    /// y = RoundE4M3(x / s) · s. A new tensor of x's shape; equals
    /// <c>Fp8Scaling.FakeQuant(x, Fp8Format.E4M3, new ScalingConfig(Granularity.Tile, tileSize))</c> in value.
    /// It has no backward: training code uses <see cref="Fp8Scaling.FakeQuant"/> (straight-through gradient).
    /// </summary>
    public static Tensor FakeQuantTilesE4M3(Tensor x, int tileSize = 128)
    {
        Check(x, nameof(FakeQuantTilesE4M3));
        var output = empty_like(x);
        try
        {
            return FakeQuantTilesE4M3(x, output, tileSize);
        }
        catch (ArgumentException)
        {
            output.Dispose();
            throw;
        }
    }

    /// <summary>
    /// <see cref="FakeQuantTilesE4M3(Tensor, int)"/> into <paramref name="output"/> (same shape, contiguous float32 CPU;
    /// it may be x itself, as each tile is read before it is written, otherwise it must not overlap x).
    /// Returns <paramref name="output"/>; on NaN or Inf input its contents are unspecified.
    /// </summary>
    public static Tensor FakeQuantTilesE4M3(Tensor x, Tensor output, int tileSize = 128)
    {
        CheckPair(x, output, nameof(FakeQuantTilesE4M3));
        if (tileSize < 1)
            throw new ArgumentOutOfRangeException(nameof(tileSize), tileSize, "Fp8FusedKernels.FakeQuantTilesE4M3: tileSize must be at least 1");
        long n = x.numel();
        if (n == 0) return output;
        long cols = x.dim() == 0 ? 1 : x.shape[^1];
        long rows = n / cols;
        long tilesPerRow = (cols + tileSize - 1) / tileSize;
        long tiles = rows * tilesPerRow;
        long tilesPerChunk = Math.Max(1, ChunkElements / tileSize);
        var src = (float*)Address(x);
        var dst = (float*)Address(output);
        int nonFinite = 0;
        ForChunks((tiles + tilesPerChunk - 1) / tilesPerChunk, c =>
        {
            long end = Math.Min(tiles, (c + 1) * tilesPerChunk);
            for (long t = c * tilesPerChunk; t < end; t++)
            {
                long row = t / tilesPerRow, first = t % tilesPerRow * tileSize;
                long offset = row * cols + first;
                if (!FakeQuantTile(src + offset, dst + offset, (int)Math.Min(tileSize, cols - first)))
                    Volatile.Write(ref nonFinite, 1);
            }
        });
        if (nonFinite != 0)
            throw new ArgumentException("Fp8FusedKernels.FakeQuantTilesE4M3: the input holds NaN or Inf; scales would be meaningless", nameof(x));
        return output;
    }

    /// <summary>
    /// E4M3 fake quantization with one scale per <paramref name="blockSize"/>² block of a matrix [rows, cols] (V3's
    /// weights, 128×128), the blocks at the bottom and right edges covering the remainder: s = amax / 448 (s = 1 for an
    /// all-zero block), y = RoundE4M3(x / s) · s. A new tensor of x's shape; equals <see cref="Fp8Scaling.FakeQuant"/>
    /// with <see cref="Granularity.Block"/> in value. Throws <see cref="ArgumentException"/> on NaN or Inf.
    /// </summary>
    public static Tensor FakeQuantBlocksE4M3(Tensor x, int blockSize = 128)
    {
        Check(x, nameof(FakeQuantBlocksE4M3));
        if (blockSize < 1)
            throw new ArgumentOutOfRangeException(nameof(blockSize), blockSize, "Fp8FusedKernels.FakeQuantBlocksE4M3: blockSize must be at least 1");
        if (x.dim() != 2)
            throw new ArgumentException($"Fp8FusedKernels.FakeQuantBlocksE4M3 takes a matrix [rows, cols] (got [{string.Join(", ", x.shape)}])", nameof(x));
        var output = empty_like(x);
        long rows = x.shape[0], cols = x.shape[1];
        if (rows == 0 || cols == 0) return output;
        long blockCols = (cols + blockSize - 1) / blockSize, blocks = (rows + blockSize - 1) / blockSize * blockCols;
        var src = (float*)Address(x);
        var dst = (float*)Address(output);
        int nonFinite = 0;
        void Quantize(long first, long last)
        {
            for (long b = first; b < last; b++)
            {
                long r0 = b / blockCols * blockSize, c0 = b % blockCols * blockSize;
                long origin = r0 * cols + c0;
                if (!FakeQuantBlock(src + origin, dst + origin, (int)Math.Min(blockSize, rows - r0), (int)Math.Min(blockSize, cols - c0), cols))
                {
                    Volatile.Write(ref nonFinite, 1);
                    return;
                }
            }
        }
        // One block per parallel chunk only when there is work enough for two threads: most weights are small.
        if (x.numel() >= 2 * ChunkElements) ForChunks(blocks, b => Quantize(b, b + 1));
        else Quantize(0, blocks);
        if (nonFinite != 0)
        {
            output.Dispose();
            throw new ArgumentException("Fp8FusedKernels.FakeQuantBlocksE4M3: the input holds NaN or Inf; scales would be meaningless", nameof(x));
        }
        return output;
    }

    // The kernels read libtorch's memory directly, so the layout must be exactly a dense float32 array in RAM.
    private static void Check(Tensor x, string kernel)
    {
        if (x.device_type != DeviceType.CPU)
            throw new ArgumentException($"Fp8FusedKernels.{kernel} runs on CPU tensors only (got {x.device}); use the tensor-op path (Fp8Format.Round, Fp8Scaling.FakeQuant) on other devices", nameof(x));
        if (x.dtype != ScalarType.Float32)
            throw new ArgumentException($"Fp8FusedKernels.{kernel} takes float32 (got {x.dtype})", nameof(x));
        if (!x.is_contiguous())
            throw new ArgumentException($"Fp8FusedKernels.{kernel} needs a contiguous tensor (call .contiguous() first)", nameof(x));
        if (x.requires_grad)
            throw new ArgumentException($"Fp8FusedKernels.{kernel} has no backward; pass x.detach(), or use Fp8Scaling.FakeQuant for a straight-through gradient", nameof(x));
        if (x.numel() > int.MaxValue / sizeof(float))
            throw new ArgumentException($"Fp8FusedKernels.{kernel} takes at most {int.MaxValue / sizeof(float)} elements (got {x.numel()})", nameof(x));
    }

    private static void CheckPair(Tensor x, Tensor output, string kernel)
    {
        Check(x, kernel);
        Check(output, kernel);
        if (!x.shape.SequenceEqual(output.shape))
            throw new ArgumentException($"Fp8FusedKernels.{kernel}: output shape [{string.Join(", ", output.shape)}] differs from the input's [{string.Join(", ", x.shape)}]", nameof(output));
    }

    // The data pointer of a contiguous CPU tensor: libtorch memory, which the GC never moves.
    private static nint Address(Tensor t) => (nint)Unsafe.AsPointer(ref MemoryMarshal.GetReference(t.bytes));

    private static void ForChunks(long chunks, Action<long> body)
    {
        if (chunks == 1) body(0);
        else Parallel.For(0L, chunks, body);
    }

    // One tile: amax, s, then round x / s and multiply back. False if the tile holds NaN or Inf.
    private static bool FakeQuantTile(float* x, float* y, int length)
    {
        uint amaxBits = AbsMaxBits(x, length);
        if (amaxBits >= InfinityBits) return false;
        // As written in V3 and Fp8Scaling: s = amax / 448, then x / s (a division, not a reciprocal multiply).
        float s = amaxBits == 0 ? 1f : BitConverter.UInt32BitsToSingle(amaxBits) / E4M3Max;
        ScaleRoundSpan(x, y, length, s);
        return true;
    }

    // y = RoundE4M3(x / s) · s over one span.
    private static void ScaleRoundSpan(float* x, float* y, int length, float s)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated && Avx2.IsSupported)
        {
            var vs = Vector256.Create(s);
            for (; i <= length - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var q = RoundBits(Vector256.Load(x + i) / vs).AsSingle();
                (q * vs).Store(y + i);
            }
        }
        for (; i < length; i++)
            y[i] = BitConverter.UInt32BitsToSingle(RoundBits(BitConverter.SingleToUInt32Bits(x[i] / s))) * s;
    }

    // One block of `height` rows of `width` values, rows `stride` apart: amax over the block, then each row as a tile
    // with that scale. False if the block holds NaN or Inf.
    private static bool FakeQuantBlock(float* x, float* y, int height, int width, long stride)
    {
        uint amaxBits = 0;
        for (int r = 0; r < height; r++) amaxBits = Math.Max(amaxBits, AbsMaxBits(x + r * stride, width));
        if (amaxBits >= InfinityBits) return false;
        float s = amaxBits == 0 ? 1f : BitConverter.UInt32BitsToSingle(amaxBits) / E4M3Max;
        for (int r = 0; r < height; r++) ScaleRoundSpan(x + r * stride, y + r * stride, width, s);
        return true;
    }

    // Bits of max |x|: for non-negative floats integer order is float order, and NaN sorts above Inf.
    private static uint AbsMaxBits(float* x, int length)
    {
        int i = 0;
        uint max = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var vmax = Vector256<uint>.Zero;
            var magnitude = Vector256.Create(0x7FFF_FFFFu);
            for (; i <= length - Vector256<float>.Count; i += Vector256<float>.Count)
                vmax = Vector256.Max(vmax, Vector256.Load((uint*)x + i) & magnitude);
            for (int lane = 0; lane < Vector256<uint>.Count; lane++) max = Math.Max(max, vmax[lane]);
        }
        for (; i < length; i++) max = Math.Max(max, BitConverter.SingleToUInt32Bits(x[i]) & 0x7FFF_FFFFu);
        return max;
    }

    private static void RoundSpan(float* x, float* y, int length)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated && Avx2.IsSupported)
            for (; i <= length - Vector256<float>.Count; i += Vector256<float>.Count)
                RoundBits(Vector256.Load(x + i)).AsSingle().Store(y + i);
        for (; i < length; i++)
            y[i] = BitConverter.UInt32BitsToSingle(RoundBits(BitConverter.SingleToUInt32Bits(x[i])));
    }

    /// <summary>E4M3 rounding of one float32 bit pattern (see the class remarks); the scalar twin of the vector path.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static uint RoundBits(uint bits)
    {
        uint sign = bits & 0x8000_0000u, a = bits & 0x7FFF_FFFFu;
        if (a > InfinityBits) return bits;                                        // NaN, payload kept
        uint r;
        if (a >= E4M3MinNormalBits)
            r = (a + ((1u << (DroppedBits - 1)) - 1) + ((a >> DroppedBits) & 1)) & ~((1u << DroppedBits) - 1);
        else
        {
            int e = (int)(a >> 23);
            uint significand = (a & 0x7F_FFFFu) | (e == 0 ? 0 : 0x80_0000u);   // float32 subnormals: no implicit 1
            int k = Math.Min(SubnormalShiftBase - Math.Max(e, 1), 31);           // ≥ 21; 31 already drops everything
            uint n = (significand + (1u << (k - 1)) - 1 + ((significand >> k) & 1)) >> k;
            r = BitConverter.SingleToUInt32Bits(n * SubnormalQuantum);
        }
        return Math.Min(r, E4M3MaxBits) | sign;                                   // saturate (Inf included)
    }

    // Eight lanes of RoundBits; variable shifts need AVX2.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> RoundBits(Vector256<float> x)
    {
        var bits = x.AsUInt32();
        var a = bits & Vector256.Create(0x7FFF_FFFFu);
        var sign = bits & Vector256.Create(0x8000_0000u);
        var one = Vector256<uint>.One;

        var normal = (a + Vector256.Create((1u << (DroppedBits - 1)) - 1) + (Vector256.ShiftRightLogical(a, DroppedBits) & one))
            & Vector256.Create(~((1u << DroppedBits) - 1));

        var e = Vector256.ShiftRightLogical(a, 23).AsInt32();
        var significand = (a & Vector256.Create(0x7F_FFFFu)) | (~Vector256.Equals(e, Vector256<int>.Zero).AsUInt32() & Vector256.Create(0x80_0000u));
        var k = Vector256.Min(Vector256.Create(SubnormalShiftBase) - Vector256.Max(e, Vector256<int>.One), Vector256.Create(31)).AsUInt32();
        var half = Avx2.ShiftLeftLogicalVariable(one, k - one);
        var n = Avx2.ShiftRightLogicalVariable(significand + half - one + (Avx2.ShiftRightLogicalVariable(significand, k) & one), k);
        var subnormal = (Vector256.ConvertToSingle(n.AsInt32()) * Vector256.Create(SubnormalQuantum)).AsUInt32();

        var isNormal = Vector256.GreaterThanOrEqual(a.AsInt32(), Vector256.Create((int)E4M3MinNormalBits)).AsUInt32();
        var r = Vector256.Min(Vector256.ConditionalSelect(isNormal, normal, subnormal).AsInt32(), Vector256.Create((int)E4M3MaxBits)).AsUInt32() | sign;
        var isNan = Vector256.GreaterThan(a.AsInt32(), Vector256.Create((int)InfinityBits)).AsUInt32();
        return Vector256.ConditionalSelect(isNan, bits, r);
    }
}

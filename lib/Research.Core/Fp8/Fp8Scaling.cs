using Research.Experiments;
using static TorchSharp.torch;

namespace Research.Fp8;

/// <summary>Which elements share one scale (DeepSeek-V3 §3.3.2; rows are tokens, columns channels).</summary>
public enum Granularity
{
    /// <summary>One scale for the whole tensor: the classic FP8 recipe an outlier ruins for everyone.</summary>
    PerTensor,
    /// <summary>One scale per row (token).</summary>
    PerRow,
    /// <summary>One scale per 1×<see cref="ScalingConfig.TileSize"/> tile of a row: V3's activations (1×128).</summary>
    Tile,
    /// <summary>One scale per <see cref="ScalingConfig.BlockSize"/>² block: V3's weights (128×128).</summary>
    Block,
}

/// <summary>How a tensor is scaled before rounding to an FP8 format.</summary>
/// <param name="TileSize">Columns per tile (V3: 128).</param>
/// <param name="BlockSize">Rows and columns per block (V3: 128).</param>
/// <param name="PowerOfTwoScales">Round each scale up to a power of two (UE8M0, V3 §3.3.3): rescaling then only
/// shifts exponents, and rounding up keeps every value within the format's range.</param>
public sealed record ScalingConfig(Granularity Granularity = Granularity.Tile, int TileSize = 128, int BlockSize = 128, bool PowerOfTwoScales = false)
{
    /// <summary>V3's activation scaling: 1×128 tiles.</summary>
    public static ScalingConfig ActivationTiles { get; } = new(Granularity.Tile);

    /// <summary>V3's weight scaling: 128×128 blocks.</summary>
    public static ScalingConfig WeightBlocks { get; } = new(Granularity.Block);

    public ScalingConfig Validated()
    {
        if (!Enum.IsDefined(Granularity))
            throw new ConfigException($"ScalingConfig.Granularity must be one of {string.Join(", ", Enum.GetNames<Granularity>())} (got {Granularity})");
        if (TileSize < 1 || TileSize > 65536)
            throw new ConfigException($"ScalingConfig.TileSize must be in 1..65536 (got {TileSize})");
        if (BlockSize < 1 || BlockSize > 65536)
            throw new ConfigException($"ScalingConfig.BlockSize must be in 1..65536 (got {BlockSize})");
        return this;
    }
}

/// <summary>
/// Values on the format's grid (float32, unscaled) and the scales that map them back: x ≈ Values · Scales, with
/// the scales broadcast over their groups. Shapes: Values as the 2-D view [rows, cols] of the input; Scales
/// [1, 1] per tensor, [rows, 1] per row, [rows, ⌈cols/T⌉] per tile, [⌈rows/B⌉, ⌈cols/B⌉] per block.
/// </summary>
public sealed record QuantizedTensor(Tensor Values, Tensor Scales, Fp8Format Format, ScalingConfig Scaling, long[] Shape);

/// <summary>Fine-grained quantization: scale each group by its own amax, round, and back.</summary>
public static class Fp8Scaling
{
    /// <summary>
    /// Scales every group so its largest magnitude lands on the format's largest finite value (s = amax / max),
    /// then rounds x / s to the format. A group whose amax is 0 (or so small that s underflows) gets s = 1. Inputs of any rank are viewed as
    /// [rows, cols] with cols the last dimension. A row shorter than a tile, or a size not divisible by the
    /// tile or block, forms a smaller group at the end: equivalent to zero padding, which changes no amax.
    /// </summary>
    public static QuantizedTensor Quantize(Tensor x, Fp8Format format, ScalingConfig scaling)
    {
        scaling.Validated();
        if (x.dtype != ScalarType.Float32)
            throw new ArgumentException($"Fp8Scaling.Quantize takes float32, got {x.dtype}", nameof(x));
        if (x.numel() > 0 && !x.isfinite().all().item<bool>())
            throw new ArgumentException("Fp8Scaling.Quantize: the input holds NaN or Inf; scales would be meaningless", nameof(x));
        using var scope = NewDisposeScope();
        var matrix = AsMatrix(x);
        var scales = Scales(matrix, format, scaling);
        var scaled = matrix / Expand(scales, matrix, scaling);
        // E4M3 and E5M2 are libtorch dtypes, whose cast rounds to nearest, ties to even, as Round does, in three ops
        // instead of about fifteen. Scaled values are finite and within ±max (up to the division's rounding), so the
        // clamp is all saturation needs. The tests hold both paths to libtorch's casts bit for bit.
        var values = NativeDtype(format) is ScalarType dtype
            ? scaled.clamp((float)-format.MaxFinite, (float)format.MaxFinite).to_type(dtype).to_type(ScalarType.Float32)
            : format.Round(scaled);
        return new QuantizedTensor(values.MoveToOuterDisposeScope(), scales.MoveToOuterDisposeScope(), format, scaling, x.shape);
    }

    /// <summary>Values · Scales, in the input's original shape.</summary>
    public static Tensor Dequantize(QuantizedTensor q)
    {
        using var scope = NewDisposeScope();
        return (q.Values * Expand(q.Scales, q.Values, q.Scaling)).reshape(q.Shape).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Quantize then dequantize, for training in simulated FP8: the forward value is exactly
    /// <c>Dequantize(Quantize(x))</c>; the gradient passes straight through (∂y/∂x = 1), as round() has none.
    /// </summary>
    public static Tensor FakeQuant(Tensor x, Fp8Format format, ScalingConfig scaling)
    {
        using var scope = NewDisposeScope();
        var q = Quantize(x.detach(), format, scaling);
        var y = Dequantize(q);
        if (x.requires_grad)
            // y - (x̄ - x) equals y exactly (x̄ - x is +0, which keeps y's sign of zero) and has gradient 1.
            y = y - (x.detach() - x);
        return y.MoveToOuterDisposeScope();
    }

    private static ScalarType? NativeDtype(Fp8Format format) =>
        format == Fp8Format.E4M3 ? Platform.Doctor.Float8E4M3FN : format == Fp8Format.E5M2 ? Platform.Doctor.Float8E5M2 : null;

    private static Tensor AsMatrix(Tensor x) => x.dim() switch
    {
        0 => x.reshape(1, 1),
        1 => x.reshape(1, -1),
        _ => x.reshape(-1, x.shape[^1]),
    };

    private static Tensor Scales(Tensor m, Fp8Format format, ScalingConfig s)
    {
        long rows = m.shape[0], cols = m.shape[1];
        var magnitude = m.abs();
        var amax = s.Granularity switch
        {
            Granularity.PerTensor => magnitude.amax([0, 1], keepdim: true),                                 // [1, 1]
            Granularity.PerRow => magnitude.amax([1], keepdim: true),                                        // [R, 1]
            Granularity.Tile => Padded(magnitude, 1, s.TileSize).reshape(rows, -1, s.TileSize).amax([2]),  // [R, ⌈C/T⌉]
            Granularity.Block => Padded(Padded(magnitude, 1, s.BlockSize), 0, s.BlockSize)
                .reshape(Ceil(rows, s.BlockSize), s.BlockSize, Ceil(cols, s.BlockSize), s.BlockSize).amax([1, 3]), // [⌈R/B⌉, ⌈C/B⌉]
            _ => throw new ArgumentOutOfRangeException(nameof(s), s.Granularity, "unknown granularity"),
        };
        var scale = amax / (float)format.MaxFinite;
        if (s.PowerOfTwoScales)
            scale = scale.log2().ceil().exp2();   // 2^⌈log2(amax/max)⌉ (code-V3 act_quant, scale_fmt="ue8m0")
        // s = 1 for an all-zero group, and for one whose amax is a float32 subnormal so small that amax / max
        // underflows to 0 (x / 0 would be NaN): x / 1 then rounds such values to zero, as FP8 cannot hold them.
        return where(scale > 0, scale, ones_like(scale));
    }

    // Repeats each group's scale over its elements and crops the padding: [rows, cols] like m.
    private static Tensor Expand(Tensor scales, Tensor m, ScalingConfig s)
    {
        long rows = m.shape[0], cols = m.shape[1];
        return s.Granularity switch
        {
            Granularity.PerTensor or Granularity.PerRow => scales,                      // broadcasts
            Granularity.Tile => scales.repeat_interleave(s.TileSize, 1)[.., ..(int)cols],
            Granularity.Block => scales.repeat_interleave(s.BlockSize, 0).repeat_interleave(s.BlockSize, 1)[..(int)rows, ..(int)cols],
            _ => throw new ArgumentOutOfRangeException(nameof(s), s.Granularity, "unknown granularity"),
        };
    }

    // Zero-pads dimension `dim` up to a multiple of `size`; zeros never raise an amax.
    private static Tensor Padded(Tensor t, int dim, int size)
    {
        long extra = Ceil(t.shape[dim], size) * size - t.shape[dim];
        if (extra == 0) return t;
        var padShape = t.shape.ToArray();
        padShape[dim] = extra;
        return cat([t, zeros(padShape, dtype: t.dtype, device: t.device)], dim);
    }

    private static long Ceil(long n, int size) => (n + size - 1) / size;
}

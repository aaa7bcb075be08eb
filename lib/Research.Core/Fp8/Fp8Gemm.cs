using Research.Experiments;
using static TorchSharp.torch;

namespace Research.Fp8;

// Limited-precision accumulation in an FP8 GEMM (DeepSeek-V3 §3.3.2 "Increasing Accumulation Precision"; HW25 §3.1.1).
//
// On H800 an FP8 WGMMA computes C = A·B over K = 32 products at a time. HW25 §3.1.1 describes the adder: the 32
// products a_k·b_k are right-shifted to the largest exponent among them, only the top 13 fraction bits of each are
// kept, and the sum is accumulated in an "FP22" register (1 sign, 8 exponent, 13 fraction bits). V3 calls this
// "about 14 bits": 13 stored fraction bits plus the implicit leading one. We implement the 13 fraction bits.
//
// V3's fix: every N_C = 128 elements of K (4 WGMMAs) the partial sum is copied to FP32 registers on CUDA cores,
// added to an FP32 accumulator (where the per-group scales are also applied), and the tensor-core accumulator restarts.
//
// The accumulator is not an FP8 storage format: its exponent range (8 bits, as FP32) never limits these magnitudes,
// so it is modelled by its fraction bits alone (RoundToFractionBits) rather than by an Fp8Format, whose Create
// rejects 13 fraction bits and whose Round works in float32, too narrow to hold the exact sums we round.

/// <summary>How the simulated tensor-core adder drops the bits it cannot keep.</summary>
public enum AccumulatorRounding
{
    /// <summary>Shifted-out bits are discarded (round toward zero): what a right shift does, and what published
    /// models of NVIDIA tensor cores report (Fasi et al. 2021 for V100/A100; Khattak and Mikaitis 2025 for H100).</summary>
    TowardZero,
    /// <summary>Round to nearest, ties to even: an idealised accumulator of the same width, for comparison.</summary>
    NearestEven,
}

/// <summary>The simulated tensor-core accumulator of an FP8 GEMM.</summary>
/// <param name="AccumulatorMantissaBits">Fraction bits the tensor-core accumulator keeps (HW25 §3.1.1: 13, "FP22";
/// V3 §3.3.2's "about 14 bits" counts the implicit leading one too). 23 is FP32's width.</param>
/// <param name="PromotionInterval">N_C: every this many elements of K the partial sum is added into an FP32
/// accumulator and the limited one restarts (V3 §3.3.2: 128, i.e. 4 WGMMAs). Null: never, as a plain WGMMA chain.
/// Must be a multiple of <paramref name="ChunkSize"/>.</param>
/// <param name="ChunkSize">Products aligned and summed together per step: one WGMMA covers K = 32 for FP8.</param>
/// <param name="Rounding">How bits beyond <paramref name="AccumulatorMantissaBits"/> are dropped.</param>
public sealed record AccumulationConfig(int AccumulatorMantissaBits = 13, int? PromotionInterval = 128, int ChunkSize = 32,
    AccumulatorRounding Rounding = AccumulatorRounding.TowardZero)
{
    /// <summary>Largest accepted width: the simulation holds exact sums in float64 (52 fraction bits) and needs room for
    /// a chunk's carries (log2 of the chunk size) and for the aligned products' span.</summary>
    public const int MaxMantissaBits = 40;

    /// <summary>Largest chunk: one simulated step holds an [M, ChunkSize, N] float64 tensor of products.</summary>
    public const int MaxChunkSize = 1024;

    /// <summary>H800 as V3 trained on it: 13 fraction bits, promotion to FP32 every 128 elements.</summary>
    public static AccumulationConfig DeepSeekV3 { get; } = new();

    /// <summary>The same tensor cores without V3's promotion: one FP22 accumulator over all of K.</summary>
    public static AccumulationConfig NoPromotion { get; } = new(PromotionInterval: null);

    public AccumulationConfig Validated()
    {
        if (AccumulatorMantissaBits < 1 || AccumulatorMantissaBits > MaxMantissaBits)
            throw new ConfigException($"AccumulationConfig.AccumulatorMantissaBits must be in 1..{MaxMantissaBits} (got {AccumulatorMantissaBits})");
        if (ChunkSize < 1 || ChunkSize > MaxChunkSize)
            throw new ConfigException($"AccumulationConfig.ChunkSize must be in 1..{MaxChunkSize} (got {ChunkSize})");
        if (PromotionInterval is int nc && (nc < ChunkSize || nc % ChunkSize != 0))
            throw new ConfigException($"AccumulationConfig.PromotionInterval (N_C) must be null or a positive multiple of ChunkSize ({ChunkSize}) (got {nc})");
        if (!Enum.IsDefined(Rounding))
            throw new ConfigException($"AccumulationConfig.Rounding must be one of {string.Join(", ", Enum.GetNames<AccumulatorRounding>())} (got {Rounding})");
        return this;
    }
}

/// <summary>C = A·B with a simulated limited-precision accumulator, and the exact reference it is measured against.</summary>
public static class Fp8Gemm
{
    /// <summary>
    /// Simulates C = A·B, A [M, K] and B [K, N] (float32 or float64, already quantized by the caller), as a tensor core
    /// with <paramref name="config"/>'s accumulator computes it. Returns float32 [M, N] on the inputs' device.
    /// Per chunk of <see cref="AccumulationConfig.ChunkSize"/> elements of K:
    /// p_k = a_k·b_k exactly (float64 holds the product of two float32s); each p_k is cut to the accumulator's
    /// fraction bits relative to the largest exponent among the chunk's products (the alignment shift); the aligned
    /// products are summed exactly and added to the accumulator, which is rounded to its fraction bits. Every
    /// N_C elements the accumulator is added into an FP32 sum (one float32 rounding) and restarts at 0.
    /// The exponent range is unbounded (FP22 has FP32's 8 exponent bits, never a limit at these magnitudes).
    /// </summary>
    public static Tensor Matmul(Tensor a, Tensor b, AccumulationConfig config)
    {
        config.Validated();
        if (a.dim() != 2 || b.dim() != 2 || a.shape[1] != b.shape[0])
            throw new ArgumentException($"Fp8Gemm.Matmul needs A [M, K] and B [K, N]; got [{string.Join(", ", a.shape)}] and [{string.Join(", ", b.shape)}]");
        using var outer = NewDisposeScope();
        long m = a.shape[0], k = a.shape[1], n = b.shape[1];
        int bits = config.AccumulatorMantissaBits;
        var a64 = a.to_type(ScalarType.Float64);
        var bT64 = b.to_type(ScalarType.Float64).t().contiguous();   // [N, K]
        var fp32 = zeros([m, n], ScalarType.Float64, a.device);      // FP32 accumulator on CUDA cores (values held exactly in float64)
        var limited = zeros([m, n], ScalarType.Float64, a.device);   // tensor-core accumulator, `bits` fraction bits
        for (long k0 = 0; k0 < k; k0 += config.ChunkSize)
        {
            using var scope = NewDisposeScope();
            long k1 = Math.Min(k0 + config.ChunkSize, k);
            // [M, N, chunk], exact; the chunk is the last dimension so its reductions run over contiguous memory.
            var products = a64[TensorIndex.Colon, TensorIndex.Slice(k0, k1)].unsqueeze(1) * bT64[TensorIndex.Colon, TensorIndex.Slice(k0, k1)].unsqueeze(0);
            // Alignment: the quantum is 2^(e_max − bits), e_max the binade of the chunk's largest product.
            var quantumExponent = Binade(products.abs().amax([2], keepdim: true)) - bits;                          // [M, N, 1]
            var aligned = Cut(products, quantumExponent, config.Rounding);
            // Exact in float64: the terms are multiples of 2^q within ~bits + log2(chunk) bits of it, and the running sum
            // has bits + 1 significant bits; only a gap of some 35 binades between the two could round here.
            var sum = limited + aligned.sum(2);
            var next = RoundToFractionBits(sum, bits, config.Rounding);
            if (config.PromotionInterval is int nc && (k1 % nc == 0 || k1 == k))
            {
                // Promotion: FP32 += partial sum, one IEEE float32 rounding of the exact sum; the tensor core restarts.
                fp32.copy_((fp32 + next).to_type(ScalarType.Float32).to_type(ScalarType.Float64));
                limited.zero_();
            }
            else
                limited.copy_(next);
        }
        var result = config.PromotionInterval is null ? limited : fp32;
        return result.to_type(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    /// <summary>The oracle: float64 matmul of the same inputs (exact up to float64 rounding, ~1e-16 relative).</summary>
    public static Tensor Reference(Tensor a, Tensor b) => a.to_type(ScalarType.Float64).matmul(b.to_type(ScalarType.Float64));

    /// <summary>
    /// Rounds float64 <paramref name="x"/> to <paramref name="fractionBits"/> fraction bits per value (a float with that
    /// many stored mantissa bits and an unbounded exponent). Scaling by powers of two is exact, so trunc or round
    /// (half to even) is the only rounding.
    /// </summary>
    public static Tensor RoundToFractionBits(Tensor x, int fractionBits, AccumulatorRounding rounding = AccumulatorRounding.NearestEven)
    {
        using var scope = NewDisposeScope();
        return Cut(x, Binade(x.abs()) - fractionBits, rounding).MoveToOuterDisposeScope();
    }

    // floor(log2 |x|) for x ≠ 0 via frexp (exact, unlike log2): |x| = m·2^e with m in [0.5, 1). Zero gives −1, harmless:
    // zero stays zero on any grid.
    private static Tensor Binade(Tensor magnitude)
    {
        var (_, e) = magnitude.frexp();
        return e - 1;
    }

    // x cut to multiples of 2^q (q broadcast against x). The powers of two are built on q's (smaller) shape and
    // multiplied in: exact, and much faster than ldexp over every product.
    private static Tensor Cut(Tensor x, Tensor q, AccumulatorRounding rounding)
    {
        var one = ones_like(q, ScalarType.Float64);
        var scaled = x * one.ldexp(-q);
        // Toward zero as sign · floor(|x|): libtorch's float64 trunc is several times slower on CPU.
        scaled = rounding == AccumulatorRounding.TowardZero ? scaled.abs().floor_().mul_(scaled.sign()) : scaled.round_();
        return scaled.mul_(one.ldexp(q));
    }
}

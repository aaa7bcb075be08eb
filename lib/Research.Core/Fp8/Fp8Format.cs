using TorchSharp;
using static TorchSharp.torch;

namespace Research.Fp8;

/// <summary>What a cast does with a value that rounds beyond the largest finite one.</summary>
public enum OverflowMode
{
    /// <summary>Clamp to ±max finite (OCP "saturating" conversion; what DeepSeek's scaled quantizers rely on).</summary>
    Saturate,
    /// <summary>NaN for formats without infinities (E4M3), ±Inf for those with (E5M2): libtorch's eager cast.</summary>
    NonSaturating,
}

/// <summary>
/// A small binary floating-point format: sign (optional), <see cref="ExponentBits"/> exponent bits with
/// <see cref="Bias"/>, <see cref="MantissaBits"/> fraction bits (OCP FP8 spec; OCP MX spec for FP6, FP4 and E8M0).
/// </summary>
/// <param name="HasInfinity">IEEE style: the top exponent code is reserved for ±Inf and NaN (E5M2).</param>
/// <param name="HasNan">Without infinities, one NaN code is kept: all exponent and mantissa bits set (E4M3 "fn", E8M0).</param>
/// <param name="HasSubnormals">False only for E8M0, whose exponent code 0 is the normal value 2^-127 and which has no zero.</param>
/// <param name="Signed">False for E8M0, the unsigned scale format of MX.</param>
public sealed record Fp8Format(string Name, int ExponentBits, int MantissaBits, int Bias,
    bool HasInfinity, bool HasNan, bool HasSubnormals = true, bool Signed = true)
{
    /// <summary>OCP E4M3 ("fn": finite + NaN): bias 7, max 448, no infinities. Forward tensors in DeepSeek-V3.</summary>
    public static Fp8Format E4M3 { get; } = Create("E4M3", 4, 3, 7, hasInfinity: false, hasNan: true);

    /// <summary>OCP E5M2: bias 15, max 57344, IEEE-style infinities and NaNs. The usual gradient format.</summary>
    public static Fp8Format E5M2 { get; } = Create("E5M2", 5, 2, 15, hasInfinity: true, hasNan: true);

    /// <summary>MX FP6 E3M2: bias 3, max 28, no Inf/NaN.</summary>
    public static Fp8Format E3M2 { get; } = Create("E3M2", 3, 2, 3, hasInfinity: false, hasNan: false);

    /// <summary>MX FP6 E2M3: bias 1, max 7.5, no Inf/NaN.</summary>
    public static Fp8Format E2M3 { get; } = Create("E2M3", 2, 3, 1, hasInfinity: false, hasNan: false);

    /// <summary>MX FP4 E2M1: bias 1, magnitudes 0, 0.5, 1, 1.5, 2, 3, 4, 6.</summary>
    public static Fp8Format E2M1 { get; } = Create("E2M1", 2, 1, 1, hasInfinity: false, hasNan: false);

    /// <summary>MX/UE8M0 scale: unsigned powers of two 2^-127..2^127, 0xFF = NaN, no zero (DeepSeek's power-of-two scales).</summary>
    public static Fp8Format UE8M0 { get; } = Create("UE8M0", 8, 0, 127, hasInfinity: false, hasNan: true, hasSubnormals: false, signed: false);

    /// <summary>The formats the kit ships, for charts and tables.</summary>
    public static IReadOnlyList<Fp8Format> Standard { get; } = [E4M3, E5M2, E3M2, E2M3, E2M1, UE8M0];

    /// <summary>Any small float: validates the layout and returns the format.</summary>
    public static Fp8Format Create(string name, int exponentBits, int mantissaBits, int bias,
        bool hasInfinity, bool hasNan, bool hasSubnormals = true, bool signed = true)
    {
        if (exponentBits < 1 || exponentBits > 8)
            throw new ArgumentOutOfRangeException(nameof(exponentBits), exponentBits, $"Fp8Format.ExponentBits of {name} must be in 1..8");
        if (mantissaBits < 0 || mantissaBits > 10)
            throw new ArgumentOutOfRangeException(nameof(mantissaBits), mantissaBits, $"Fp8Format.MantissaBits of {name} must be in 0..10");
        if (hasInfinity && !hasNan)
            throw new ArgumentException($"Fp8Format {name}: a format with infinities also has NaNs (IEEE top exponent code)", nameof(hasNan));
        if (hasInfinity && exponentBits < 2)
            throw new ArgumentException($"Fp8Format {name}: infinities need at least 2 exponent bits", nameof(exponentBits));
        // Float32 must hold every value exactly: exponents within its normal range, significands within 24 bits.
        var f = new Fp8Format(name, exponentBits, mantissaBits, bias, hasInfinity, hasNan, hasSubnormals, signed);
        if (f.MaxExponent > 127 || f.MinExponent - mantissaBits < -149)
            throw new ArgumentOutOfRangeException(nameof(bias), bias, $"Fp8Format.Bias of {name} puts values outside float32's range");
        return f;
    }

    /// <summary>Bits per value, sign included.</summary>
    public int TotalBits => (Signed ? 1 : 0) + ExponentBits + MantissaBits;

    /// <summary>Exponent of the smallest normal binade (and of the subnormal quantum's binade).</summary>
    public int MinExponent => HasSubnormals ? 1 - Bias : -Bias;

    /// <summary>Exponent of the largest finite binade.</summary>
    public int MaxExponent => (1 << ExponentBits) - 1 - Bias - (TopCodeReserved ? 1 : 0);

    // IEEE infinities take the whole top exponent code; so does NaN when there is no mantissa to tell it apart.
    private bool TopCodeReserved => HasInfinity || (HasNan && MantissaBits == 0);

    /// <summary>Largest finite value, e.g. 448 for E4M3, 57344 for E5M2, 6 for E2M1.</summary>
    public double MaxFinite
    {
        get
        {
            // Top binade: all mantissa codes, except the NaN code (all ones) in "fn"-style formats.
            int topMantissa = (1 << MantissaBits) - 1 - (HasNan && !TopCodeReserved ? 1 : 0);
            return (1 + topMantissa / (double)(1 << MantissaBits)) * Math.Pow(2, MaxExponent);
        }
    }

    /// <summary>Smallest positive normal value, 2^MinExponent.</summary>
    public double MinNormal => Math.Pow(2, MinExponent);

    /// <summary>Smallest positive value: the subnormal quantum, or the smallest normal when there are no subnormals.</summary>
    public double MinPositive => HasSubnormals ? Math.Pow(2, MinExponent - MantissaBits) : MinNormal;

    /// <summary>
    /// Rounds float32 <paramref name="x"/> to the nearest value of this format (ties to even), as float32 of the same
    /// shape on the same device. Subnormals are exact; NaN stays NaN; the sign of zero is kept; overflow per
    /// <paramref name="overflow"/>. For E4M3 and E5M2 this agrees bit for bit with libtorch's float8 casts within range.
    /// </summary>
    public Tensor Round(Tensor x, OverflowMode overflow = OverflowMode.Saturate)
    {
        if (x.dtype != ScalarType.Float32)
            throw new ArgumentException($"Fp8Format.Round takes float32, got {x.dtype}", nameof(x));
        using var scope = NewDisposeScope();
        var a = x.abs();
        // Binade of |x|: a = m·2^e with m in [0.5, 1), so floor(log2 a) = e - 1 (exact, unlike log2).
        var (_, e) = a.frexp();
        // Subnormals share the quantum of the smallest normal binade; quantum = 2^(binade - M).
        var quantumExponent = (e - 1).clamp_min(MinExponent) - MantissaBits;
        // Scaling by powers of two is exact, so the only rounding is round()'s: to nearest, ties to even.
        var y = a.ldexp(-quantumExponent).round_().ldexp(quantumExponent);

        var max = (float)MaxFinite;
        var tooLarge = y > max;   // also true for |x| = Inf
        var inf = tensor(float.PositiveInfinity, device: x.device);
        // Saturating: ±max, but an infinite input stays infinite where the format has infinities.
        // Non-saturating: ±Inf where the format has it, else NaN.
        var overflowValue = overflow == OverflowMode.Saturate
            ? (HasInfinity ? where(a.isinf(), inf, tensor(max, device: x.device)) : tensor(max, device: x.device))
            : (HasInfinity ? inf : tensor(float.NaN, device: x.device));
        y = where(tooLarge, overflowValue, y);
        if (!HasSubnormals)
            y = y.clamp_min((float)MinPositive);   // no zero in E8M0: the nearest value of a tiny input is the smallest
        y = y.copysign(x);
        if (!Signed)
            y = where(x < 0, tensor(float.NaN, device: x.device), y);
        y = where(x.isnan(), x, y);
        return y.MoveToOuterDisposeScope();
    }

    public override string ToString() => $"{Name} (E{ExponentBits}M{MantissaBits}, bias {Bias}, max {MaxFinite:G6})";
}

using static TorchSharp.torch;

namespace Research.Fp8;

/// <summary>
/// Real one-byte storage for formats of at most 8 bits: <see cref="Encode"/> packs sign, exponent and mantissa
/// fields into a uint8 tensor (a quarter of float32's memory), <see cref="Decode"/> maps codes back through a
/// 256-entry table. Codes follow the OCP layout; NaN is the all-ones code (0x7F/0xFF for E4M3 and E5M2, as libtorch).
/// </summary>
public static class Fp8Storage
{
    /// <summary>Rounds <paramref name="x"/> (float32) to <paramref name="format"/> and returns its codes as uint8.</summary>
    public static Tensor Encode(Tensor x, Fp8Format format, OverflowMode overflow = OverflowMode.Saturate)
    {
        RequireByteSized(format);
        using var scope = NewDisposeScope();
        int m = format.MantissaBits, fields = format.ExponentBits + m;
        var y = format.Round(x, overflow);
        var a = y.abs();
        var (_, e) = a.frexp();                                   // a = f·2^e, f in [0.5, 1)
        var normal = format.HasSubnormals ? a >= (float)format.MinNormal : ones_like(a, dtype: ScalarType.Bool);
        // Normal: exponent code e - 1 + bias, mantissa (a / 2^(e-1) - 1)·2^M. Subnormal: code 0, mantissa a / quantum.
        var exponentCode = where(normal, e - 1 + format.Bias, zeros_like(e));
        var mantissa = where(normal,
            a.ldexp(m + 1 - e) - (1 << m),
            a.ldexp(tensor(m - format.MinExponent, device: x.device))).to_type(ScalarType.Int32);
        var code = exponentCode.to_type(ScalarType.Int32).bitwise_left_shift(m).bitwise_or(mantissa);

        int allOnes = (1 << fields) - 1;
        code = where(y.isnan(), tensor(allOnes, device: x.device), code);
        if (format.HasInfinity)
            code = where(y.isinf(), tensor(((1 << format.ExponentBits) - 1) << m, device: x.device), code);
        if (format.Signed)
            code = code.bitwise_or(where(y.signbit(), tensor(1 << fields, device: x.device), tensor(0, device: x.device)));
        return code.to_type(ScalarType.Byte).MoveToOuterDisposeScope();
    }

    /// <summary>The float32 values of uint8 <paramref name="codes"/> in <paramref name="format"/>.</summary>
    public static Tensor Decode(Tensor codes, Fp8Format format)
    {
        RequireByteSized(format);
        if (codes.dtype != ScalarType.Byte)
            throw new ArgumentException($"Fp8Storage.Decode takes uint8 codes, got {codes.dtype}", nameof(codes));
        using var scope = NewDisposeScope();
        var table = tensor(DecodeTable(format), device: codes.device);
        return table.index(codes.to_type(ScalarType.Int64)).MoveToOuterDisposeScope();
    }

    /// <summary>The value of every code 0 .. 2^TotalBits − 1, from the bit fields (the definition of the format).</summary>
    public static float[] DecodeTable(Fp8Format format)
    {
        int m = format.MantissaBits, e = format.ExponentBits, fields = e + m;
        var table = new float[1 << format.TotalBits];
        for (int code = 0; code < table.Length; code++)
        {
            int exponent = (code >> m) & ((1 << e) - 1), mantissa = code & ((1 << m) - 1);
            bool negative = format.Signed && (code >> fields) != 0;
            bool topExponent = exponent == (1 << e) - 1;
            double value;
            if (format.HasInfinity && topExponent)
                value = mantissa == 0 ? double.PositiveInfinity : double.NaN;
            else if (format.HasNan && topExponent && mantissa == (1 << m) - 1)
                value = double.NaN;
            else if (exponent == 0 && format.HasSubnormals)
                value = mantissa * Math.Pow(2, format.MinExponent - m);
            else
                value = (1 + mantissa / Math.Pow(2, m)) * Math.Pow(2, exponent - format.Bias);
            table[code] = (float)(negative ? -value : value);
        }
        return table;
    }

    private static void RequireByteSized(Fp8Format format)
    {
        if (format.TotalBits > 8)
            throw new ArgumentException($"{format.Name} has {format.TotalBits} bits; one-byte storage holds formats of at most 8", nameof(format));
    }
}

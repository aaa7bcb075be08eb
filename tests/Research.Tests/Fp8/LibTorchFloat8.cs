using Research.Fp8;
using Research.Platform;
using Xunit;
using static TorchSharp.torch;

namespace Research.Tests.Fp8;

/// <summary>libtorch's real float8 dtypes as the oracle of the FP8 tests, and the inputs they are checked on.</summary>
internal static class LibTorchFloat8
{
    /// <summary>The formats libtorch has a dtype for.</summary>
    public static TheoryData<string> Formats() => ["E4M3", "E5M2"];

    /// <summary>The kit's format and libtorch's dtype of the same name.</summary>
    public static (Fp8Format Format, ScalarType Dtype) Named(string name) =>
        name == "E4M3" ? (Fp8Format.E4M3, Doctor.Float8E4M3FN) : (Fp8Format.E5M2, Doctor.Float8E5M2);

    /// <summary>Every float16 value (all 65 536 bit patterns), as float32.</summary>
    public static IEnumerable<float> AllHalves() =>
        Enumerable.Range(0, 1 << 16).Select(i => (float)BitConverter.Int16BitsToHalf((short)i));

    /// <summary>Every finite float16 value with |x| ≤ <paramref name="max"/>.</summary>
    public static float[] FiniteHalvesWithin(double max) =>
        AllHalves().Where(v => float.IsFinite(v) && Math.Abs(v) <= max).ToArray();
}

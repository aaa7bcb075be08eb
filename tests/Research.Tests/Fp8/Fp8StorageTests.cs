using Research.Fp8;
using Research.Platform;
using Xunit;
using static TorchSharp.torch;

namespace Research.Tests.Fp8;

public sealed class Fp8StorageTests
{
    private static float[] HalvesWithin(double max) => LibTorchFloat8.FiniteHalvesWithin(max);

    public static TheoryData<string> LibTorchFormats() => LibTorchFloat8.Formats();

    private static (Fp8Format Format, ScalarType Dtype) Named(string name) => LibTorchFloat8.Named(name);

    [Theory]
    [MemberData(nameof(LibTorchFormats))]
    public void Encoded_bytes_equal_libtorch_float8_storage_for_every_float16_in_range(string name)
    {
        var (format, dtype) = Named(name);
        var x = tensor(HalvesWithin(format.MaxFinite));

        var ours = Fp8Storage.Encode(x, format).bytes.ToArray();
        var libtorch = x.to_type(dtype).bytes.ToArray();

        Assert.Equal(libtorch, ours);
    }

    [Theory]
    [MemberData(nameof(LibTorchFormats))]
    public void Decoding_every_code_agrees_with_libtorch(string name)
    {
        var (format, dtype) = Named(name);
        var codes = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
        var float8 = zeros(256, dtype: dtype);
        float8.bytes = codes;

        var libtorch = float8.to_type(ScalarType.Float32).data<float>().ToArray();
        var ours = Fp8Storage.Decode(tensor(codes), format).data<float>().ToArray();

        for (int i = 0; i < 256; i++)
            Assert.True(float.IsNaN(libtorch[i]) ? float.IsNaN(ours[i]) : BitConverter.SingleToInt32Bits(libtorch[i]) == BitConverter.SingleToInt32Bits(ours[i]),
                $"code 0x{i:X2}: libtorch {libtorch[i]}, ours {ours[i]}");
    }

    public static TheoryData<string> ByteFormats() => ["E4M3", "E5M2", "E3M2", "E2M3", "E2M1", "UE8M0"];

    [Theory]
    [MemberData(nameof(ByteFormats))]
    public void Decode_of_encode_is_round(string name)
    {
        var format = Fp8Format.Standard.Single(f => f.Name == name);
        var x = randn(50_000, generator: new Generator(3)) * (float)Math.Min(format.MaxFinite, 1e4) * 0.3f;
        if (!format.Signed) x = x.abs();

        var restored = Fp8Storage.Decode(Fp8Storage.Encode(x, format), format);

        Assert.True(restored.eq(format.Round(x)).all().item<bool>());
    }

    [Fact]
    public void One_byte_per_value_is_a_quarter_of_float32()
    {
        var x = randn(1024, 1024);

        var codes = Fp8Storage.Encode(x, Fp8Format.E4M3);

        Assert.Equal(ScalarType.Byte, codes.dtype);
        Assert.Equal(x.NumberOfElements, codes.bytes.Length);
        Assert.Equal(4 * codes.bytes.Length, x.bytes.Length);
    }

    [Fact]
    public void Storage_rejects_wide_formats_and_non_byte_codes()
    {
        var wide = Fp8Format.Create("E5M6", 5, 6, 15, hasInfinity: true, hasNan: true);

        Assert.Throws<ArgumentException>(() => Fp8Storage.Encode(ones(2), wide));
        Assert.Throws<ArgumentException>(() => Fp8Storage.Decode(ones(2), Fp8Format.E4M3));
    }
}

using System.Buffers.Binary;
using System.IO.Compression;

namespace Research.Tests.Charts;

/// <summary>
/// A PNG decoded to RGBA pixels, for looking at what a picture shows. Handles what Chromium writes: 8-bit RGB or RGBA,
/// not interlaced (PNG spec, sections 11.2 and 9).
/// </summary>
internal sealed class PngPixels
{
    private static readonly byte[] Signature = [0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A];

    public int Width { get; }
    public int Height { get; }
    private readonly byte[] rgba;

    private PngPixels(int width, int height, byte[] rgba) => (Width, Height, this.rgba) = (width, height, rgba);

    public (byte R, byte G, byte B, byte A) this[int x, int y]
    {
        get
        {
            var i = (y * Width + x) * 4;
            return (rgba[i], rgba[i + 1], rgba[i + 2], rgba[i + 3]);
        }
    }

    /// <summary>The share of pixels within <paramref name="tolerance"/> of an opaque colour in every channel.</summary>
    public double Share(byte r, byte g, byte b, int tolerance = 8)
    {
        var matches = 0;
        for (var i = 0; i < rgba.Length; i += 4)
            if (Math.Abs(rgba[i] - r) <= tolerance && Math.Abs(rgba[i + 1] - g) <= tolerance && Math.Abs(rgba[i + 2] - b) <= tolerance && rgba[i + 3] > 200)
                matches++;
        return matches / (double)(Width * Height);
    }

    /// <summary>The share of pixels that have the picture's most common colour (1 for a blank picture).</summary>
    public double DominantShare() =>
        Enumerable.Range(0, Width * Height).GroupBy(p => BitConverter.ToInt32(rgba, p * 4)).Max(g => g.Count()) / (double)(Width * Height);

    public static PngPixels Decode(byte[] png)
    {
        if (!png.AsSpan(0, 8).SequenceEqual(Signature)) throw new InvalidDataException("not a PNG (signature)");
        int width = 0, height = 0, channels = 0;
        using var compressed = new MemoryStream();
        for (var at = 8; at < png.Length;)
        {
            var length = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(at));
            var type = System.Text.Encoding.ASCII.GetString(png, at + 4, 4);
            var data = png.AsSpan(at + 8, length);
            if (type == "IHDR")
            {
                (width, height) = (BinaryPrimitives.ReadInt32BigEndian(data), BinaryPrimitives.ReadInt32BigEndian(data[4..]));
                var (depth, colour, interlace) = (data[8], data[9], data[12]);
                channels = colour switch { 2 => 3, 6 => 4, _ => throw new InvalidDataException($"colour type {colour} not handled") };
                if (depth != 8 || interlace != 0) throw new InvalidDataException("only 8-bit, non-interlaced PNGs are handled");
            }
            else if (type == "IDAT") compressed.Write(data);
            at += 12 + length;   // length, type, data, CRC
        }
        compressed.Position = 0;
        using var inflated = new MemoryStream();
        using (var zlib = new ZLibStream(compressed, CompressionMode.Decompress)) zlib.CopyTo(inflated);
        var raw = inflated.ToArray();

        // Each row: a filter byte, then the row's bytes, filtered against the pixel to the left (a) and the row above (b).
        var stride = width * channels;
        var rows = new byte[height * stride];
        for (var y = 0; y < height; y++)
        {
            var filter = raw[y * (stride + 1)];
            for (var x = 0; x < stride; x++)
            {
                int value = raw[y * (stride + 1) + 1 + x];
                int a = x >= channels ? rows[y * stride + x - channels] : 0;
                int b = y > 0 ? rows[(y - 1) * stride + x] : 0;
                int c = x >= channels && y > 0 ? rows[(y - 1) * stride + x - channels] : 0;
                rows[y * stride + x] = (byte)(filter switch
                {
                    0 => value,
                    1 => value + a,
                    2 => value + b,
                    3 => value + (a + b) / 2,
                    4 => value + Paeth(a, b, c),
                    _ => throw new InvalidDataException($"filter {filter}"),
                });
            }
        }
        var rgba = new byte[width * height * 4];
        for (var p = 0; p < width * height; p++)
        {
            rgba[p * 4] = rows[p * channels];
            rgba[p * 4 + 1] = rows[p * channels + 1];
            rgba[p * 4 + 2] = rows[p * channels + 2];
            rgba[p * 4 + 3] = channels == 4 ? rows[p * channels + 3] : (byte)255;
        }
        return new PngPixels(width, height, rgba);
    }

    private static int Paeth(int a, int b, int c)
    {
        int p = a + b - c, pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }
}

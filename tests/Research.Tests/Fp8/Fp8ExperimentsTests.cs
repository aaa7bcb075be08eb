using Research.Experiments;
using Research.Fp8;
using Xunit;
using static TorchSharp.torch;

namespace Research.Tests.Fp8;

public sealed class Fp8ExperimentsTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public void Measured_worst_rounding_error_reaches_the_closed_form_supremum_in_every_format()
    {
        var result = Fp8FormatsExperiment.Run(new Fp8FormatsConfig(["E4M3", "E5M2", "E3M2", "E2M3", "E2M1"], StepsPerBinade: 8, SamplesPerStep: 4096), CPU, cancellation: Token).First;

        foreach (var f in result.Formats)
        {
            double u = Math.Pow(2, -(f.MantissaBits + 1));
            Assert.Equal(u / (1 + u), f.RelativeErrorBound, 12);
            // The error is computed in float32, so the measurement may exceed the supremum by float32 rounding.
            Assert.InRange(f.MaxRelativeErrorNormal, 0.95 * f.RelativeErrorBound, f.RelativeErrorBound * (1 + 1e-6));
        }
    }

    [Theory]
    [InlineData("E4M3", 126, 17.807)]   // codes 0x01..0x7E; log2(448 / 2^-9)
    [InlineData("E5M2", 123, 31.807)]   // 31 binades × 4 codes − zero; log2(57344 / 2^-16)
    [InlineData("E2M1", 7, 3.585)]      // 0.5, 1, 1.5, 2, 3, 4, 6; log2(6 / 0.5)
    public void Grid_and_dynamic_range_follow_from_the_bit_layout(string name, int positiveValues, double binades)
    {
        var result = Fp8FormatsExperiment.Run(new Fp8FormatsConfig([name], SamplesPerStep: 16), CPU, cancellation: Token).First;

        Assert.Equal(positiveValues, result.Formats[0].PositiveValues.Count);
        Assert.Equal(binades, result.Formats[0].DynamicRangeBinades, 3);
    }

    [Fact]
    public void Subnormals_lose_relative_precision_and_values_below_half_the_smallest_flush_to_zero()
    {
        var result = Fp8FormatsExperiment.Run(new Fp8FormatsConfig(["E4M3"], SamplesPerStep: 512), CPU, cancellation: Token).First;
        var e4m3 = result.Errors.Where(p => p.Format == "E4M3").ToList();

        // Below 2^-10 = half of E4M3's smallest subnormal 2^-9, everything rounds to 0: relative error 100 %.
        Assert.All(e4m3.Where(p => p.Magnitude * Math.Pow(2, 0.25) <= Math.Pow(2, -10)), p => Assert.Equal(1.0, p.MaxRelativeError));
        Assert.True(e4m3.Single(p => p.Magnitude == Math.Pow(2, -8)).MaxRelativeError > 0.1);
    }

    private static Fp8ScalingConfig SmallScaling => new(Tokens: 64, Channels: 512, OutlierChannels: 3, OutlierGains: [1, 1e5]);

    [Fact]
    public void Tiles_beat_a_per_tensor_scale_once_outliers_dominate()
    {
        var result = Fp8ScalingExperiment.Run(SmallScaling, CPU, cancellation: Token).First;
        ScalingErrorPoint At(double gain, Granularity g) => result.Points.Single(p => p.OutlierGain == gain && p.Granularity == g.ToString());

        // Without outliers the scale hardly matters; with 1e5× outlier channels one shared scale crushes the rest.
        Assert.InRange(At(1, Granularity.PerTensor).RelativeRmse / At(1, Granularity.Tile).RelativeRmse, 0.9, 1.2);
        Assert.True(At(1e5, Granularity.Tile).RelativeRmse * 3 < At(1e5, Granularity.PerTensor).RelativeRmse);
        Assert.True(At(1e5, Granularity.Tile).FlushedToZero < At(1e5, Granularity.PerTensor).FlushedToZero);
        Assert.Equal(3, result.OutlierChannelIndices.Count);
    }

    [Fact]
    public void The_same_seed_gives_identical_numbers()
    {
        var a = Fp8ScalingExperiment.Run(SmallScaling, CPU, cancellation: Token).First;
        var b = Fp8ScalingExperiment.Run(SmallScaling, CPU, cancellation: Token).First;

        Assert.Equal(a.Points, b.Points);
        Assert.Equal(a.OutlierChannelIndices, b.OutlierChannelIndices);
    }

    [Theory]
    [InlineData("""{ "formats": ["E9M9"] }""", "fp8-formats", "E9M9")]
    [InlineData("""{ "outlierChannels": 5000 }""", "fp8-scaling", "OutlierChannels")]
    [InlineData("""{ "format": "int8" }""", "fp8-scaling", "E4M3")]
    [InlineData("""{ "outlierGains": [0.5] }""", "fp8-scaling", "OutlierGains")]
    public void Bad_configs_name_the_field_and_the_allowed_values(string json, string id, string named)
    {
        var path = Path.Combine(TestPaths.TempFolder(), "config.json");
        File.WriteAllText(path, json);

        var e = Assert.Throws<ConfigException>(() => ExperimentCatalog.Find(id).Run(new ExperimentRequest(CPU, ConfigPath: path)));

        Assert.Contains(named, e.Message);
    }
}

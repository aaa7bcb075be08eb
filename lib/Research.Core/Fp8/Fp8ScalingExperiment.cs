using Research.Experiments;
using Research.Numerics;
using TorchSharp;
using static TorchSharp.torch;

namespace Research.Fp8;

/// <summary>Config of <c>fp8-scaling</c>: synthetic activations [Tokens, Channels] with a few outlier channels.</summary>
/// <param name="OutlierChannels">How many channels carry outliers. LLM activations concentrate their large values in a
/// few fixed channels (the "massive activations" of large models); the channels are drawn once from the seed.</param>
/// <param name="OutlierGains">The sweep: each outlier channel is multiplied by this gain (1 = no outliers).</param>
/// <param name="Format">The format quantized to (E4M3 as V3's activations).</param>
public sealed record Fp8ScalingConfig(int Tokens = 512, int Channels = 1024, int OutlierChannels = 4, double[]? OutlierGains = null,
    string Format = "E4M3", int TileSize = 128, int BlockSize = 128) : IExperimentConfig<Fp8ScalingConfig>
{
    // Null (from a file) means the default sweep, held here so that `new Fp8ScalingConfig()` is the run the file describes.
    public double[] OutlierGains { get; init; } = OutlierGains ?? [1, 10, 100, 1000, 10000, 100000];

    public IReadOnlyList<double> Gains => OutlierGains;

    /// <summary>The seeds to run (JSON <c>seeds</c>); each is the root of every generator one run draws from.</summary>
    public IReadOnlyList<int> Seeds { get; init; } = [0];

    public Fp8ScalingConfig WithSeeds(IReadOnlyList<int> seeds) => this with { Seeds = seeds };

    public Fp8ScalingConfig Validated()
    {
        if (Tokens < 1 || Tokens > 65536) throw new ConfigException($"Fp8ScalingConfig.Tokens must be in 1..65536 (got {Tokens})");
        if (Channels < 1 || Channels > 65536) throw new ConfigException($"Fp8ScalingConfig.Channels must be in 1..65536 (got {Channels})");
        if (OutlierChannels < 0 || OutlierChannels > Channels)
            throw new ConfigException($"Fp8ScalingConfig.OutlierChannels must be in 0..Channels ({Channels}) (got {OutlierChannels})");
        if (Gains.Count == 0 || Gains.Any(g => !(g >= 1 && g <= 1e6)))
            throw new ConfigException("Fp8ScalingConfig.OutlierGains must list gains in 1..1e6");
        Fp8FormatNames.Parse(Format, "Fp8ScalingConfig.Format");
        new ScalingConfig(Granularity.Tile, TileSize, BlockSize).Validated();
        ExperimentConfigs.CheckDistinct("Fp8ScalingConfig.OutlierGains", Gains);
        return this;
    }
}

/// <summary>Quantization error of one granularity at one outlier gain.</summary>
/// <param name="RelativeRmse">‖Q(x) − x‖ / ‖x‖ over the ordinary (non-outlier) elements: the ones an outlier's scale crushes.</param>
/// <param name="RelativeRmseAll">The same over every element (dominated by the outliers themselves).</param>
/// <param name="FlushedToZero">Fraction of non-zero ordinary elements that quantized to zero.</param>
public sealed record ScalingErrorPoint(string Granularity, [property: Column(Format = "G3")] double OutlierGain,
    [property: Column(Format = "P3")] double RelativeRmse, [property: Column(Format = "P3")] double RelativeRmseAll,
    [property: Column(Format = "P3")] double MedianRelativeError, [property: Column(Format = "P2")] double FlushedToZero);

/// <summary>Per-element log10 relative errors of ordinary elements at the largest gain, for the distribution chart.</summary>
public sealed record ErrorDistribution(string Granularity, IReadOnlyList<double> Log10RelativeErrors);

public sealed record Fp8ScalingResult(string Format, IReadOnlyList<int> OutlierChannelIndices, IReadOnlyList<ScalingErrorPoint> Points,
    IReadOnlyList<ErrorDistribution> Distributions);

/// <summary>
/// Why V3 scales small groups: one scale per tensor must fit the largest outlier, pushing every ordinary value
/// toward the bottom of the format's range, where steps are coarse and small values flush to zero. Per-row scales do
/// not help when outliers sit in channels every row shares; 1×128 tiles and 128×128 blocks confine the damage to
/// the groups that contain an outlier channel.
/// </summary>
public static class Fp8ScalingExperiment
{
    public const string Id = "fp8-scaling";

    /// <summary>Granularities in the order charts and tables show them.</summary>
    public static IReadOnlyList<Granularity> Granularities { get; } = [Granularity.PerTensor, Granularity.PerRow, Granularity.Tile, Granularity.Block];

    /// <summary>Standard-normal activations whose outlier channels are multiplied by <paramref name="gain"/>, drawn from <paramref name="seed"/>.</summary>
    public static (Tensor X, Tensor OutlierMask) Activations(Fp8ScalingConfig config, double gain, Device device, int seed = 0)
    {
        using var scope = NewDisposeScope();
        var generator = new Generator((ulong)seed, device);
        var x = randn([config.Tokens, config.Channels], generator: generator, device: device);
        var channels = randperm(config.Channels, generator: generator, device: device)[..config.OutlierChannels];
        var mask = zeros(config.Channels, dtype: ScalarType.Bool, device: device).index_fill_(0, channels, true);
        x = where(mask, x * (float)gain, x);
        return (x.MoveToOuterDisposeScope(), mask.MoveToOuterDisposeScope());
    }

    /// <summary>Every seed of <paramref name="config"/>, then the comparisons over them (see <see cref="Experiment"/>).</summary>
    public static SeededResult<Fp8ScalingResult> Run(Fp8ScalingConfig config, Device device, IProgress<ExperimentProgress>? progress = null,
        CancellationToken cancellation = default) => Experiment.Run(config, device, progress, cancellation);

    private static Fp8ScalingResult RunSeed(Fp8ScalingConfig config, int seed, Device device, IProgress<ExperimentProgress>? progress, CancellationToken cancellation)
    {
        var format = Fp8FormatNames.Parse(config.Format, "Fp8ScalingConfig.Format");
        var points = new List<ScalingErrorPoint>();
        var distributions = new List<ErrorDistribution>();
        int[] outlierChannels = [];
        double topGain = config.Gains.Max();
        int done = 0, total = config.Gains.Count * Granularities.Count;
        foreach (var gain in config.Gains)
        {
            // One draw per gain, shared by every granularity; the seed fixes the same outlier channels for all gains.
            using var gainScope = NewDisposeScope();
            var (x, outliers) = Activations(config, gain, device, seed);
            outlierChannels = nonzero(outliers).flatten().to_type(ScalarType.Int32).cpu().data<int>().ToArray();
            var ordinary = (~outliers).expand_as(x);
            var xo = x.masked_select(ordinary);
            foreach (var granularity in Granularities)
            {
                cancellation.ThrowIfCancellationRequested();
                progress?.Report(new ExperimentProgress($"gain {gain:G3}, {granularity}", done++, total));
                using var scope = NewDisposeScope();
                var y = Fp8Scaling.FakeQuant(x, format, new ScalingConfig(granularity, config.TileSize, config.BlockSize));
                var yo = y.masked_select(ordinary);
                var relative = ((yo - xo).abs() / xo.abs()).to_type(ScalarType.Float64);
                points.Add(new ScalingErrorPoint(granularity.ToString(), gain,
                    ErrorMetrics.RelativeRmse(yo, xo), ErrorMetrics.RelativeRmse(y, x), relative.median().item<double>(),
                    ((yo == 0) & (xo != 0)).to_type(ScalarType.Float64).mean().item<double>()));
                if (gain == topGain)
                    distributions.Add(new ErrorDistribution(granularity.ToString(), Log10Sample(relative, 1000)));
            }
        }
        progress?.Report(new ExperimentProgress("done", total, total));
        return new Fp8ScalingResult(format.Name, outlierChannels, points, distributions);
    }

    // An evenly spaced sample of the sorted errors keeps the chart's distribution without thousands of points per bar.
    // Zero errors (values that land exactly on the grid) are drawn at 1e-8, below every real error.
    private static double[] Log10Sample(Tensor relative, int count)
    {
        var sorted = relative.sort().Values;
        var idx = linspace(0, sorted.shape[0] - 1, Math.Min(count, (int)sorted.shape[0]), device: relative.device).to_type(ScalarType.Int64);
        // Three decimals of a log10 are 0.2 % of the error itself: plenty for a chart, and small in a saved notebook.
        return sorted.index_select(0, idx).clamp_min(1e-8).log10().cpu().data<double>().ToArray().Select(v => Math.Round(v, 3)).ToArray();
    }

    public static Experiment<Fp8ScalingConfig, Fp8ScalingResult> Experiment { get; } = new(
        Id,
        "FP8 scaling granularity under outliers",
        "Quantization error of ordinary activations with per-tensor, per-row, 1×128 tile and 128×128 block scales as outlier channels grow.",
        (config, seed, request) => RunSeed(config, seed, request.Device, request.Progress, request.Cancellation),
        (config, seeded) =>
        {
            var result = seeded.First;
            var summary = new List<string> { $"{result.Format}, outlier channels [{string.Join(", ", result.OutlierChannelIndices)}]; relative_rmse is over the ordinary values" };
            return new ExperimentOutput(config, config.Seeds, result, summary, [ResultTable.Of("errors", result.Points)],
            [
                new NamedChart("error-vs-gain", "Error of ordinary values as outliers grow", Fp8Charts.ScalingError(result)),
                new NamedChart("error-distribution", "Distribution of relative errors at the largest outlier gain", Fp8Charts.ScalingDistribution(result)),
            ]);
        });

    public static ExperimentDefinition Definition => Experiment.Definition;
}

using Research.Experiments;
using TorchSharp;
using static TorchSharp.torch;

namespace Research.Fp8;

/// <summary>Config of <c>fp8-formats</c>.</summary>
/// <param name="Formats">Names from <see cref="Fp8Format.Standard"/> (E4M3, E5M2, E3M2, E2M3, E2M1).</param>
/// <param name="StepsPerBinade">Magnitude buckets per power of two on the error-vs-magnitude sweep.</param>
/// <param name="SamplesPerStep">Uniform random values drawn in each bucket.</param>
public sealed record Fp8FormatsConfig(string[]? Formats = null, int StepsPerBinade = 4, int SamplesPerStep = 2048) : IExperimentConfig<Fp8FormatsConfig>
{
    // Null means every standard format, held here so that `new Fp8FormatsConfig()` is the run data/configs describes.
    public string[] Formats { get; init; } = Formats ?? ["E4M3", "E5M2", "E3M2", "E2M3", "E2M1"];

    /// <summary>The seeds to run (JSON <c>seeds</c>); each is the root of every generator one run draws from.</summary>
    public IReadOnlyList<int> Seeds { get; init; } = [0];

    public Fp8FormatsConfig WithSeeds(IReadOnlyList<int> seeds) => this with { Seeds = seeds };

    public Fp8FormatsConfig Validated()
    {
        if (Formats is null || Formats.Length == 0)
            throw new ConfigException("Fp8FormatsConfig.Formats must name at least one format");
        foreach (var name in Formats) Fp8FormatNames.Parse(name, "Fp8FormatsConfig.Formats");
        if (StepsPerBinade < 1 || StepsPerBinade > 64)
            throw new ConfigException($"Fp8FormatsConfig.StepsPerBinade must be in 1..64 (got {StepsPerBinade})");
        if (SamplesPerStep < 1 || SamplesPerStep > 1_000_000)
            throw new ConfigException($"Fp8FormatsConfig.SamplesPerStep must be in 1..1000000 (got {SamplesPerStep})");
        ExperimentConfigs.CheckDistinct("Fp8FormatsConfig.Formats", Formats.Select(f => f.ToUpperInvariant()).ToList());
        return this;
    }
}

/// <summary>Looks formats up by name for configs, with an error listing the allowed names.</summary>
public static class Fp8FormatNames
{
    /// <summary>The format named <paramref name="name"/> (any case) among <paramref name="allowed"/>
    /// (default <see cref="Fp8Format.Standard"/>); otherwise a ConfigException naming <paramref name="field"/>.</summary>
    public static Fp8Format Parse(string name, string field, IReadOnlyList<Fp8Format>? allowed = null)
    {
        allowed ??= Fp8Format.Standard;
        return allowed.FirstOrDefault(f => string.Equals(f.Name, name, StringComparison.OrdinalIgnoreCase))
            ?? throw new ConfigException($"{field}: unknown format '{name}'; allowed: {string.Join(", ", allowed.Select(f => f.Name))}");
    }
}

/// <summary>One format's layout and what rounding to it costs.</summary>
/// <param name="DynamicRangeBinades">log2(max / smallest positive): how many powers of two it spans.</param>
/// <param name="RelativeErrorBound">u / (1 + u) with u = 2^-(M+1): the supremum of the relative rounding error over
/// normal values. Half a step is u·2^e; it is relatively largest just above a power of two, at x → 2^e(1 + u).</param>
/// <param name="MaxRelativeErrorNormal">The largest relative error measured over the normal range.</param>
/// <param name="PositiveValues">Every positive finite value of the format, ascending.</param>
public sealed record FormatSummary([property: Column("format")] string Name, int ExponentBits, int MantissaBits, int Bias,
    [property: Column("max", Format = "G6")] double MaxFinite, double MinNormal, double MinPositive,
    [property: Column("binades", Format = "F1")] double DynamicRangeBinades, [property: Column(Format = "P2")] double RelativeErrorBound,
    [property: Column(Format = "P2")] double MaxRelativeErrorNormal, [property: Column(Skip = true)] IReadOnlyList<double> PositiveValues);

/// <summary>Relative rounding error of values with magnitude in [Magnitude, Magnitude·2^(1/steps)).</summary>
public sealed record RoundingErrorPoint(string Format, double Magnitude, double MeanRelativeError, double MaxRelativeError);

public sealed record Fp8FormatsResult(IReadOnlyList<FormatSummary> Formats, IReadOnlyList<RoundingErrorPoint> Errors);

/// <summary>
/// What each small float can represent and how much rounding to it costs, by magnitude: about 2^-(M+1) relative
/// error across the normal range, rising to 100 % as values sink through the subnormals to zero, and saturation
/// error beyond the largest value.
/// </summary>
public static class Fp8FormatsExperiment
{
    public const string Id = "fp8-formats";

    /// <summary>Every seed of <paramref name="config"/>, then the comparisons over them (see <see cref="Experiment"/>).</summary>
    public static SeededResult<Fp8FormatsResult> Run(Fp8FormatsConfig config, Device device, IProgress<ExperimentProgress>? progress = null,
        CancellationToken cancellation = default) => Experiment.Run(config, device, progress, cancellation);

    private static Fp8FormatsResult RunSeed(Fp8FormatsConfig config, int seed, Device device, IProgress<ExperimentProgress>? progress, CancellationToken cancellation)
    {
        var generator = new Generator((ulong)seed, device);
        var summaries = new List<FormatSummary>();
        var errors = new List<RoundingErrorPoint>();
        for (int i = 0; i < config.Formats.Length; i++)
        {
            cancellation.ThrowIfCancellationRequested();
            var format = Fp8FormatNames.Parse(config.Formats[i], "Fp8FormatsConfig.Formats");
            progress?.Report(new ExperimentProgress(format.Name, i, config.Formats.Length));
            var points = Sweep(format, config, device, generator);
            errors.AddRange(points);
            var normal = points.Where(p => p.Magnitude >= format.MinNormal && p.Magnitude * Math.Pow(2, 1.0 / config.StepsPerBinade) <= format.MaxFinite);
            summaries.Add(new FormatSummary(format.Name, format.ExponentBits, format.MantissaBits, format.Bias, format.MaxFinite,
                format.MinNormal, format.MinPositive, Math.Log2(format.MaxFinite / format.MinPositive),
                RelativeErrorSupremum(format), normal.Max(p => p.MaxRelativeError), PositiveGrid(format)));
        }
        progress?.Report(new ExperimentProgress("done", config.Formats.Length, config.Formats.Length));
        return new Fp8FormatsResult(summaries, errors);
    }

    /// <summary>u / (1 + u), u = 2^-(M+1): the largest relative error rounding to nearest can make on a normal value.</summary>
    public static double RelativeErrorSupremum(Fp8Format format)
    {
        double u = Math.Pow(2, -(format.MantissaBits + 1));
        return u / (1 + u);
    }

    // From two binades below the smallest positive value to one above the largest.
    private static List<RoundingErrorPoint> Sweep(Fp8Format format, Fp8FormatsConfig config, Device device, Generator generator)
    {
        var points = new List<RoundingErrorPoint>();
        double step = 1.0 / config.StepsPerBinade;
        for (double e = Math.Floor(Math.Log2(format.MinPositive)) - 2; e < Math.Log2(format.MaxFinite) + 1; e += step)
        {
            using var scope = NewDisposeScope();
            double low = Math.Pow(2, e), high = Math.Pow(2, e + step);
            var x = (rand(config.SamplesPerStep, generator: generator, device: device) * (float)(high - low) + (float)low).clamp_min((float)low);
            var relative = ((format.Round(x) - x).abs() / x).to_type(ScalarType.Float64);
            points.Add(new RoundingErrorPoint(format.Name, low, relative.mean().item<double>(), relative.max().item<double>()));
        }
        return points;
    }

    private static double[] PositiveGrid(Fp8Format format) => format.TotalBits <= 8
        ? Fp8Storage.DecodeTable(format).Where(v => float.IsFinite(v) && v > 0).Select(v => (double)v).Distinct().Order().ToArray()
        : [];

    public static Experiment<Fp8FormatsConfig, Fp8FormatsResult> Experiment { get; } = new(
        Id,
        "FP8, FP6 and FP4 formats",
        "Representable values and relative rounding error by magnitude for E4M3, E5M2, E3M2, E2M3 and E2M1.",
        (config, seed, request) => RunSeed(config, seed, request.Device, request.Progress, request.Cancellation),
        (config, seeded) =>
        {
            var result = seeded.First;
            return new ExperimentOutput(config, config.Seeds, result, ["relative_error_bound is sup u/(1 + u); max_relative_error_normal is measured over the normal range"],
                [ResultTable.Of("formats", result.Formats), ResultTable.Of("rounding-error", result.Errors, display: false)],
            [
                new NamedChart("relative-error", "Relative rounding error by magnitude", Fp8Charts.RoundingError(result)),
                new NamedChart("grid", "Representable positive values", Fp8Charts.Grid(result)),
            ]);
        });

    public static ExperimentDefinition Definition => Experiment.Definition;
}

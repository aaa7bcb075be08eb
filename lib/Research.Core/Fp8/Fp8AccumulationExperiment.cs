using Research.Experiments;
using TorchSharp;
using static TorchSharp.torch;

namespace Research.Fp8;

/// <summary>Config of <c>fp8-accumulation</c>: random GEMMs [Rows, K] · [K, Columns] for each K.</summary>
/// <param name="Rows">M. 64 × 64 outputs give 4096 samples of the error per K and keep the sweep to seconds on a CPU.</param>
/// <param name="InnerSizes">The K sweep (V3 §3.3.2 quotes K = 4096).</param>
/// <param name="AccumulatorMantissaBits">Fraction bits of the tensor-core accumulator (HW25 §3.1.1: 13).</param>
/// <param name="PromotionInterval">N_C of the promoted runs (V3 §3.3.2: 128); the other runs never promote.</param>
/// <param name="ChunkSize">Products per WGMMA step (32 for FP8).</param>
/// <param name="Format">Inputs are quantized to this format with one scale per tensor (s = amax / max).</param>
public sealed record Fp8AccumulationConfig(int Rows = 64, int Columns = 64, int[]? InnerSizes = null,
    int AccumulatorMantissaBits = 13, int PromotionInterval = 128, int ChunkSize = 32,
    AccumulatorRounding Rounding = AccumulatorRounding.TowardZero, string Format = "E4M3") : IExperimentConfig<Fp8AccumulationConfig>
{
    /// <summary>Largest K accepted: inputs of 4096 × 65536 float32 already take 1 GB.</summary>
    public const int MaxInnerSize = 65536;

    // Null (from a file) means the default sweep, held here so that `new Fp8AccumulationConfig()` is the run the file describes.
    public int[] InnerSizes { get; init; } = InnerSizes ?? [256, 512, 1024, 2048, 4096, 8192, 16384];

    public IReadOnlyList<int> Ks => InnerSizes;

    /// <summary>The accumulator of the promoted runs; the plain runs use it with no promotion.</summary>
    public AccumulationConfig Accumulation => new(AccumulatorMantissaBits, PromotionInterval, ChunkSize, Rounding);

    /// <summary>The seeds to run (JSON <c>seeds</c>); each is the root of every generator one run draws from.</summary>
    public IReadOnlyList<int> Seeds { get; init; } = [0];

    public Fp8AccumulationConfig WithSeeds(IReadOnlyList<int> seeds) => this with { Seeds = seeds };

    public Fp8AccumulationConfig Validated()
    {
        if (Rows < 1 || Rows > 4096) throw new ConfigException($"Fp8AccumulationConfig.Rows must be in 1..4096 (got {Rows})");
        if (Columns < 1 || Columns > 4096) throw new ConfigException($"Fp8AccumulationConfig.Columns must be in 1..4096 (got {Columns})");
        if (Ks.Count == 0 || Ks.Any(k => k < 1 || k > MaxInnerSize))
            throw new ConfigException($"Fp8AccumulationConfig.InnerSizes must list sizes K in 1..{MaxInnerSize}");
        Fp8FormatNames.Parse(Format, "Fp8AccumulationConfig.Format");
        Accumulation.Validated();
        ExperimentConfigs.CheckDistinct("Fp8AccumulationConfig.InnerSizes", Ks);
        return this;
    }
}

/// <summary>Error of the simulated GEMM at one K, with or without promotion (see <see cref="Fp8AccumulationResult"/>).</summary>
/// <param name="MaxRelativeError">max_ij |C_sim − C_ref|_ij / max_ij |C_ref|_ij.</param>
/// <param name="MeanRelativeError">mean_ij |C_sim − C_ref|_ij / mean_ij |C_ref|_ij.</param>
public sealed record AccumulationErrorPoint(int K, bool Promotion, [property: Column(Format = "E2")] double MaxRelativeError,
    [property: Column(Format = "E2")] double MeanRelativeError);

/// <summary>The headline numbers at one K: max relative error without and with promotion.</summary>
public sealed record PromotionPair(double NoPromotion, double Promotion);

/// <summary>
/// Result of <c>fp8-accumulation</c>. The error is relative to the matrix, not per element: element-wise
/// |ΔC_ij| / |C_ij| is unbounded for the many entries of a zero-mean product that land near 0 (we measured maxima
/// above 100 % that say nothing about the accumulator), so the worst absolute error is divided by the largest
/// |C_ij| (max norm), and the mean by the mean |C_ij|. For all-positive inputs both reduce to the element-wise
/// maximum and mean. V3 §3.3.2 does not define its "maximum relative error"; this is the reading under which a
/// single number per GEMM is meaningful.
/// </summary>
/// <param name="K4096">The errors at K = 4096 (V3's "nearly 2 %" without promotion), or null when 4096 is not swept.</param>
public sealed record Fp8AccumulationResult(string Format, int Rows, int Columns, int AccumulatorMantissaBits, int PromotionInterval,
    int ChunkSize, string Rounding, PromotionPair? K4096, IReadOnlyList<AccumulationErrorPoint> Points);

/// <summary>
/// Why V3 promotes partial sums to FP32 every 128 elements: a tensor-core accumulator keeping 13 fraction bits loses
/// a roughly fixed fraction of the running sum at every step, so without promotion the error grows with K; with
/// promotion each partial sum is short and the FP32 sum of them adds ~2⁻²⁴ per step.
/// </summary>
public static class Fp8AccumulationExperiment
{
    public const string Id = "fp8-accumulation";

    /// <summary>The K V3 quotes its error at.</summary>
    public const int HeadlineK = 4096;

    /// <summary>Standard-normal A [M, K] and B [K, N] quantized per tensor: Round(x / s) · s with s = amax / max.</summary>
    public static (Tensor A, Tensor B) Inputs(int m, int k, int n, Fp8Format format, Generator generator, Device device)
    {
        using var scope = NewDisposeScope();
        var perTensor = new ScalingConfig(Granularity.PerTensor);
        var a = Fp8Scaling.FakeQuant(randn([m, k], generator: generator, device: device), format, perTensor);
        var b = Fp8Scaling.FakeQuant(randn([k, n], generator: generator, device: device), format, perTensor);
        return (a.MoveToOuterDisposeScope(), b.MoveToOuterDisposeScope());
    }

    /// <summary>Every seed of <paramref name="config"/>, then the comparisons over them (see <see cref="Experiment"/>).</summary>
    public static SeededResult<Fp8AccumulationResult> Run(Fp8AccumulationConfig config, Device device, IProgress<ExperimentProgress>? progress = null,
        CancellationToken cancellation = default) => Experiment.Run(config, device, progress, cancellation);

    private static Fp8AccumulationResult RunSeed(Fp8AccumulationConfig config, int seed, Device device, IProgress<ExperimentProgress>? progress, CancellationToken cancellation)
    {
        var format = Fp8FormatNames.Parse(config.Format, "Fp8AccumulationConfig.Format");
        var promoted = config.Accumulation;
        var plain = promoted with { PromotionInterval = null };
        var generator = new Generator((ulong)seed, device);
        var points = new List<AccumulationErrorPoint>();
        for (int i = 0; i < config.Ks.Count; i++)
        {
            cancellation.ThrowIfCancellationRequested();
            int k = config.Ks[i];
            progress?.Report(new ExperimentProgress($"K = {k}", i, config.Ks.Count));
            using var scope = NewDisposeScope();
            var (a, b) = Inputs(config.Rows, k, config.Columns, format, generator, device);
            var reference = Fp8Gemm.Reference(a, b);                                  // float64 [M, N]
            foreach (var (accumulation, promotion) in new[] { (plain, false), (promoted, true) })
            {
                var error = (Fp8Gemm.Matmul(a, b, accumulation).to_type(ScalarType.Float64) - reference).abs();
                points.Add(new AccumulationErrorPoint(k, promotion,
                    (error.max() / reference.abs().max()).item<double>(),
                    (error.mean() / reference.abs().mean()).item<double>()));
            }
        }
        progress?.Report(new ExperimentProgress("done", config.Ks.Count, config.Ks.Count));
        double? At(bool promotion) => points.FirstOrDefault(p => p.K == HeadlineK && p.Promotion == promotion)?.MaxRelativeError;
        var headline = At(false) is double none && At(true) is double with ? new PromotionPair(none, with) : null;
        return new Fp8AccumulationResult(format.Name, config.Rows, config.Columns, config.AccumulatorMantissaBits, config.PromotionInterval,
            config.ChunkSize, config.Rounding.ToString(), headline, points);
    }

    public static Experiment<Fp8AccumulationConfig, Fp8AccumulationResult> Experiment { get; } = new(
        Id,
        "FP8 GEMM accumulation precision",
        "Relative error of random E4M3 GEMMs by K with a 13-fraction-bit tensor-core accumulator, without and with FP32 promotion every 128 elements.",
        (config, seed, request) => RunSeed(config, seed, request.Device, request.Progress, request.Cancellation),
        (config, seeded) =>
        {
            var result = seeded.First;
            var summary = new List<string>
            {
                $"{result.Format} inputs, {result.Rows}×K·K×{result.Columns}, accumulator {result.AccumulatorMantissaBits} fraction bits ({result.Rounding}), chunks of {result.ChunkSize};",
                $"max relative error ‖ΔC‖max / ‖C‖max, without promotion and with promotion every {result.PromotionInterval}",
            };
            return new ExperimentOutput(config, config.Seeds, result, summary, [ResultTable.Of("errors", result.Points)],
                [new NamedChart("error-vs-k", "Relative error of an FP8 GEMM by K, with and without promotion", Fp8Charts.AccumulationError(result))]);
        });

    public static ExperimentDefinition Definition => Experiment.Definition;
}

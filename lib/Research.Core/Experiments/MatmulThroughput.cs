using System.Diagnostics;
using MathNet.Numerics.Statistics;
using Research.Platform;
using TorchSharp;
using static TorchSharp.torch;

namespace Research.Experiments;

/// <summary>Config of <c>matmul-throughput</c>: square float32 matmuls C = A·B of each size.</summary>
/// <param name="Sizes">Matrix sizes n (A, B and C are n×n).</param>
/// <param name="Repeats">Timed samples per size; the median is reported because it ignores one-off stalls.</param>
/// <param name="Warmup">Untimed samples first, so thread pools and caches are warm.</param>
public sealed record MatmulThroughputConfig(int[]? Sizes = null, int Repeats = 5, int Warmup = 1) : IExperimentConfig<MatmulThroughputConfig>
{
    // Null means the default sizes, held here so that `new MatmulThroughputConfig()` is the run data/configs describes.
    public int[] Sizes { get; init; } = Sizes ?? [64, 128, 256, 512, 1024, 2048];

    /// <summary>Shortest sample: small matmuls are repeated within one sample until it lasts this long,
    /// so the timer's resolution and per-call overhead do not dominate.</summary>
    public const double MinSampleSeconds = 0.01;

    /// <summary>Largest size accepted: 8192² float32 matrices already take 768 MB for A, B and C.</summary>
    public const int MaxSize = 8192;

    /// <summary>The seeds to run (JSON <c>seeds</c>); each is the root of every generator one run draws from.</summary>
    public IReadOnlyList<int> Seeds { get; init; } = [0];

    public MatmulThroughputConfig WithSeeds(IReadOnlyList<int> seeds) => this with { Seeds = seeds };

    public MatmulThroughputConfig Validated()
    {
        if (Sizes is null || Sizes.Length == 0)
            throw new ConfigException("MatmulThroughputConfig.Sizes must list at least one size (1..8192)");
        foreach (var n in Sizes)
            if (n < 1 || n > MaxSize)
                throw new ConfigException($"MatmulThroughputConfig.Sizes: {n} is outside the allowed range 1..{MaxSize}");
        if (Repeats < 1 || Repeats > 1000)
            throw new ConfigException($"MatmulThroughputConfig.Repeats must be in 1..1000 (got {Repeats})");
        if (Warmup < 0 || Warmup > 100)
            throw new ConfigException($"MatmulThroughputConfig.Warmup must be in 0..100 (got {Warmup})");
        ExperimentConfigs.CheckDistinct("MatmulThroughputConfig.Sizes", Sizes);
        return this;
    }
}

/// <summary>Throughput at one size. GFLOP/s counts 2n³ floating-point operations per n×n matmul.</summary>
public sealed record MatmulPoint(int Size, [property: Column("median_ms", Format = "F3")] double MedianMilliseconds,
    [property: Column("best_ms", Format = "F3")] double BestMilliseconds, [property: Column(Format = "F1")] double MedianGflops, [property: Column(Format = "F1")] double BestGflops);

/// <summary>Result of <c>matmul-throughput</c>.</summary>
public sealed record MatmulThroughputResult(string Device, int Threads, IReadOnlyList<MatmulPoint> Points);

/// <summary>Measures float32 matmul throughput by size on a device: the pipeline's first end-to-end experiment.</summary>
public static class MatmulThroughput
{
    public const string Id = "matmul-throughput";

    /// <summary>Every seed of <paramref name="config"/>, then the comparisons over them (see <see cref="Experiment"/>).</summary>
    public static SeededResult<MatmulThroughputResult> Run(MatmulThroughputConfig config, Device device, IProgress<ExperimentProgress>? progress = null,
        CancellationToken cancellation = default) => Experiment.Run(config, device, progress, cancellation);

    /// <summary>Runs every size of <paramref name="config"/> on <paramref name="device"/>.</summary>
    private static MatmulThroughputResult RunSeed(MatmulThroughputConfig config, int seed, Device device, IProgress<ExperimentProgress>? progress, CancellationToken cancellation)
    {
        var generator = new Generator((ulong)seed, device);
        var points = new List<MatmulPoint>();
        for (int i = 0; i < config.Sizes.Length; i++)
        {
            cancellation.ThrowIfCancellationRequested();
            int n = config.Sizes[i];
            progress?.Report(new ExperimentProgress($"matmul {n}×{n}", i, config.Sizes.Length));
            var seconds = TimeMatmul(n, config.Repeats, config.Warmup, device, generator);
            double flops = 2.0 * n * n * n;
            double median = seconds.Median(), best = seconds.Minimum();
            points.Add(new MatmulPoint(n, median * 1e3, best * 1e3, flops / median / 1e9, flops / best / 1e9));
        }
        progress?.Report(new ExperimentProgress("done", config.Sizes.Length, config.Sizes.Length));
        return new MatmulThroughputResult(device.ToString(), torch.get_num_threads(), points);
    }

    private static double[] TimeMatmul(int n, int repeats, int warmup, Device device, Generator generator)
    {
        using var scope = NewDisposeScope();
        var a = randn([n, n], generator: generator, device: device);
        var b = randn([n, n], generator: generator, device: device);
        double single = Sample(a, b, device, 1);
        int calls = (int)Math.Clamp(Math.Ceiling(MatmulThroughputConfig.MinSampleSeconds / Math.Max(single, 1e-9)), 1, 100_000);
        // Warm up with whole samples: thread pools and caches need milliseconds, not one tiny call.
        for (int w = 0; w < warmup; w++) Sample(a, b, device, calls);
        var seconds = new double[repeats];
        for (int r = 0; r < repeats; r++) seconds[r] = Sample(a, b, device, calls);
        return seconds;
    }

    // Seconds per matmul, averaged over `calls` back-to-back calls.
    private static double Sample(Tensor a, Tensor b, Device device, int calls)
    {
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < calls; i++) a.matmul(b).Dispose();   // C is freed at once, so memory stays flat
        Devices.Synchronize(device);
        return Stopwatch.GetElapsedTime(start).TotalSeconds / calls;
    }

    /// <summary>The experiment: default config from data/configs/matmul-throughput.json.</summary>
    public static Experiment<MatmulThroughputConfig, MatmulThroughputResult> Experiment { get; } = new(
        Id,
        "Matmul throughput",
        "GFLOP/s of square float32 matrix multiplication by size on the chosen device (median of repeated runs).",
        (config, seed, request) => RunSeed(config, seed, request.Device, request.Progress, request.Cancellation),
        (config, seeded) =>
        {
            var result = seeded.First;
            return new ExperimentOutput(config, config.Seeds, result, [$"device {result.Device}, {result.Threads} threads"], [ResultTable.Of("throughput", result.Points)],
                [new NamedChart("gflops-by-size", "Matmul GFLOP/s by matrix size", MatmulThroughputCharts.GflopsBySize(result))]);
        });

    public static ExperimentDefinition Definition => Experiment.Definition;
}

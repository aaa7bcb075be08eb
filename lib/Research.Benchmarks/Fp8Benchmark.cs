using System.Diagnostics;
using MathNet.Numerics.Statistics;
using Research.Experiments;
using Research.Fp8;
using Research.Platform;
using TorchSharp;
using static TorchSharp.torch;

namespace Research.Benchmarks;

/// <summary>Config of the FP8 benchmark: one seeded n×n float32 standard-normal tensor on the CPU.</summary>
/// <param name="Size">n; a multiple of <see cref="TileSize"/> so the tensor-op baseline can view whole tiles.</param>
/// <param name="Repetitions">Timed runs per operation; the median is reported because it ignores one-off stalls.</param>
/// <param name="Warmup">Untimed runs first, so thread pools, caches and the allocator are warm.</param>
/// <param name="TileSize">Columns per scaling tile (V3 §3.3.2: 1×128).</param>
public sealed record Fp8BenchmarkConfig(int Size = 4096, int Repetitions = 5, int Warmup = 1, int Seed = 0, int TileSize = 128)
{
    /// <summary>Largest n: 16384² float32 is 1 GiB per tensor, and the benchmark holds a few.</summary>
    public const int MaxSize = 16384;

    public Fp8BenchmarkConfig Validated()
    {
        if (TileSize < 1 || TileSize > MaxSize)
            throw new ConfigException($"Fp8BenchmarkConfig.TileSize must be in 1..{MaxSize} (got {TileSize})");
        if (Size < TileSize || Size > MaxSize || Size % TileSize != 0)
            throw new ConfigException($"Fp8BenchmarkConfig.Size must be a multiple of the tile size {TileSize} in {TileSize}..{MaxSize} (got {Size})");
        if (Repetitions < 1 || Repetitions > 1000)
            throw new ConfigException($"Fp8BenchmarkConfig.Repetitions must be in 1..1000 (got {Repetitions})");
        if (Warmup < 0 || Warmup > 100)
            throw new ConfigException($"Fp8BenchmarkConfig.Warmup must be in 0..100 (got {Warmup})");
        return this;
    }
}

/// <summary>Median milliseconds per operation on the same tensor x (see <see cref="Fp8Benchmark.Definitions"/>).</summary>
public sealed record Fp8Timings(
    double FusedFakeQuant, double LibtorchRoundTrip, double LibtorchScaledRoundTrip, double TensorOpFakeQuant,
    double FusedRound, double FusedFakeQuantPreallocated, double FusedRoundPreallocated, double CopyInPlace, double FreshClone);

/// <summary>
/// Result of <see cref="Fp8Benchmark.Run"/>. <see cref="Ratio"/> = fused FakeQuant / libtorch round trip (the issue's
/// goal: ≤ 1), <see cref="RoundRatio"/> = fused Round / libtorch round trip, <see cref="ScaledRatio"/> = fused FakeQuant
/// / the same scaling done with tensor ops around libtorch's cast.
/// </summary>
/// <param name="BitIdentical">The fused FakeQuant equals the scaled libtorch round trip bit for bit on this tensor.</param>
/// <param name="WorkingSetGrowthMegabytes">Working-set change over the timed runs (after each operation's warm-up), summed
/// over the operations: near 0 when nothing leaks, while a leak grows it by about one tensor per run. glibc and
/// libtorch keep some freed memory for reuse, so tens of MB are allocator retention, not a leak.</param>
/// <param name="TensorsLeftAlive">TorchSharp tensors alive after the timed runs that were not before them: 0.</param>
public sealed record Fp8BenchmarkResult(
    double Ratio, double RoundRatio, double ScaledRatio, Fp8Timings Milliseconds, string Tensor, int Threads, int TorchThreads,
    int Repetitions, int Warmup, int TileSize, bool BitIdentical, double WorkingSetGrowthMegabytes, long TensorsLeftAlive,
    IReadOnlyDictionary<string, string> Definitions);

/// <summary>
/// Times the fused E4M3 kernels (<see cref="Fp8FusedKernels"/>) against libtorch's float8 cast and against the memory
/// floor (a copy into a preallocated tensor) on one large tensor. Callable from notebooks; <c>research bench fp8</c>
/// prints it.
/// </summary>
public static class Fp8Benchmark
{
    /// <summary>What each timing in <see cref="Fp8Timings"/> measures; printed with the results.</summary>
    public static IReadOnlyDictionary<string, string> Definitions { get; } = new Dictionary<string, string>
    {
        ["fusedFakeQuant"] = "Fp8FusedKernels.FakeQuantTilesE4M3(x): per 1xT tile s = amax/448, RoundE4M3(x/s)*s, into a new tensor",
        ["libtorchRoundTrip"] = "x.to(float8_e4m3fn).to(float32), no scaling: the baseline of ratio and roundRatio",
        ["libtorchScaledRoundTrip"] = "per-tile amax/448 with tensor ops, then (x/s).to(float8_e4m3fn).to(float32)*s: the same values as fusedFakeQuant",
        ["tensorOpFakeQuant"] = "Fp8Scaling.FakeQuant(x, E4M3, 1xT tiles): the kit's device-independent tensor-op path",
        ["fusedRound"] = "Fp8FusedKernels.RoundE4M3(x): rounding alone, no scaling, into a new tensor",
        ["fusedFakeQuantPreallocated"] = "Fp8FusedKernels.FakeQuantTilesE4M3(x, dst): as fusedFakeQuant, into a preallocated tensor",
        ["fusedRoundPreallocated"] = "Fp8FusedKernels.RoundE4M3(x, dst): as fusedRound, into a preallocated tensor",
        ["copyInPlace"] = "dst.copy_(x) into a preallocated tensor: the memory-bandwidth floor (read x, write n*n floats)",
        ["freshClone"] = "x.clone(): a copy into a freshly allocated tensor (adds allocation and first-touch page faults)",
    };

    public static Fp8BenchmarkResult Run(Fp8BenchmarkConfig config, IProgress<ExperimentProgress>? progress = null,
        CancellationToken cancellation = default)
    {
        config.Validated();
        TorchRuntime.EnsureLoaded();
        int n = config.Size, tile = config.TileSize;
        using var scope = NewDisposeScope();
        var x = randn([n, n], generator: new Generator((ulong)config.Seed));
        var destination = empty_like(x);
        var scaling = new ScalingConfig(Granularity.Tile, tile);

        var bitIdentical = SameBits(Fp8FusedKernels.FakeQuantTilesE4M3(x, tile), ScaledLibtorchRoundTrip(x, tile));

        var operations = new (string Name, Func<Tensor> Run)[]
        {
            ("fused FakeQuant", () => Fp8FusedKernels.FakeQuantTilesE4M3(x, tile)),
            ("libtorch round trip", () => x.to_type(Doctor.Float8E4M3FN).to_type(ScalarType.Float32)),
            ("libtorch scaled round trip", () => ScaledLibtorchRoundTrip(x, tile)),
            ("tensor-op FakeQuant", () => Fp8Scaling.FakeQuant(x, Fp8Format.E4M3, scaling)),
            ("fused Round", () => Fp8FusedKernels.RoundE4M3(x)),
            ("fused FakeQuant, preallocated", () => Fp8FusedKernels.FakeQuantTilesE4M3(x, destination, tile)),
            ("fused Round, preallocated", () => Fp8FusedKernels.RoundE4M3(x, destination)),
            ("in-place copy", () => destination.copy_(x)),
            ("fresh clone", () => x.clone()),
        };
        var ms = new double[operations.Length];
        double growth = 0;
        long leftAlive = 0;
        for (int i = 0; i < operations.Length; i++)
        {
            cancellation.ThrowIfCancellationRequested();
            progress?.Report(new ExperimentProgress(operations[i].Name, i, operations.Length));
            (ms[i], double grew, long alive) = MedianMilliseconds(operations[i].Run, config.Warmup, config.Repetitions);
            growth += grew;
            leftAlive += Math.Max(0, alive);
        }
        progress?.Report(new ExperimentProgress("done", operations.Length, operations.Length));

        var timings = new Fp8Timings(ms[0], ms[1], ms[2], ms[3], ms[4], ms[5], ms[6], ms[7], ms[8]);
        return new Fp8BenchmarkResult(
            Ratio: timings.FusedFakeQuant / timings.LibtorchRoundTrip,
            RoundRatio: timings.FusedRound / timings.LibtorchRoundTrip,
            ScaledRatio: timings.FusedFakeQuant / timings.LibtorchScaledRoundTrip,
            timings, $"{n}x{n} float32", Environment.ProcessorCount, torch.get_num_threads(),
            config.Repetitions, config.Warmup, tile, bitIdentical, Math.Round(growth, 1), leftAlive, Definitions);
    }

    // Every run in its own dispose scope: the result and temporaries are freed before the next, so memory stays flat.
    // Also returns the working-set change over the timed runs (after warm-up, when the allocators hold what they keep)
    // and how many more tensors are alive after them (finalizers of unrelated tensors can only lower the count).
    private static (double Median, double GrowthMegabytes, long TensorsLeftAlive) MedianMilliseconds(Func<Tensor> operation, int warmup, int repetitions)
    {
        for (int w = 0; w < warmup; w++)
        {
            using var scope = NewDisposeScope();
            operation();
        }
        long before = Environment.WorkingSet, tensorsBefore = Tensor.TotalCount;
        var samples = new double[repetitions];
        for (int r = 0; r < repetitions; r++)
        {
            using var scope = NewDisposeScope();
            long start = Stopwatch.GetTimestamp();
            operation();
            samples[r] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }
        return (samples.Median(), (Environment.WorkingSet - before) / 1e6, Tensor.TotalCount - tensorsBefore);
    }

    // The fused kernel's maths with tensor ops around libtorch's cast; [n, n] viewed as [n, n/T, T] whole tiles.
    private static Tensor ScaledLibtorchRoundTrip(Tensor x, int tile)
    {
        long rows = x.shape[0], cols = x.shape[1];
        var tiles = x.reshape(rows, cols / tile, tile);
        var amax = tiles.abs().amax([2], keepdim: true);                                   // [R, C/T, 1]
        var s = where(amax > 0, amax / Fp8FusedKernels.E4M3Max, ones_like(amax));         // V3 §3.3.2: s = amax / 448
        return ((tiles / s).to_type(Doctor.Float8E4M3FN).to_type(ScalarType.Float32) * s).reshape(rows, cols);
    }

    // Byte for byte, so -0 differs from +0: both are contiguous float32 CPU tensors of one shape.
    private static bool SameBits(Tensor a, Tensor b) => a.bytes.SequenceEqual(b.contiguous().bytes);
}

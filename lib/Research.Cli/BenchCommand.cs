using System.CommandLine;
using System.Text.Json;
using Research.Benchmarks;
using Research.Experiments;

namespace Research.Cli;

/// <summary><c>research bench &lt;name&gt; [--size N] [--repetitions N] [--json]</c>.</summary>
public static class BenchCommand
{
    /// <summary>The benchmarks <c>bench</c> knows.</summary>
    public static IReadOnlyList<string> Names { get; } = ["fp8"];

    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var defaults = new Fp8BenchmarkConfig();
        var name = new Argument<string>("name") { Description = $"Benchmark: {string.Join(", ", Names)}." };
        var size = new Option<int>("--size") { Description = $"n of the n×n float32 tensor (a multiple of {defaults.TileSize}).", DefaultValueFactory = _ => defaults.Size };
        var repetitions = new Option<int>("--repetitions") { Description = "Timed runs per operation (the median is reported).", DefaultValueFactory = _ => defaults.Repetitions };
        var json = new Option<bool>("--json") { Description = "Print the result as JSON on stdout (progress goes to stderr)." };
        var command = new Command("bench", "Time a kernel against its libtorch baseline and the memory-bandwidth floor.") { name, size, repetitions, json };
        command.SetAction(parse =>
        {
            var benchmark = parse.GetValue(name)!;
            if (!Names.Contains(benchmark))
                throw new ArgumentException($"unknown benchmark '{benchmark}'; allowed: {string.Join(", ", Names)}");
            var config = (defaults with { Size = parse.GetValue(size), Repetitions = parse.GetValue(repetitions) }).Validated();
            var result = ProgressDisplay.Run("bench fp8", stderr, progress => Fp8Benchmark.Run(config, progress));
            if (parse.GetValue(json)) stdout.WriteLine(JsonSerializer.Serialize(result, ExperimentConfigs.Json));
            else Print(result, stdout);
            // A fast kernel that gives other values than libtorch is a failed check, not a result.
            return result.BitIdentical ? ExitCodes.Ok : ExitCodes.Failed;
        });
        return command;
    }

    private static void Print(Fp8BenchmarkResult r, TextWriter o)
    {
        var t = r.Milliseconds;
        o.WriteLine($"FP8 E4M3 benchmark: {r.Tensor}, 1x{r.TileSize} tiles, median of {r.Repetitions} runs after {r.Warmup} warm-up;"
            + $" {r.Threads} .NET / {r.TorchThreads} libtorch threads");
        o.WriteLine($"{"operation",-28} {"ms",9} {"/ round trip",13}");
        foreach (var (key, ms) in new[]
        {
            ("fusedFakeQuant", t.FusedFakeQuant), ("libtorchRoundTrip", t.LibtorchRoundTrip),
            ("libtorchScaledRoundTrip", t.LibtorchScaledRoundTrip), ("tensorOpFakeQuant", t.TensorOpFakeQuant),
            ("fusedRound", t.FusedRound), ("fusedFakeQuantPreallocated", t.FusedFakeQuantPreallocated),
            ("fusedRoundPreallocated", t.FusedRoundPreallocated), ("copyInPlace", t.CopyInPlace), ("freshClone", t.FreshClone),
        })
            o.WriteLine($"{key,-28} {ms,9:F2} {ms / t.LibtorchRoundTrip,13:F3}");
        o.WriteLine($"ratio {r.Ratio:F3} (fused FakeQuant / libtorch round trip), roundRatio {r.RoundRatio:F3}, scaledRatio {r.ScaledRatio:F3}");
        o.WriteLine($"fused FakeQuant bit-identical to the scaled libtorch round trip: {(r.BitIdentical ? "yes" : "NO")};"
            + $" over the timed runs: working set {r.WorkingSetGrowthMegabytes:+0.0;-0.0} MB, {r.TensorsLeftAlive} tensors left alive");
        o.WriteLine("where");
        foreach (var (key, definition) in r.Definitions) o.WriteLine($"  {key,-26} {definition}");
    }
}

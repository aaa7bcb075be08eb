using System.CommandLine;
using System.Text.Json;
using Research.Benchmarks;
using Research.Experiments;
using Research.Platform;

namespace Research.Cli;

/// <summary><c>research bench fp8|lm|moe|mla|grpo|mtp|v3-mini [options] [--json]</c>: each benchmark a subcommand with its
/// own options. A benchmark whose fast path changes the results exits 1: that is a failed check, not a result.</summary>
public static class BenchCommand
{
    /// <summary>One line of the fp8 table: an operation's median time and what it measures.</summary>
    public sealed record Fp8Timing(string Operation, [property: Column(Format = "F2")] double Ms,
        [property: Column("per_round_trip", Format = "F3")] double RatioToRoundTrip, string Measures);

    // What a benchmark prints without --json: sentences, then tables.
    private sealed record Report(IReadOnlyList<string> Lines, params IReadOnlyList<ResultTable> Tables);

    public static Command Create(TextWriter stdout, TextWriter stderr) => new("bench", "Time a technique's fast path against its reference on this machine.")
    {
        Fp8(stdout, stderr), Lm(stdout, stderr), Moe(stdout, stderr), Mla(stdout, stderr), Grpo(stdout, stderr), Mtp(stdout, stderr), V3Mini(stdout, stderr),
    };

    private static Command Fp8(TextWriter stdout, TextWriter stderr)
    {
        var defaults = new Fp8BenchmarkConfig();
        var size = new Option<int>("--size") { Description = $"n of the n×n float32 tensor (a multiple of {defaults.TileSize}).", DefaultValueFactory = _ => defaults.Size };
        var repetitions = Repetitions(defaults.Repetitions);
        return Bench<Fp8BenchmarkResult>("fp8", "The fused FP8 kernels against libtorch and the memory-bandwidth floor.", [size, repetitions], (parse, _) =>
        {
            var config = (defaults with { Size = parse.GetValue(size), Repetitions = parse.GetValue(repetitions) }).Validated();
            return progress => Fp8Benchmark.Run(config, progress);
        }, r => new Report(
        [
            $"FP8 E4M3 benchmark: {r.Tensor}, 1x{r.TileSize} tiles, median of {r.Repetitions} runs after {r.Warmup} warm-up; {r.Threads} .NET / {r.TorchThreads} libtorch threads",
            $"ratio {r.Ratio:F3} (fused FakeQuant / libtorch round trip), roundRatio {r.RoundRatio:F3}, scaledRatio {r.ScaledRatio:F3}",
            $"fused FakeQuant bit-identical to the scaled libtorch round trip: {(r.BitIdentical ? "yes" : "NO")}; over the timed runs: " +
            $"working set {r.WorkingSetGrowthMegabytes:+0.0;-0.0} MB, {r.TensorsLeftAlive} tensors left alive",
        ], ResultTable.Of("timings", Timings(r))), r => r.BitIdentical, stdout, stderr, onDevice: false);   // the fused kernels are CPU code
    }

    // The timings record's JSON names are the definitions' keys.
    private static IEnumerable<Fp8Timing> Timings(Fp8BenchmarkResult r)
    {
        var ms = JsonSerializer.SerializeToElement(r.Milliseconds, ExperimentConfigs.Json);
        return r.Definitions.Select(d => new Fp8Timing(d.Key, ms.GetProperty(d.Key).GetDouble(), ms.GetProperty(d.Key).GetDouble() / r.Milliseconds.LibtorchRoundTrip, d.Value));
    }

    private static Command Lm(TextWriter stdout, TextWriter stderr)
    {
        var defaults = new LmBenchmarkConfig();
        var steps = new Option<int>("--steps") { Description = "Training steps (memory is compared between step 100 and the last).", DefaultValueFactory = _ => defaults.Steps };
        var model = new Option<string>("--model") { Description = $"Which model of the distill experiment to train: {string.Join(", ", LmBenchmarkConfig.Models)}.", DefaultValueFactory = _ => defaults.Model };
        return Bench<LmBenchmarkResult>("lm", "Training tokens per second and memory of the tiny LM.", [steps, model], (parse, dev) =>
        {
            int n = parse.GetValue(steps);
            var config = (defaults with { Steps = n, Model = parse.GetValue(model)!, EarlyStep = Math.Min(100, Math.Max(1, n / 10)) }).Validated();
            return progress => LmBenchmark.Run(config, dev, progress);
        }, r => new Report(
        [
            $"tiny LM ({r.Model} of distill, {r.Parameters:N0} parameters), batch {r.BatchSize} × {r.SequenceLength} tokens, {r.Steps} steps on {r.Device}, {r.TorchThreads} libtorch threads",
            $"training: {r.TokensPerSecond:N0} tokens/s ({r.MillisecondsPerStep:F1} ms per step), final loss {r.FinalLoss:F4}",
            $"memory: step {r.Early.Step} {r.Early.WorkingSetMegabytes:F1} MB ({r.Early.LiveTensors} live tensors), " +
            $"step {r.Last.Step} {r.Last.WorkingSetMegabytes:F1} MB ({r.Last.LiveTensors} live tensors): {r.MemoryGrowthMegabytes:+0.0;-0.0} MB",
        ]), _ => true, stdout, stderr);
    }

    private static Command Moe(TextWriter stdout, TextWriter stderr)
    {
        var defaults = new MoeBenchmarkConfig();
        var tokens = new Option<int>("--tokens") { Description = "Tokens per forward+backward.", DefaultValueFactory = _ => defaults.Tokens };
        var repetitions = Repetitions(defaults.Repetitions);
        return Bench<MoeBenchmarkResult>("moe", "Forward+backward of an MoE layer against a dense SwiGLU with the same active parameters.", [tokens, repetitions], (parse, dev) =>
        {
            var config = defaults with { Tokens = parse.GetValue(tokens), Repetitions = parse.GetValue(repetitions) };
            config = (config with { NaiveTokens = Math.Min(config.NaiveTokens, config.Tokens) }).Validated();
            return progress => MoeBenchmark.Run(config, dev, progress);
        }, r => new Report(
        [
            $"MoE layer: {r.Tokens} tokens × d {r.Dim}, {r.SharedExperts} shared + {r.Experts} routed experts of width {r.ExpertHidden}, top-{r.TopK}; " +
            $"dense SwiGLU of width {r.DenseHidden} (same active parameters, {r.ActiveFlopsPerToken:N0} flops per token); median of {r.Repetitions}, {r.TorchThreads} libtorch threads on {r.Device}",
            $"forward+backward: MoE {r.MoeMilliseconds:F1} ms, dense {r.DenseMilliseconds:F1} ms: ratio {r.Ratio:F2} (goal ≤ {MoeBenchmarkResult.Goal}: {(r.GoalMet ? "met" : "missed")})",
            $"expert GEMMs on each expert's own rows: padding every expert to the largest load for one bmm would add {r.PaddedFlopsOverhead:P0} expert FLOPs on this batch",
            $"token-by-token reference: {r.NaiveRatio:F0}× the sorted dispatch ({r.NaiveMillisecondsPerToken:F2} ms per token); " +
            $"max |sorted − naive| {r.MaxAbsDifference:E1} ({(r.Agrees ? "agree" : "DISAGREE")})",
        ]), r => r.Agrees, stdout, stderr);
    }

    private static Command Mla(TextWriter stdout, TextWriter stderr)
    {
        var defaults = new MlaBenchmarkConfig();
        var contexts = new Option<string>("--contexts") { Description = "Comma-separated context lengths.", DefaultValueFactory = _ => string.Join(",", defaults.Contexts) };
        var batches = new Option<string>("--batches") { Description = "Comma-separated batch sizes.", DefaultValueFactory = _ => string.Join(",", defaults.Batches) };
        var repetitions = Repetitions(defaults.Repetitions);
        return Bench<MlaBenchmarkResult>("mla", "One decode step of MHA, GQA and MLA (naive and absorbed) over a filled KV cache, by context and batch.", [contexts, batches, repetitions], (parse, dev) =>
        {
            var config = (defaults with
            {
                Contexts = Lengths(parse.GetValue(contexts)!, "--contexts"), Batches = Lengths(parse.GetValue(batches)!, "--batches"), Repetitions = parse.GetValue(repetitions),
            }).Validated();
            return progress => MlaBenchmark.Run(config, dev, progress);
        }, r => new Report(
        [
            $"one attention layer, d {r.Dim}, {r.Heads} heads of {r.HeadDim}; GQA with {r.GqaKvHeads} key/value heads; " +
            $"MLA with d_c {r.KvLatentDim}, d_h^R {r.RopeHeadDim}, {(r.QueryLatentDim == 0 ? "no query compression" : $"d'_c {r.QueryLatentDim}")}; " +
            $"one decode step over a cache of context − 1 tokens, median of {r.Repetitions} after {r.Warmup} warm-up, {r.TorchThreads} libtorch threads on {r.Device}; ratio is over MHA",
            $"ratio {r.Ratio:F2} (absorbed MLA / MHA at context {r.HeadlineContext}, batch {r.HeadlineBatch}; goal ≤ {MlaBenchmarkResult.Goal}) " +
            $"with a cache {r.CacheRatio:F1}× smaller (goal ≥ {MlaBenchmarkResult.CacheGoal}): {(r.GoalMet ? "met" : "missed")}",
            $"max |naive − absorbed| {r.MaxAbsDifference:E1} ({(r.Agrees ? "agree" : "DISAGREE")})",
        ], ResultTable.Of("decode steps", r.Cells)), r => r.Agrees, stdout, stderr);
    }

    private static Command Grpo(TextWriter stdout, TextWriter stderr)
    {
        var defaults = new GrpoBenchmarkConfig();
        var repetitions = Repetitions(defaults.Repetitions);
        return Bench<GrpoBenchmarkResult>("grpo", "One GRPO step of r1-zero's small model split into sampling and update, and the sampler with its KV cache against re-running the prefix.",
            [repetitions], (parse, dev) =>
        {
            var config = (defaults with { Repetitions = parse.GetValue(repetitions) }).Validated();
            return progress => GrpoBenchmark.Run(config, dev, progress);
        }, r => new Report(
        [
            $"one GRPO step of r1-zero's small model ({r.Parameters:N0} parameters): G = {r.GroupSize} responses for {r.Prompts} prompts, " +
            $"μ = {r.PolicyUpdates}; median of {r.Repetitions}, {r.TorchThreads} libtorch threads on {r.Device}",
            $"sampling {r.SampleMilliseconds:F1} ms ({r.SampledTokens:N0} tokens), scoring + updates {r.UpdateMilliseconds:F1} ms",
            $"sampler: {r.CachedTokensPerSecond:N0} tokens/s with the KV cache, {r.UncachedTokensPerSecond:N0} re-running the prefix: " +
            $"ratio {r.Ratio:F2} (cached / uncached time per token); same tokens: {(r.Identical ? "yes" : "NO")}",
        ]), r => r.Identical, stdout, stderr);
    }

    private static Command Mtp(TextWriter stdout, TextWriter stderr)
    {
        var defaults = new MtpBenchmarkConfig();
        var layers = new Option<int>("--layers") { Description = "Main-model layers.", DefaultValueFactory = _ => defaults.Layers };
        var steps = new Option<int>("--steps") { Description = "Training steps on the corpus.", DefaultValueFactory = _ => defaults.Steps };
        var depth = new Option<int>("--depth") { Description = "MTP depths D trained.", DefaultValueFactory = _ => defaults.Depth };
        var draftDepth = new Option<int>("--draft-depth") { Description = "Depths chained into each draft (at most D).", DefaultValueFactory = _ => defaults.DraftDepth };
        var repetitions = Repetitions(defaults.Repetitions);
        return Bench<MtpBenchmarkResult>("mtp", "Self-speculative decoding with MTP drafts against plain cached greedy decoding on a model trained with MTP.",
            [layers, steps, depth, draftDepth, repetitions], (parse, dev) =>
        {
            var config = (defaults with
            {
                Layers = parse.GetValue(layers), Steps = parse.GetValue(steps), Depth = parse.GetValue(depth), DraftDepth = parse.GetValue(draftDepth),
                Repetitions = parse.GetValue(repetitions),
            }).Validated();
            return progress => MtpBenchmark.Run(config, dev, progress);
        }, r => new Report(
        [
            $"tiny LM on the four-domain corpus, {r.Layers} layers, d {r.Dim} ({r.Parameters:N0} parameters + {r.MtpParameters:N0} in D = {r.Depth} MTP depths), " +
            $"{r.Steps} training steps, validation loss {r.ValidationLoss:F4}; {r.Prompts} prompts × {r.TokensPerPrompt} tokens, batch 1, " +
            $"median of {r.Repetitions} passes, {r.TorchThreads} libtorch thread on {r.Device}",
            $"drafts of {r.DraftDepth} depth{(r.DraftDepth == 1 ? "" : "s")}: {r.AcceptanceRate:P1} accepted, {r.TokensPerForward:F2} tokens per main-model forward",
            $"plain cached greedy {r.PlainTokensPerSecond:N0} tokens/s, self-speculative {r.SpeculativeTokensPerSecond:N0} tokens/s: " +
            $"ratio {r.Ratio:F2} (goal ≥ {r.Goal}: {(r.GoalMet ? "met" : "missed")}; the parts of one step predict {r.PredictedRatio:F2}); same tokens: {(r.Identical ? "yes" : "NO")}",
        ]), r => r.Identical, stdout, stderr);
    }

    private static Command V3Mini(TextWriter stdout, TextWriter stderr)
    {
        var defaults = new V3MiniBenchmarkConfig();
        var repetitions = Repetitions(defaults.Repetitions);
        return Bench<V3MiniBenchmarkResult>("v3-mini", "One training step of the v3-mini full model against its dense-FFN, MHA and FP32 ablations and the FP32-dense-MHA baseline.",
            [repetitions], (parse, dev) =>
        {
            var config = (defaults with { Repetitions = parse.GetValue(repetitions) }).Validated();
            return progress => V3MiniBenchmark.Run(config, dev, progress);
        }, r => new Report(
        [
            $"one training step (forward, backward, AdamW, bias update) of v3-mini's models, batch {r.BatchSize} × {r.SequenceLength} tokens, " +
            $"median of {r.Repetitions} interleaved steps, {r.TorchThreads} libtorch threads on {r.Device}",
            $"ratio {r.Ratio:F2} (full / {V3MiniBenchmarkConfig.Baseline} step time); losses finite: {(r.AllFinite ? "yes" : "NO")}",
            $"FP8 ratio {r.Fp8Ratio:F2} (full / fp32: the simulated FP8 GEMMs; goal ≤ {V3MiniBenchmarkResult.Fp8Goal}: {(r.Fp8GoalMet ? "met" : "missed")})",
        ], ResultTable.Of("variants", r.Variants)), r => r.AllFinite, stdout, stderr);   // a diverging step is a failed check
    }

    /// <summary>A <c>bench</c> subcommand: <paramref name="prepare"/> reads and checks the options before any work and
    /// returns the run; the result goes out as JSON or as <paramref name="report"/>; <paramref name="passed"/> is the self-check.</summary>
    private static Command Bench<T>(string name, string description, Option[] options, Func<ParseResult, TorchSharp.torch.Device, Func<IProgress<ExperimentProgress>, T>> prepare,
        Func<T, Report> report, Func<T, bool> passed, TextWriter stdout, TextWriter stderr, bool onDevice = true)
    {
        var json = new Option<bool>("--json") { Description = "Print the result as JSON on stdout (progress goes to stderr)." };
        var device = new Option<string>("--device") { Description = $"Device: {Devices.Allowed}.", DefaultValueFactory = _ => "cpu" };
        var command = new Command(name, description);
        foreach (var option in onDevice ? [.. options, device, json] : options.Append(json)) command.Options.Add(option);
        command.SetAction(parse =>
        {
            var run = prepare(parse, Devices.Parse(onDevice ? parse.GetValue(device)! : "cpu"));
            var r = ProgressDisplay.Run("bench " + name, stderr, run);
            if (parse.GetValue(json)) stdout.WriteLine(JsonSerializer.Serialize(r, ExperimentConfigs.Json));
            else
            {
                var (lines, tables) = report(r);
                foreach (var line in lines) stdout.WriteLine(line);
                ConsoleTables.Write(stdout, tables);
            }
            return passed(r) ? ExitCodes.Ok : ExitCodes.Failed;
        });
        return command;
    }

    private static Option<int> Repetitions(int fallback) =>
        new("--repetitions") { Description = "Timed runs per operation (the median is reported).", DefaultValueFactory = _ => fallback };

    private static int[] Lengths(string text, string option)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        return parts.All(p => int.TryParse(p, out _)) ? [.. parts.Select(int.Parse)]
            : throw new ArgumentException($"{option} must be comma-separated whole numbers such as 512,2048 (got '{text}')");
    }
}

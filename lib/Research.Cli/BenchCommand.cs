using System.CommandLine;
using System.Text.Json;
using Research.Benchmarks;
using Research.Experiments;

namespace Research.Cli;

/// <summary><c>research bench fp8 [--size N] [--repetitions N] [--json]</c>, <c>research bench lm [--steps N] [--model M] [--device D] [--json]</c>
/// <c>research bench moe [--tokens N] [--repetitions N] [--device D] [--json]</c> and
/// <c>research bench mla [--contexts L,…] [--batches B,…] [--repetitions N] [--device D] [--json]</c> and
/// <c>research bench grpo [--repetitions N] [--device D] [--json]</c> and
/// <c>research bench mtp [--layers N] [--steps N] [--depth D] [--draft-depth K] [--repetitions N] [--device D] [--json]</c> and
/// <c>research bench v3-mini [--repetitions N] [--device D] [--json]</c>.</summary>
public static class BenchCommand
{
    /// <summary>The benchmarks <c>bench</c> knows.</summary>
    public static IReadOnlyList<string> Names { get; } = ["fp8", "lm", "moe", "mla", "grpo", "mtp", "v3-mini"];

    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var defaults = new Fp8BenchmarkConfig();
        var name = new Argument<string>("name") { Description = $"Benchmark: {string.Join(", ", Names)}." };
        var size = new Option<int>("--size") { Description = $"n of the n×n float32 tensor (a multiple of {defaults.TileSize}).", DefaultValueFactory = _ => defaults.Size };
        var repetitions = new Option<int>("--repetitions") { Description = "Timed runs per operation (the median is reported).", DefaultValueFactory = _ => defaults.Repetitions };
        var lmDefaults = new LmBenchmarkConfig();
        var steps = new Option<int>("--steps") { Description = "lm: training steps (memory is compared between step 100 and the last); mtp: corpus training steps.", DefaultValueFactory = _ => lmDefaults.Steps };
        var model = new Option<string>("--model") { Description = $"lm: which model of the distill experiment to train: {string.Join(", ", LmBenchmarkConfig.Models)}.", DefaultValueFactory = _ => lmDefaults.Model };
        var device = new Option<string>("--device") { Description = "lm, moe, mla, grpo, mtp, v3-mini: cpu, cuda or cuda:N.", DefaultValueFactory = _ => "cpu" };
        var moeDefaults = new MoeBenchmarkConfig();
        var tokens = new Option<int>("--tokens") { Description = "moe: tokens per forward+backward.", DefaultValueFactory = _ => moeDefaults.Tokens };
        var mlaDefaults = new MlaBenchmarkConfig();
        var contexts = new Option<string>("--contexts") { Description = "mla: comma-separated context lengths.", DefaultValueFactory = _ => string.Join(",", mlaDefaults.Contexts) };
        var batches = new Option<string>("--batches") { Description = "mla: comma-separated batch sizes.", DefaultValueFactory = _ => string.Join(",", mlaDefaults.Batches) };
        var mtpDefaults = new MtpBenchmarkConfig();
        var layers = new Option<int>("--layers") { Description = "mtp: main-model layers.", DefaultValueFactory = _ => mtpDefaults.Layers };
        var depth = new Option<int>("--depth") { Description = "mtp: MTP depths D trained.", DefaultValueFactory = _ => mtpDefaults.Depth };
        var draftDepth = new Option<int>("--draft-depth") { Description = "mtp: depths chained into each draft (at most D).", DefaultValueFactory = _ => mtpDefaults.DraftDepth };
        var json = new Option<bool>("--json") { Description = "Print the result as JSON on stdout (progress goes to stderr)." };
        var command = new Command("bench", "fp8: time the fused FP8 kernels against libtorch and the memory-bandwidth floor. " +
            "lm: training tokens per second and memory of the tiny LM. " +
            "moe: forward+backward of an MoE layer against a dense SwiGLU with the same active parameters. " +
            "grpo: one GRPO step of r1-zero's small model split into sampling and update, and the sampler with its KV cache against re-running the prefix. " +
            "mla: one decode step of MHA, GQA and MLA (naive and absorbed) over a filled KV cache, by context and batch. " +
            "mtp: self-speculative decoding with MTP drafts against plain cached greedy decoding on a model trained with MTP. " +
            "v3-mini: one training step of the v3-mini full model against its dense-FFN, MHA and FP32 ablations and the FP32-dense-MHA baseline.")
            { name, size, repetitions, steps, model, device, tokens, contexts, batches, layers, depth, draftDepth, json };
        command.SetAction(parse =>
        {
            var benchmark = parse.GetValue(name)!;
            if (!Names.Contains(benchmark))
                throw new ArgumentException($"unknown benchmark '{benchmark}'; allowed: {string.Join(", ", Names)}");
            // An option of the other benchmark is a mistake worth reporting, not something to ignore silently.
            Option[] mtpOnly = [layers, depth, draftDepth];
            Option[] others = benchmark switch
            {
                "fp8" => [steps, model, device, tokens, contexts, batches, .. mtpOnly],
                "lm" => [size, repetitions, tokens, contexts, batches, .. mtpOnly],
                "moe" => [size, steps, model, contexts, batches, .. mtpOnly],
                "grpo" => [size, steps, model, tokens, contexts, batches, .. mtpOnly],
                "mtp" => [size, model, tokens, contexts, batches],
                "v3-mini" => [size, steps, model, tokens, contexts, batches, .. mtpOnly],
                _ => [size, steps, model, tokens, .. mtpOnly],
            };
            var foreign = others.FirstOrDefault(o => parse.GetResult(o) is { Implicit: false });
            if (foreign is not null)
                throw new ArgumentException($"{foreign.Name} does not apply to 'bench {benchmark}'");
            if (benchmark == "lm") return RunLm(parse.GetValue(steps), parse.GetValue(model)!, parse.GetValue(device)!, parse.GetValue(json), stdout, stderr);
            if (benchmark == "moe")
            {
                var moe = moeDefaults with { Tokens = parse.GetValue(tokens) };
                if (parse.GetResult(repetitions) is { Implicit: false }) moe = moe with { Repetitions = parse.GetValue(repetitions) };
                if (moe.NaiveTokens > moe.Tokens) moe = moe with { NaiveTokens = moe.Tokens };
                return RunMoe(moe.Validated(), parse.GetValue(device)!, parse.GetValue(json), stdout, stderr);
            }
            if (benchmark == "grpo")
            {
                var grpo = new GrpoBenchmarkConfig();
                if (parse.GetResult(repetitions) is { Implicit: false }) grpo = grpo with { Repetitions = parse.GetValue(repetitions) };
                return RunGrpo(grpo.Validated(), parse.GetValue(device)!, parse.GetValue(json), stdout, stderr);
            }
            if (benchmark == "mtp")
            {
                var mtp = mtpDefaults with { Layers = parse.GetValue(layers), Depth = parse.GetValue(depth), DraftDepth = parse.GetValue(draftDepth) };
                if (parse.GetResult(steps) is { Implicit: false }) mtp = mtp with { Steps = parse.GetValue(steps) };
                if (parse.GetResult(repetitions) is { Implicit: false }) mtp = mtp with { Repetitions = parse.GetValue(repetitions) };
                return RunMtp(mtp.Validated(), parse.GetValue(device)!, parse.GetValue(json), stdout, stderr);
            }
            if (benchmark == "v3-mini")
            {
                var mini = new V3MiniBenchmarkConfig();
                if (parse.GetResult(repetitions) is { Implicit: false }) mini = mini with { Repetitions = parse.GetValue(repetitions) };
                return Report("bench v3-mini", progress => V3MiniBenchmark.Run(mini.Validated(), Platform.Devices.Parse(parse.GetValue(device)!), progress),
                    parse.GetValue(json), stdout, stderr, PrintV3Mini, r => r.AllFinite);   // a diverging step is a failed check
            }
            if (benchmark == "mla")
            {
                var mla = mlaDefaults with { Contexts = Lengths(parse.GetValue(contexts)!, "--contexts"), Batches = Lengths(parse.GetValue(batches)!, "--batches") };
                if (parse.GetResult(repetitions) is { Implicit: false }) mla = mla with { Repetitions = parse.GetValue(repetitions) };
                return RunMla(mla.Validated(), parse.GetValue(device)!, parse.GetValue(json), stdout, stderr);
            }
            var config = (defaults with { Size = parse.GetValue(size), Repetitions = parse.GetValue(repetitions) }).Validated();
            var result = ProgressDisplay.Run("bench fp8", stderr, progress => Fp8Benchmark.Run(config, progress));
            if (parse.GetValue(json)) stdout.WriteLine(JsonSerializer.Serialize(result, ExperimentConfigs.Json));
            else Print(result, stdout);
            // A fast kernel that gives other values than libtorch is a failed check, not a result.
            return result.BitIdentical ? ExitCodes.Ok : ExitCodes.Failed;
        });
        return command;
    }

    /// <summary>Runs one benchmark with progress on stderr, prints it as JSON or as <paramref name="print"/>'s lines, and
    /// exits 1 when its self-check (<paramref name="passed"/>) fails: a fast path that changes the results is a failed
    /// check, not a result.</summary>
    private static int Report<T>(string label, Func<IProgress<ExperimentProgress>, T> run, bool json, TextWriter stdout, TextWriter stderr,
        Action<T, TextWriter> print, Func<T, bool> passed)
    {
        var r = ProgressDisplay.Run(label, stderr, run);
        if (json) stdout.WriteLine(JsonSerializer.Serialize(r, ExperimentConfigs.Json));
        else print(r, stdout);
        return passed(r) ? ExitCodes.Ok : ExitCodes.Failed;
    }

    private static int RunLm(int steps, string model, string device, bool json, TextWriter stdout, TextWriter stderr)
    {
        var config = (new LmBenchmarkConfig() with { Steps = steps, Model = model, EarlyStep = Math.Min(100, Math.Max(1, steps / 10)) }).Validated();
        var dev = Platform.Devices.Parse(device);
        var r = ProgressDisplay.Run("bench lm", stderr, progress => LmBenchmark.Run(config, dev, progress));
        if (json)
        {
            stdout.WriteLine(JsonSerializer.Serialize(r, ExperimentConfigs.Json));
            return ExitCodes.Ok;
        }
        stdout.WriteLine($"tiny LM ({r.Model} of distill, {r.Parameters:N0} parameters), batch {r.BatchSize} × {r.SequenceLength} tokens, {r.Steps} steps on {r.Device}, {r.TorchThreads} libtorch threads");
        stdout.WriteLine($"training: {r.TokensPerSecond:N0} tokens/s ({r.MillisecondsPerStep:F1} ms per step), final loss {r.FinalLoss:F4}");
        stdout.WriteLine($"memory: step {r.Early.Step} {r.Early.WorkingSetMegabytes:F1} MB ({r.Early.LiveTensors} live tensors), " +
            $"step {r.Last.Step} {r.Last.WorkingSetMegabytes:F1} MB ({r.Last.LiveTensors} live tensors): {r.MemoryGrowthMegabytes:+0.0;-0.0} MB");
        return ExitCodes.Ok;
    }

    private static int RunMoe(MoeBenchmarkConfig config, string device, bool json, TextWriter stdout, TextWriter stderr)
        => Report("bench moe", progress => MoeBenchmark.Run(config, Platform.Devices.Parse(device), progress), json, stdout, stderr, (r, o) =>
        {
            o.WriteLine($"MoE layer: {r.Tokens} tokens × d {r.Dim}, {r.SharedExperts} shared + {r.Experts} routed experts of width {r.ExpertHidden}, top-{r.TopK}; " +
                $"dense SwiGLU of width {r.DenseHidden} (same active parameters, {r.ActiveFlopsPerToken:N0} flops per token); median of {r.Repetitions}, {r.TorchThreads} libtorch threads on {r.Device}");
            o.WriteLine($"forward+backward: MoE {r.MoeMilliseconds:F1} ms, dense {r.DenseMilliseconds:F1} ms: ratio {r.Ratio:F2} (goal ≤ {MoeBenchmarkResult.Goal}: {(r.GoalMet ? "met" : "missed")})");
            o.WriteLine($"token-by-token reference on {config.NaiveTokens} tokens: {r.NaiveRatio:F0}× the sorted dispatch ({r.NaiveMillisecondsPerToken:F2} ms per token); " +
                $"max |sorted − naive| {r.MaxAbsDifference:E1} ({(r.Agrees ? "agree" : "DISAGREE")})");
        }, r => r.Agrees);  // dispatch that disagrees with the token-by-token reference fails

    private static int RunGrpo(GrpoBenchmarkConfig config, string device, bool json, TextWriter stdout, TextWriter stderr)
        => Report("bench grpo", progress => GrpoBenchmark.Run(config, Platform.Devices.Parse(device), progress), json, stdout, stderr, (r, o) =>
        {
            o.WriteLine($"one GRPO step of r1-zero's small model ({r.Parameters:N0} parameters): G = {r.GroupSize} responses for {r.Prompts} prompts, " +
                $"μ = {r.PolicyUpdates}; median of {r.Repetitions}, {r.TorchThreads} libtorch threads on {r.Device}");
            o.WriteLine($"sampling {r.SampleMilliseconds:F1} ms ({r.SampledTokens:N0} tokens), scoring + updates {r.UpdateMilliseconds:F1} ms");
            o.WriteLine($"sampler: {r.CachedTokensPerSecond:N0} tokens/s with the KV cache, {r.UncachedTokensPerSecond:N0} re-running the prefix: " +
                $"ratio {r.Ratio:F2} (cached / uncached time per token); same tokens: {(r.Identical ? "yes" : "NO")}");
        }, r => r.Identical);  // a cache that changes what is sampled fails

    private static int RunMtp(MtpBenchmarkConfig config, string device, bool json, TextWriter stdout, TextWriter stderr)
        => Report("bench mtp", progress => MtpBenchmark.Run(config, Platform.Devices.Parse(device), progress), json, stdout, stderr, (r, o) =>
        {
            o.WriteLine($"tiny LM on the four-domain corpus, {r.Layers} layers, d {r.Dim} ({r.Parameters:N0} parameters + {r.MtpParameters:N0} in D = {r.Depth} MTP depths), " +
                $"{r.Steps} training steps, validation loss {r.ValidationLoss:F4}; {r.Prompts} prompts × {r.TokensPerPrompt} tokens, batch 1, " +
                $"median of {r.Repetitions} passes, {r.TorchThreads} libtorch thread on {r.Device}");
            o.WriteLine($"drafts of {r.DraftDepth} depth{(r.DraftDepth == 1 ? "" : "s")}: {r.AcceptanceRate:P1} accepted, {r.TokensPerForward:F2} tokens per main-model forward");
            o.WriteLine($"plain cached greedy {r.PlainTokensPerSecond:N0} tokens/s, self-speculative {r.SpeculativeTokensPerSecond:N0} tokens/s: " +
                $"ratio {r.Ratio:F2} (goal ≥ {r.Goal}: {(r.GoalMet ? "met" : "missed")}; the parts of one step predict {r.PredictedRatio:F2}); same tokens: {(r.Identical ? "yes" : "NO")}");
        }, r => r.Identical);  // drafts that change what is decoded fail

    private static int[] Lengths(string text, string option)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        return parts.All(p => int.TryParse(p, out _)) ? [.. parts.Select(int.Parse)]
            : throw new ArgumentException($"{option} must be comma-separated whole numbers such as 512,2048 (got '{text}')");
    }

    private static int RunMla(MlaBenchmarkConfig config, string device, bool json, TextWriter stdout, TextWriter stderr)
        => Report("bench mla", progress => MlaBenchmark.Run(config, Platform.Devices.Parse(device), progress), json, stdout, stderr, (r, o) =>
        {
            o.WriteLine($"one attention layer, d {r.Dim}, {r.Heads} heads of {r.HeadDim}; GQA with {r.GqaKvHeads} key/value heads; " +
                $"MLA with d_c {r.KvLatentDim}, d_h^R {r.RopeHeadDim}, {(r.QueryLatentDim == 0 ? "no query compression" : $"d'_c {r.QueryLatentDim}")}; " +
                $"one decode step over a cache of context − 1 tokens, median of {r.Repetitions} after {r.Warmup} warm-up, {r.TorchThreads} libtorch threads on {r.Device}");
            o.WriteLine($"{"context",7} {"batch",5} {"variant",-13} {"ms/step",9} {"min–max ms",17} {"/ MHA",7} {"cache KiB/token",15} {"MHA / cache",12}");
            foreach (var c in r.Cells)
                o.WriteLine($"{c.Context,7} {c.Batch,5} {Kebab(c.Variant),-13} {c.Milliseconds,9:F2} {$"{c.MinMilliseconds:F2}–{c.MaxMilliseconds:F2}",17} " +
                    $"{c.Ratio,7:F2} {c.CacheBytesPerToken / 1024.0,15:F3} {c.CacheRatio,11:F1}×");
            o.WriteLine($"ratio {r.Ratio:F2} (absorbed MLA / MHA at context {r.HeadlineContext}, batch {r.HeadlineBatch}; goal ≤ {MlaBenchmarkResult.Goal}) " +
                $"with a cache {r.CacheRatio:F1}× smaller (goal ≥ {MlaBenchmarkResult.CacheGoal}): {(r.GoalMet ? "met" : "missed")}");
            o.WriteLine($"max |naive − absorbed| {r.MaxAbsDifference:E1} ({(r.Agrees ? "agree" : "DISAGREE")})");
        }, r => r.Agrees);  // absorption that changes the outputs fails

    private static void PrintV3Mini(V3MiniBenchmarkResult r, TextWriter o)
    {
        o.WriteLine($"one training step (forward, backward, AdamW, bias update) of v3-mini's models, batch {r.BatchSize} × {r.SequenceLength} tokens, " +
            $"median of {r.Repetitions} interleaved steps, {r.TorchThreads} libtorch threads on {r.Device}");
        o.WriteLine($"{"variant",-16} {"total",9} {"activated",10} {"ms/step",9} {"/ baseline",11}");
        foreach (var v in r.Variants)
            o.WriteLine($"{v.Name,-16} {v.TotalParameters,9:N0} {v.ActivatedParameters,10:N0} {v.Milliseconds,9:F1} {v.RatioToBaseline,11:F2}");
        o.WriteLine($"ratio {r.Ratio:F2} (full / {V3MiniBenchmarkConfig.Baseline} step time); losses finite: {(r.AllFinite ? "yes" : "NO")}");
    }

    private static string Kebab(DecodeVariant v) => JsonSerializer.Serialize(v, ExperimentConfigs.Json).Trim('"');

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

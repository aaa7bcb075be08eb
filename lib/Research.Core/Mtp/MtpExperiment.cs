using System.Diagnostics;
using System.Text.Json.Serialization;
using Research.Data;
using Research.Experiments;
using Research.Models;
using Research.Platform;
using Research.Training;
using static TorchSharp.torch;

namespace Research.Mtp;

/// <summary>Drafts and acceptances of one group of decoded prompts (a corpus domain, or the addition problems).</summary>
public sealed record MtpAcceptance(string Group, int Drafts, int Accepted)
{
    public double AcceptanceRate => Drafts == 0 ? 0 : (double)Accepted / Drafts;
}

/// <summary>One decoded prompt as text, with each verification step's draft (a notebook's decoding trace).</summary>
/// <param name="Drafts">Each check's draft as text, aligned with <paramref name="Checks"/>.</param>
public sealed record MtpTraceExample(string Group, string Prompt, IReadOnlyList<string> Tokens, IReadOnlyList<DraftCheck> Checks, IReadOnlyList<string> Drafts)
{
    /// <summary>The decoded text with each token's origin: <c>[x]</c> a draft the main model accepted, <c>{y→x}</c> a
    /// rejected draft y and the main model's x in its place, plain x a token the main model gave with no draft checked
    /// (the prefill's, and the one that comes free with each accepted draft).</summary>
    public string Annotated()
    {
        var checks = Checks.Select((c, i) => (c, Draft: Drafts[i])).ToDictionary(x => x.c.Index);
        return string.Concat(Tokens.Select((token, i) => !checks.TryGetValue(i, out var x) ? token
            : x.c.Accepted ? $"[{token}]" : $"{{{x.Draft}→{token}}}"));
    }
}

/// <summary>Self-speculative decoding of a D ≥ 1 model against plain cached greedy decoding, same prompts, same run.</summary>
/// <param name="TokensPerForward">New tokens per main-model forward after the prefill (1 + acceptance, up to the end).</param>
/// <param name="PlainTokensPerSecond">Plain cached greedy decoding (<see cref="Generation.GreedyCached"/>), batch 1.</param>
/// <param name="SpeculativeTokensPerSecond">Self-speculative decoding, batch 1, the same prompts.</param>
/// <param name="Speedup">Speculative over plain tokens per second (medians over the timed passes).</param>
/// <param name="Identical">Every prompt gave the same tokens both ways.</param>
/// <param name="DraftDepth">Depths chained into each draft (1: V3's next-but-one token).</param>
/// <param name="Cost">The parts of one step, timed on the first prompt: what the speed-up should be.</param>
public sealed record MtpDecoding(int Prompts, int TokensPerPrompt, int DraftDepth, int Drafts, int Accepted, double TokensPerForward,
    double PlainTokensPerSecond, double SpeculativeTokensPerSecond, double Speedup, bool Identical,
    IReadOnlyList<MtpAcceptance> ByGroup, MtpTraceExample Example, DecodeCost Cost)
{
    public double AcceptanceRate => Drafts == 0 ? 0 : (double)Accepted / Drafts;

    /// <summary>The speed-up the step's parts predict at this run's tokens per forward.</summary>
    public double PredictedSpeedup => Cost.PredictedSpeedup(TokensPerForward);
}

/// <summary>One trained model.</summary>
/// <param name="Task">corpus or addition.</param>
/// <param name="Depth">D, its MTP depths during training.</param>
/// <param name="Parameters">The main model's parameters (equal for every D).</param>
/// <param name="MtpParameters">The depths' own parameters (dropped at inference).</param>
/// <param name="ValidationLoss">Next-token cross-entropy of the main model alone (MTP dropped), nats per token.</param>
/// <param name="DepthValidationLosses">L^k of each depth on the validation set.</param>
/// <param name="ExactMatch">Addition: share of held-out problems the main model's greedy answer gets exactly right.</param>
/// <param name="StepMs">Training wall time per step (MTP included).</param>
/// <param name="Curve">Logged points; TrainLoss is the total loss (main + λ·MTP), ValidationLoss the main model's alone.</param>
public sealed record MtpRun(string Task, int Depth, int Seed, long Parameters, long MtpParameters, double InitialValidationLoss,
    double ValidationLoss, IReadOnlyList<double> DepthValidationLosses, double? ExactMatch, double StepMs, double Seconds,
    IReadOnlyList<LogPoint> Curve, MtpDecoding? Decoding)
{
    /// <summary>The arm: task and depth ("corpus-d1"), the same at every seed.</summary>
    public string Name => $"{Task}-d{Depth}";

    /// <summary>The arm at its seed ("corpus-d1-seed3"), for tables that hold every seed; seed 0 keeps the arm's name.</summary>
    [JsonIgnore]
    public string Key => Seed == 0 ? Name : $"{Name}-seed{Seed}";

    /// <summary>Acceptance of the depth-1 drafts; null for D = 0.</summary>
    public double? AcceptanceRate => Decoding?.AcceptanceRate;

    /// <summary>Self-speculative over plain tokens per second; null for D = 0.</summary>
    public double? Speedup => Decoding?.Speedup;
}

/// <summary>Every run of one seed (each task at each depth), and how long they took.</summary>
public sealed record MtpResult(IReadOnlyList<MtpRun> Runs, double Seconds);

/// <summary>
/// <c>mtp</c>: DeepSeek-V3's multi-token prediction at toy scale. The tiny LM is trained with D = 0, 1, 2 sequential
/// MTP depths (λ 0.3 then 0.1) at the same main-model size, steps, batches and seed, on the four-domain corpus and on
/// addition; the main model alone is validated (MTP dropped, as V3 does at inference), and each D ≥ 1 model decodes
/// with its drafts (depth 1 by default, as V3) against plain cached greedy decoding.
/// </summary>
public static class MtpExperiment
{
    public const string Id = "mtp";
    public const string CorpusTask = "corpus", AdditionTask = "addition";

    /// <summary>Intra-op threads of both decoders while they are timed.</summary>
    public const int DecodeThreads = 1;

    // Timed rounds of DecodeCost per decoding run (each a few milliseconds).
    private const int CostRepetitions = 30;

    /// <summary>Every seed of <paramref name="config"/>, then the comparisons over them (see <see cref="Experiment"/>).</summary>
    public static SeededResult<MtpResult> Run(MtpExperimentConfig config, Device device, IProgress<ExperimentProgress>? progress = null,
        CancellationToken cancellation = default) => Experiment.Run(config, device, progress, cancellation);

    private static MtpResult RunSeed(MtpExperimentConfig config, int seed, Device device, IProgress<ExperimentProgress>? progress, CancellationToken cancellation)
    {
        TorchRuntime.EnsureLoaded();
        var watch = Stopwatch.StartNew();
        var tasks = new List<TaskData> { CorpusData(config, device) };
        if (config.Addition is not null) tasks.Add(AdditionData(config, device));
        try
        {
            int total = config.Depths.Count * tasks.Sum(t => t.Training.Steps), done = 0;
            var runs = new List<MtpRun>();
            foreach (var task in tasks)
                foreach (int depth in config.Depths)
                {
                    var stage = ShiftedProgress.Create(progress, $"{task.Name} D={depth}", done, total);
                    runs.Add(RunOne(config, task, depth, seed, device, stage, cancellation));
                    done += task.Training.Steps;
                }
            return new MtpResult(runs, watch.Elapsed.TotalSeconds);
        }
        finally
        {
            foreach (var task in tasks) task.Dispose();
        }
    }

    /// <summary>The equivalence margin of a validation loss (nats per token), as the sweep of depths declares it.</summary>
    public const double LossMargin = 0.02;

    /// <summary>The domain whose draft acceptance the others are compared with.</summary>
    public const string AcceptanceBaseline = "code";

    /// <summary>The equivalence margin of draft acceptance between domains (a share of drafts).</summary>
    public const double AcceptanceMargin = 0.05;

    /// <summary>The corpus run whose drafts are compared by domain: the smallest depth D ≥ 1 (its depth 1 drafts).</summary>
    public static MtpRun? DraftRun(MtpResult result) =>
        result.Runs.Where(r => r.Task == CorpusTask && r.Decoding is not null).OrderBy(r => r.Depth).FirstOrDefault();

    /// <summary>The equivalence margin of addition's exact match (a share of problems).</summary>
    public const double ExactMatchMargin = 0.03;

    /// <summary>
    /// What mtp compares over seeds, per task: each depth's main-model validation loss against D = 0's, and on addition
    /// the exact match of greedy answers. None without D = 0 among the depths.
    /// </summary>
    public static IReadOnlyList<ExperimentMetric<MtpResult>> Metrics(MtpExperimentConfig config)
    {
        if (!config.Depths.Contains(0)) return [];
        var tasks = config.Addition is null ? new[] { CorpusTask } : [CorpusTask, AdditionTask];
        var metrics = tasks.Select(task => new ExperimentMetric<MtpResult>($"{task} validation loss", $"{task}-d0", Statistics.Direction.Lower,
            r => r.Runs.Where(x => x.Task == task).Select(x => (x.Name, x.ValidationLoss)), LossMargin,
            Math.Log(task == CorpusTask ? MultiDomainCorpus.VocabularySize : ArithmeticVocabulary.Size))
            { Source = $"runs[task={task}].validationLoss (main model, MTP dropped, nats per token)" }).ToList();
        if (config.Addition is not null)
            metrics.Add(new("addition exact match", $"{AdditionTask}-d0", Statistics.Direction.Higher,
                r => r.Runs.Where(x => x.Task == AdditionTask && x.ExactMatch is not null).Select(x => (x.Name, x.ExactMatch!.Value)), ExactMatchMargin)
                { Source = "runs[task=addition].exactMatch (share of held-out problems answered exactly)", Trials = config.AdditionDecodeProblems });
        if (config.Depths.Any(d => d >= 1))
            // Code is the baseline because an earlier single run (seed 0, also a reference seed) had it last; the ten-seed
            // reference then tests that ordering rather than finding it. The fewest draft checks a domain can have (every draft accepted, two tokens per
            // check) stand in for its trials, so the standard error shown errs on the wide side.
            metrics.Add(new("draft acceptance", AcceptanceBaseline, Statistics.Direction.Higher,
                r => DraftRun(r)?.Decoding!.ByGroup.Select(g => (g.Group, g.AcceptanceRate)) ?? [], AcceptanceMargin)
                { Source = "runs[task=corpus, smallest D ≥ 1].decoding.byGroup[group].acceptanceRate (depth-1 drafts the main model kept)",
                  Trials = config.DecodePromptsPerDomain * (config.DecodeTokens / 2) });
        return metrics;
    }

    // ---- the two tasks as full sequences [B, T + 1] with a mask over the targets that count ----

    /// <summary>What a run needs of one task. <paramref name="Prompts"/> gives the decoding prompts with their group;
    /// <paramref name="ExactMatch"/> scores greedy answers (addition only).</summary>
    private sealed record TaskData(string Name, ModelConfig Model, TrainerConfig Training, Func<Random, SequenceBatch> Sample,
        IReadOnlyList<SequenceBatch> Validation, Func<IReadOnlyList<(string Group, long[] Prompt)>> Prompts, int DecodeTokens,
        Func<IEnumerable<long>, IReadOnlyList<string>> Render, Func<LanguageModel, double>? ExactMatch) : IDisposable
    {
        public void Dispose()
        {
            foreach (var b in Validation) b.Dispose();
        }
    }

    private static TaskData CorpusData(MtpExperimentConfig config, Device device)
    {
        var corpus = new MultiDomainCorpus(config.Corpus);
        var validationRng = new Random((int)Seeding.Stream(config.RunSeed(), 2));
        var validation = Enumerable.Range(0, config.ValidationBatches).Select(_ => SequenceBatch.FromCorpus(corpus, config.BatchSize, validationRng, device)).ToList();
        IReadOnlyList<(string, long[])> Prompts()
        {
            // The first DecodePromptsPerDomain validation sequences of each domain, in the corpus's domain order.
            using var scope = NewDisposeScope();
            var rows = validation.SelectMany(b => Enumerable.Range(0, b.Groups.Length).Select(i => (b, i))).ToList();
            var chosen = new List<(string, long[])>();
            foreach (var domain in Enum.GetValues<Domain>().Select(MultiDomainCorpus.Name))
                chosen.AddRange(rows.Where(r => r.b.Groups[r.i] == domain).Take(config.DecodePromptsPerDomain)
                    .Select(r => (domain, r.b.Sequences[r.i].narrow(0, 0, config.DecodePromptLength).data<long>().ToArray())));
            return chosen;
        }
        return new TaskData(CorpusTask, config.CorpusModel, config.CorpusTraining, rng => SequenceBatch.FromCorpus(corpus, config.BatchSize, rng, device),
            validation, Prompts, config.DecodeTokens, tokens => [.. tokens.Select(t => MultiDomainCorpus.Decode([t]))], null);
    }

    private static TaskData AdditionData(MtpExperimentConfig config, Device device)
    {
        var task = new ArithmeticTask(config.Addition!);
        var validationProblems = new Generator((ulong)Seeding.Stream(config.RunSeed(), 2));
        var validation = Enumerable.Range(0, config.ValidationBatches)
            .Select(_ => SequenceBatch.FromAddition(task, task.Sample(config.BatchSize, validationProblems), AdditionTask, device)).ToList();
        var decodeProblems = task.Sample(config.AdditionDecodeProblems, new Generator((ulong)Seeding.Stream(config.RunSeed(), 3)));
        IReadOnlyList<(string, long[])> Prompts() => [.. decodeProblems.Select(p => (AdditionTask, task.SequenceTokens(p)[..task.PromptLength]))];
        double ExactMatch(LanguageModel model)
        {
            using var scope = NewDisposeScope();
            var answers = Generation.GreedyCached(model, task.Prompts(decodeProblems, device), task.AnswerLength);
            return task.ExactMatch(decodeProblems, answers);
        }
        // Each training step draws its problems from a generator seeded by the run's Random, so batches follow the seed.
        return new TaskData(AdditionTask, config.AdditionModel, config.AdditionTraining,
            rng => SequenceBatch.FromAddition(task, task.Sample(config.BatchSize, new Generator((ulong)rng.NextInt64(long.MaxValue))), AdditionTask, device),
            validation, Prompts, task.AnswerLength, tokens => [.. tokens.Select(t => task.RenderTokens([t]))], ExactMatch);
    }

    // ---- one run ----

    private static MtpRun RunOne(MtpExperimentConfig config, TaskData task, int depth, int seed, Device device,
        IProgress<ExperimentProgress>? progress, CancellationToken cancellation)
    {
        var mtp = config.Mtp(depth);
        using var model = new LanguageModel(task.Model with { NumNextnPredictLayers = depth }, device, new Generator((ulong)Seeding.Stream(seed, 0), device));
        double initial = Validate(model, task.Validation).Main;
        using var trainer = new Trainer(model, task.Training);
        var data = new Random((int)Seeding.Stream(seed, 1));   // the same batches for every D at one seed
        int steps = task.Training.Steps;
        // The trainer validates at every logged point and at the last step; the last one is the run's result.
        (double Main, double[] Depths) last = (double.NaN, []);
        var curve = trainer.Run(step =>
            {
                var batch = task.Sample(data);   // its tensors belong to the trainer's step scope
                var losses = model.Losses(batch.Sequences, mtp.LambdaAt(step, steps), batch.Mask);
                return new StepLoss(losses.Total, batch.Mask.sum().item<long>());
            },
            evaluate: () => (last = Validate(model, task.Validation)).Main, progress: progress, stage: task.Name, cancellation: cancellation);
        model.eval();
        var (main, depths) = last;
        var decoding = depth >= 1 ? Decode(config, task, model) : null;
        return new MtpRun(task.Name, depth, seed, model.MainParameters, model.MtpParameters, initial, main, depths,
            task.ExactMatch?.Invoke(model), trainer.TrainingSeconds * 1000 / steps, trainer.TrainingSeconds, curve, decoding);
    }

    /// <summary>Validation losses: the main model's next-token loss and each depth's L^k, averaged over the batches.</summary>
    public static (double Main, double[] Depths) Validate(LanguageModel model, IReadOnlyList<SequenceBatch> batches)
    {
        using var noGrad = no_grad();
        double main = 0;
        var depths = new double[model.Depths.Count];
        foreach (var batch in batches)
        {
            using var scope = NewDisposeScope();
            var losses = model.Losses(batch.Sequences, 0, batch.Mask);
            main += losses.Main.item<float>();
            for (int k = 0; k < depths.Length; k++) depths[k] += losses.Depths[k].item<float>();
        }
        return (main / batches.Count, [.. depths.Select(d => d / batches.Count)]);
    }

    /// <summary>
    /// Every prompt decoded with plain cached greedy decoding and with self-speculative decoding, alternating, for
    /// <see cref="MtpExperimentConfig.DecodeRepetitions"/> passes (the first warms up, the rest are timed).
    /// </summary>
    private static MtpDecoding Decode(MtpExperimentConfig config, TaskData task, LanguageModel model)
    {
        var prompts = task.Prompts();
        var device = model.parameters().First().device;
        var plainSeconds = new List<double>();
        var speculativeSeconds = new List<double>();
        SpeculativeResult[] results = new SpeculativeResult[prompts.Count];
        bool identical = true;
        // Batch-1 decoding multiplies [1, d] or [2, d] rows: a second intra-op thread only adds its hand-off (on a 2-core
        // machine a 2-token forward took 1.7× a 1-token one with two threads, 1.05× with one, and plain decoding ran
        // 2.3× faster on one). Both decoders run on one thread; the setting is restored afterwards.
        int threads = get_num_threads();
        set_num_threads(DecodeThreads);
        try
        {
        for (int pass = 0; pass < config.DecodeRepetitions; pass++)
        {
            double plainTime = 0, speculativeTime = 0;
            for (int i = 0; i < prompts.Count; i++)
            {
                using var scope = NewDisposeScope();
                var prompt = tensor(prompts[i].Prompt, [1, prompts[i].Prompt.Length], device: device);
                long start = Stopwatch.GetTimestamp();
                var plain = Generation.GreedyCached(model, prompt, task.DecodeTokens).cpu().data<long>().ToArray();
                plainTime += Stopwatch.GetElapsedTime(start).TotalSeconds;
                start = Stopwatch.GetTimestamp();
                results[i] = SpeculativeDecoding.Greedy(model, prompt, task.DecodeTokens, config.DraftDepth);
                speculativeTime += Stopwatch.GetElapsedTime(start).TotalSeconds;
                identical &= plain.SequenceEqual(results[i].Tokens);
            }
            if (pass > 0)
            {
                plainSeconds.Add(plainTime);
                speculativeSeconds.Add(speculativeTime);
            }
        }
        }
        finally
        {
            set_num_threads(threads);
        }
        using var first = tensor(prompts[0].Prompt, [1, prompts[0].Prompt.Length], device: device);
        var cost = DecodeCost.Measure(model, first, config.DraftDepth, CostRepetitions);
        double tokens = (double)prompts.Count * task.DecodeTokens;
        double plainRate = tokens / Median(plainSeconds), speculativeRate = tokens / Median(speculativeSeconds);
        var groups = prompts.Select((p, i) => (p.Group, Result: results[i])).GroupBy(x => x.Group)
            .Select(g => new MtpAcceptance(g.Key, g.Sum(x => x.Result.Drafts), g.Sum(x => x.Result.Accepted))).ToList();
        int forwards = results.Sum(r => r.MainForwards - 1), produced = results.Sum(r => r.Tokens.Length - 1);
        // The example: the first prompt of the last group (legal text on the corpus), whose drafts are most regular.
        int shown = prompts.Select((p, i) => (p.Group, i)).First(x => x.Group == groups[^1].Group).i;
        var example = new MtpTraceExample(prompts[shown].Group, string.Concat(task.Render(prompts[shown].Prompt)), task.Render(results[shown].Tokens),
            results[shown].Trace, task.Render(results[shown].Trace.Select(c => c.Draft)));
        return new MtpDecoding(prompts.Count, task.DecodeTokens, config.DraftDepth, results.Sum(r => r.Drafts), results.Sum(r => r.Accepted),
            forwards == 0 ? 0 : (double)produced / forwards, plainRate, speculativeRate, speculativeRate / plainRate, identical, groups, example, cost);
    }

    private static double Median(IEnumerable<double> values) => MathNet.Numerics.Statistics.Statistics.Median(values);

    /// <summary>The experiment: default config from data/configs/mtp.json.</summary>
    public static Experiment<MtpExperimentConfig, MtpResult> Experiment { get; } = new(
        Id,
        "Multi-token prediction: MTP as a training objective and as the draft of self-speculative decoding",
        "The tiny LM trained with D = 0, 1 and 2 sequential MTP depths (DeepSeek-V3 §2.2; λ = 0.3, then 0.1) at the same " +
        "main-model size, steps, batches and seed, on the four-domain corpus and on addition, each depth compared with " +
        "D = 0 over the seeds: validation loss of the main model alone (MTP dropped), each depth's loss, time per step; and for D ≥ 1 " +
        "lossless self-speculative greedy decoding with the depth-1 draft against plain cached greedy decoding: " +
        "acceptance rate (by domain), tokens per forward, speed-up, and a check that the tokens are identical.",
        (config, seed, request) => RunSeed(config, seed, request.Device, request.Progress, request.Cancellation), MtpOutput.Of, Metrics)
    {
        Cached = true,
    };

    public static ExperimentDefinition Definition => Experiment.Definition;
}

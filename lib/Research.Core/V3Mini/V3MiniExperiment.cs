using System.Diagnostics;
using Research.Accounting;
using Research.Data;
using Research.Experiments;
using Research.Mla;
using Research.Models;
using Research.Moe;
using Research.Mtp;
using Research.Platform;
using Research.Training;
using static TorchSharp.torch;

namespace Research.V3Mini;

/// <summary>One trained run of <c>v3-mini</c>.</summary>
/// <param name="ValidationLoss">Next-token loss of the main model alone (MTP dropped), nats per token.</param>
/// <param name="TotalParameters">The accounting's total for the run's config (main model; the balancing bias included).</param>
/// <param name="ActivatedParameters">Parameters one token passes through.</param>
/// <param name="MtpParameters">The MTP depths' own parameters (dropped at inference).</param>
/// <param name="TrainingFlopsPerToken">The accounting's 3 × forward FLOPs of the main model at the training sequence length.</param>
/// <param name="KvCacheBytesPerToken">BF16 cache bytes one token adds over all layers, from the built model's cache.</param>
/// <param name="MaxVio">Global MaxVio of the main model's MoE layers over the validation set (mean over layers); null when dense.</param>
/// <param name="ExpertLoads">Per main MoE layer, the validation tokens routed to each expert.</param>
/// <param name="PlainTokensPerSecond">Cached greedy decoding of the main model, batch 1.</param>
/// <param name="SpeculativeTokensPerSecond">The same with the MTP depth's drafts; null without MTP.</param>
/// <param name="Identical">Speculative decoding gave the plain decoding's tokens on every prompt (true without MTP).</param>
/// <param name="FirstStepMegabytes">Process working set after the first step; <paramref name="LastStepMegabytes"/> after the last.</param>
public sealed record V3MiniRun(string Name, int Seed, string Swapped, [property: Column(Format = "F4")] double ValidationLoss, long TotalParameters,
    long ActivatedParameters, long MtpParameters, [property: Column(Format = "0.000e+00")] double TrainingFlopsPerToken, long KvCacheBytesPerToken,
    [property: Column(Format = "F3")] double? MaxVio, IReadOnlyList<long[]> ExpertLoads, [property: Column(Format = "F1")] double StepMs,
    [property: Column(Format = "F0")] double PlainTokensPerSecond, [property: Column(Format = "F0")] double? SpeculativeTokensPerSecond,
    [property: Column(Format = "P0")] double? AcceptanceRate, bool Identical, [property: Column("first_step_mb", Format = "F0")] double FirstStepMegabytes,
    [property: Column("last_step_mb", Format = "F0")] double LastStepMegabytes, int Fp8Tile, IReadOnlyList<LogPoint> Curve)
{
    [Column(Skip = true)]
    public string Key => Seed == 0 ? Name : $"{Name}-seed{Seed}";
}

/// <summary>A row of <c>expert_loads.csv</c>: validation tokens one expert of one MoE layer received.</summary>
public sealed record ExpertTokensRow(string Run, int Layer, int Expert, long Tokens);

/// <summary>Every run of one seed, and how long they took.</summary>
public sealed record V3MiniResult(IReadOnlyList<V3MiniRun> Runs, double Seconds);

/// <summary>
/// <c>v3-mini</c>: DeepSeek-V3 in miniature (a <see cref="LanguageModel"/> of <see cref="ModelConfig.DeepSeekMini"/>) against one ablation per technique, same
/// corpus batches, steps and seed; over several seeds each ablation is judged by its paired difference from the full model.
/// </summary>
public static class V3MiniExperiment
{
    public const string Id = "v3-mini";

    private const KvDtype CacheDtype = KvDtype.Bf16;

    /// <summary>
    /// A run that ends above this validation loss has diverged: it predicts worse than the uniform guess over the corpus's
    /// characters, ln 51 ≈ 3.93 nats, which an untrained model already matches.
    /// </summary>
    public static readonly double DivergedAbove = Math.Log(MultiDomainCorpus.VocabularySize);

    /// <summary>The equivalence margin of the validation loss, in nats per token: differences inside ±0.02 count as none.</summary>
    public const double LossMargin = 0.02;

    /// <summary>Every seed of <paramref name="config"/>, each ablation compared with the full model over the seeds.</summary>
    public static SeededResult<V3MiniResult> Run(V3MiniExperimentConfig config, Device device, IProgress<ExperimentProgress>? progress = null,
        CancellationToken cancellation = default) => Experiment.Run(config, device, progress, cancellation);

    private static V3MiniResult RunSeed(V3MiniExperimentConfig config, int seed, Device device, IProgress<ExperimentProgress>? progress,
        CancellationToken cancellation)
    {
        TorchRuntime.EnsureLoaded();
        var watch = Stopwatch.StartNew();
        var corpus = new MultiDomainCorpus(config.Corpus);
        var validationRng = new Random((int)Seeding.Stream(seed, 2));
        var validation = Enumerable.Range(0, config.ValidationBatches)
            .Select(_ => SequenceBatch.FromCorpus(corpus, config.BatchSize, validationRng, device)).ToList();
        try
        {
            var runs = new List<V3MiniRun>();
            int steps = config.Training.Steps;
            for (int i = 0; i < config.Runs.Count; i++)
            {
                var name = config.Runs[i];
                var stage = ShiftedProgress.Create(progress, name, i * steps, config.Runs.Count * steps);
                runs.Add(RunOne(config, name, seed, corpus, validation, device, stage, cancellation));
            }
            return new V3MiniResult(runs, watch.Elapsed.TotalSeconds);
        }
        finally
        {
            foreach (var b in validation) b.Dispose();
        }
    }

    /// <summary>What v3-mini compares over seeds: every ablation's validation loss and MaxVio against the full model's.</summary>
    public static IReadOnlyList<ExperimentMetric<V3MiniResult>> Metrics { get; } =
    [
        new("validation loss", V3MiniAblations.FullName, Statistics.Direction.Lower, r => r.Runs.Select(x => (x.Name, x.ValidationLoss)),
            LossMargin, DivergedAbove) { Source = "runs[name].validationLoss (main model, MTP dropped, nats per token)" },
        new("MaxVio", V3MiniAblations.FullName, Statistics.Direction.Lower, r => r.Runs.Where(x => x.MaxVio is not null).Select(x => (x.Name, x.MaxVio!.Value)))
            { Source = "runs[name].maxVio (validation set, mean over MoE layers)" },
    ];

    private static V3MiniRun RunOne(V3MiniExperimentConfig config, string name, int seed, MultiDomainCorpus corpus,
        IReadOnlyList<SequenceBatch> validation, Device device, IProgress<ExperimentProgress>? progress, CancellationToken cancellation)
    {
        var c = V3MiniAblations.Of(name, config);
        using var mini = new LanguageModel(c, device, new Generator((ulong)Seeding.Stream(seed, 0), device));
        var mtp = new MtpConfig(c.NumNextnPredictLayers, config.Lambda, config.FinalLambda).Validated();
        using var trainer = new Trainer(mini, config.Training);
        var data = new Random((int)Seeding.Stream(seed, 1));   // the same batches for every run at one seed
        int steps = config.Training.Steps;
        double firstMb = 0, lastMb = 0;
        // The trainer validates at every logged point and at the last step; the last one is the run's result.
        (double Loss, IReadOnlyList<long[]> Loads) last = (double.NaN, []);
        var curve = trainer.Run(step =>
            {
                // The bias moves from the previous step's loads, before this step's batch is routed (LF Alg. 1).
                if (step > 1) mini.UpdateBiases();
                if (step == 2) firstMb = WorkingSetMb();
                if (step == steps) lastMb = WorkingSetMb();
                var batch = SequenceBatch.FromCorpus(corpus, config.BatchSize, data, device);
                var losses = mini.Losses(batch.Sequences, mtp.LambdaAt(step, steps), batch.Mask);
                return new StepLoss(losses.Total, batch.Mask.sum().item<long>());
            },
            evaluate: () => (last = Validate(mini, validation)).Loss, progress: progress, stage: name, cancellation: cancellation);
        mini.eval();
        var (loss, loads) = last;
        var count = ParameterCounting.Count(c);
        var flops = FlopCounting.PerToken(c, config.Corpus.SequenceLength);
        long cacheBytes = mini.KvCacheElementsPerToken * KvCacheSize.BytesPerElement(CacheDtype);
        double? maxVio = loads.Count == 0 ? null : loads.Average(l => LoadMetrics.MaxVio(l));
        var decode = Decode(config, mini, validation);
        return new V3MiniRun(name, seed, V3MiniAblations.Describe(name), loss, count.Total, count.Activated, mini.MtpParameters,
            flops.Training, cacheBytes, maxVio, loads, trainer.TrainingSeconds * 1000 / steps, decode.Plain, decode.Speculative,
            decode.Acceptance, decode.Identical, firstMb, lastMb, c.Fp8 is { } fp8 ? fp8.Activations.TileSize : 0, curve);
    }

    private static double WorkingSetMb()
    {
        using var process = Process.GetCurrentProcess();
        return process.WorkingSet64 / (1024.0 * 1024.0);
    }

    /// <summary>The main model's validation loss (MTP dropped) and each main MoE layer's expert loads over the batches.</summary>
    public static (double Loss, IReadOnlyList<long[]> Loads) Validate(LanguageModel mini, IReadOnlyList<SequenceBatch> batches)
    {
        bool training = mini.training;
        mini.eval();
        using var noGrad = no_grad();
        var layers = mini.MainMoeLayers;
        var loads = layers.Select(l => new long[l.Router.Config.Experts]).ToList();
        double loss = 0;
        foreach (var batch in batches)
        {
            using var scope = NewDisposeScope();
            loss += mini.Losses(batch.Sequences, 0, batch.Mask).Main.item<float>();
            for (int i = 0; i < layers.Count; i++)
                for (int e = 0; e < loads[i].Length; e++) loads[i][e] += layers[i].LastStats!.Loads[e];
        }
        mini.train(training);
        return (loss / batches.Count, loads);
    }

    // Batch-1 decoding on one intra-op thread (as mtp's), plain and speculative interleaved; the first pass warms up.
    private static (double Plain, double? Speculative, double? Acceptance, bool Identical) Decode(V3MiniExperimentConfig config, LanguageModel mini, IReadOnlyList<SequenceBatch> validation)
    {
        var prompts = validation.SelectMany(b => Enumerable.Range(0, (int)b.Sequences.shape[0]).Select(i => b.Sequences[i].narrow(0, 0, config.DecodePromptLength)))
            .Take(config.DecodePrompts).ToList();
        bool drafts = mini.Depths.Count >= 1;
        int threads = get_num_threads();
        set_num_threads(MtpExperiment.DecodeThreads);
        double plain = 0, speculative = 0;
        int proposed = 0, accepted = 0;
        bool identical = true;
        try
        {
            for (int pass = 0; pass < 2; pass++)
            {
                foreach (var p in prompts)
                {
                    using var scope = NewDisposeScope();
                    var prompt = p.unsqueeze(0);
                    long start = Stopwatch.GetTimestamp();
                    var tokens = Generation.GreedyCached(mini, prompt, config.DecodeTokens).cpu().data<long>().ToArray();
                    if (pass > 0) plain += Stopwatch.GetElapsedTime(start).TotalSeconds;
                    if (!drafts) continue;
                    start = Stopwatch.GetTimestamp();
                    var result = SpeculativeDecoding.Greedy(mini, prompt, config.DecodeTokens);
                    if (pass > 0)
                    {
                        speculative += Stopwatch.GetElapsedTime(start).TotalSeconds;
                        (proposed, accepted) = (proposed + result.Drafts, accepted + result.Accepted);
                    }
                    identical &= tokens.SequenceEqual(result.Tokens);
                }
            }
        }
        finally
        {
            set_num_threads(threads);
            foreach (var p in prompts) p.Dispose();
        }
        double produced = (double)prompts.Count * config.DecodeTokens;
        return (produced / plain, drafts ? produced / speculative : null, drafts && proposed > 0 ? (double)accepted / proposed : null, identical);
    }

    /// <summary>The experiment: default config from data/configs/v3-mini.json.</summary>
    public static Experiment<V3MiniExperimentConfig, V3MiniResult> Experiment { get; } = new(
        Id,
        "DeepSeek-V3 in miniature: MLA, DeepSeekMoE with loss-free balancing, MTP and FP8 in one model, and what each buys",
        "One tiny V3-shaped model (MLA with decoupled RoPE, a dense layer then DeepSeekMoE with the balancing bias and the " +
        "sequence-wise loss, one MTP depth, every block GEMM in FP8 with fine-grained scaling) trained on the four-domain " +
        "corpus, against one ablation per technique at the same batches, steps and seed (dense FFN, MHA, GQA, FP32, no MTP, " +
        "auxiliary loss), each judged over the seeds by its paired difference from the full model: validation loss, total and " +
        "activated parameters, training FLOPs per token, KV-cache bytes per token, MaxVio, time per step and decoding speed with and without MTP drafts.",
        (config, seed, request) => RunSeed(config, seed, request.Device, request.Progress, request.Cancellation), V3MiniOutput.Of, _ => Metrics)
    {
        Cached = true,
    };

    public static ExperimentDefinition Definition => Experiment.Definition;
}

using System.Diagnostics;
using Research.Data;
using Research.Experiments;
using Research.Models;
using Research.Platform;
using Research.Training;
using static TorchSharp.torch;

namespace Research.Mla;

/// <summary>One attention variant's run.</summary>
/// <param name="NumKeyValueHeads">n_g of MHA/GQA/MQA; 0 for MLA. The MLA sizes (d_c, d_h^R, d'_c) are 0 for the others.</param>
/// <param name="FfnHidden">The feed-forward width that matches this variant's parameters to the budget.</param>
/// <param name="CacheElementsPerTokenPerLayer">Elements one token adds to one layer's KV cache, measured on the
/// model's own cache buffers (V2 Table 1 per layer: 2·n_g·d_h, or d_c + d_h^R).</param>
/// <param name="CacheElementsPerToken">The same over all layers (V2 Table 1).</param>
/// <param name="CacheBytesPerTokenFloat32">All layers, at 4 bytes per element (what this kit's caches hold).</param>
/// <param name="CacheBytesPerTokenBf16">All layers, at 2 bytes per element (BF16, as HW25 Table 1 counts).</param>
/// <param name="AttentionParameters">Parameters of one block's attention.</param>
/// <param name="ParameterGap">(Parameters − budget) / budget.</param>
/// <param name="InitialValidationLoss">Validation cross-entropy of the freshly initialised model.</param>
/// <param name="FinalLoss">Training cross-entropy averaged over the last log window.</param>
/// <param name="ValidationLoss">Validation cross-entropy after training (nats per token).</param>
/// <param name="Seconds">Wall time of training, validation passes included.</param>
/// <param name="DecodingMatches">Whether greedy decoding with the KV cache gave exactly the tokens of greedy decoding
/// that re-runs the full forward, on the validation prompts with the trained weights.</param>
/// <param name="DecodingMaxLogitError">Largest |logit| difference between cached decoding (prefill, then one token per
/// step) and the full forward over the same prompt and generated tokens.</param>
public sealed record MlaQualityVariantResult(
    string Name, AttentionKind Kind, int NumKeyValueHeads, int KvLoraRank, int QkRopeHeadDim, int QLoraRank, int FfnHidden,
    long CacheElementsPerTokenPerLayer, long CacheElementsPerToken, long CacheBytesPerTokenFloat32, long CacheBytesPerTokenBf16,
    long Parameters, long AttentionParameters, [property: Column(Format = "P1")] double ParameterGap,
    [property: Column(Format = "F4")] double InitialValidationLoss, [property: Column(Format = "F4")] double FinalLoss,
    [property: Column(Format = "F4")] double ValidationLoss, [property: Column(Format = "F1")] double Seconds,
    bool DecodingMatches, [property: Column(Format = "E1")] double DecodingMaxLogitError, IReadOnlyList<LogPoint> Curve);

/// <summary>A row of <c>noise_runs.csv</c>: the first variant's validation loss under one seed.</summary>

/// <summary>The first variant trained again with another seed (initial weights and batches; same validation set).</summary>
/// <param name="ParameterBudget">Parameters of the tiny LM with MHA at the config's IntermediateSize: every variant is matched to it.</param>
/// <param name="Seconds">Wall time of the whole run.</param>
public sealed record MlaQualityResult(IReadOnlyList<MlaQualityVariantResult> Variants,
    long ParameterBudget, double ParameterTolerance, int Layers, int Dim, int Heads, int HeadDim, int Steps, long TrainingTokens, double Seconds);

/// <summary>
/// <c>mla-quality</c>: the tiny LM trained on the multi-domain corpus once per attention variant (MHA, GQA, MQA, MLA),
/// with the same seed, batches and steps and matched parameter counts: validation loss against KV-cache size per
/// token. DeepSeek-V2 App. D makes this comparison at 7B–250B scale (MHA beat GQA and MQA; MLA beat MHA).
/// </summary>
public static class MlaQualityExperiment
{
    public const string Id = "mla-quality";

    /// <summary>SwiGLU holds 3·d parameters per hidden unit: a row of W₁ and of W₃ and a column of W₂ (see <see cref="SwiGlu"/>).</summary>
    public const int SwiGluMatricesPerHiddenUnit = 3;

    private const int Float32Bytes = sizeof(float);
    private const int Bf16Bytes = 2;   // bfloat16: 1 sign, 8 exponent, 7 mantissa bits

    /// <summary>Every seed of <paramref name="config"/>, then the comparisons over them (see <see cref="Experiment"/>).</summary>
    public static SeededResult<MlaQualityResult> Run(MlaQualityConfig config, Device device, IProgress<ExperimentProgress>? progress = null,
        CancellationToken cancellation = default) => Experiment.Run(config, device, progress, cancellation);

    private static MlaQualityResult RunSeed(MlaQualityConfig config, int seed, Device device, IProgress<ExperimentProgress>? progress, CancellationToken cancellation)
    {
        TorchRuntime.EnsureLoaded();
        var watch = Stopwatch.StartNew();
        long budget = ParameterBudget(config);
        var corpus = new MultiDomainCorpus(config.Corpus);
        var validationRng = new Random((int)Seeding.Stream(seed, 2));
        var validation = new List<DomainBatch>();
        try
        {
            for (int i = 0; i < config.ValidationBatches; i++) validation.Add(corpus.Sample(config.BatchSize, validationRng, device));
            var results = new List<MlaQualityVariantResult>();
            int steps = config.Training.Steps, total = config.Variants.Count * steps;
            for (int i = 0; i < config.Variants.Count; i++)
            {
                var variant = config.Variants[i];
                var stage = ShiftedProgress.Create(progress, variant.Name, i * steps, total);
                results.Add(RunVariant(config, variant, $"MlaQualityConfig.Variants[{i}]", budget, corpus, validation, device, stage, cancellation));
            }
            progress?.Report(new ExperimentProgress("done", total, total));
            long tokens = (long)steps * config.BatchSize * config.Corpus.SequenceLength;
            return new MlaQualityResult(results, budget, config.ParameterTolerance,
                config.Model.NumHiddenLayers, config.Model.HiddenSize, config.Model.NumAttentionHeads, config.Model.DenseHeadDim, steps, tokens, watch.Elapsed.TotalSeconds);
        }
        finally
        {
            foreach (var b in validation) b.Dispose();
        }
    }

    /// <summary>The model of <paramref name="variant"/>: the shared LM with the variant's attention in every block
    /// (MLA with d_h = d_v = hidden_size / num_attention_heads, or MHA/GQA/MQA) and feed-forward width <paramref name="ffnHidden"/>.</summary>
    public static ModelConfig Of(ModelConfig model, MlaQualityVariant variant, int? ffnHidden = null)
    {
        var m = model with { IntermediateSize = ffnHidden ?? model.IntermediateSize };
        return variant.Kind == AttentionKind.Mla
            ? m with
            {
                KvLoraRank = variant.KvLoraRank, QkRopeHeadDim = variant.QkRopeHeadDim ?? m.QkRopeHeadDim, QLoraRank = variant.QLoraRank,
                QkNopeHeadDim = m.DenseHeadDim, VHeadDim = m.DenseHeadDim,
            }
            : m with { NumKeyValueHeads = variant.KeyValueHeads(m.NumAttentionHeads) };
    }

    /// <summary>The variant's model with feed-forward width <paramref name="ffnHidden"/>, initialised from <paramref name="seed"/>'s init stream.</summary>
    public static LanguageModel Model(MlaQualityConfig config, MlaQualityVariant variant, int ffnHidden, Device device, int seed = 0) =>
        new(Of(config.Model, variant, ffnHidden), device, new Generator((ulong)Seeding.Stream(seed, 0), device));

    /// <summary>Parameters of one block's attention under <paramref name="variant"/> (counted on a built module).</summary>
    public static long AttentionParameters(ModelConfig model, MlaQualityVariant variant)
    {
        using var block = new Block(Of(model, variant), 0, CPU);
        return block.Attention.parameters().Sum(p => p.numel());
    }

    /// <summary>The budget: parameters of the tiny LM with multi-head attention at the config's intermediate_size.</summary>
    public static long ParameterBudget(MlaQualityConfig config)
    {
        using var reference = Model(config, new MlaQualityVariant("mha", AttentionKind.Mha), config.Model.IntermediateSize, CPU);
        return reference.ParameterCount;
    }

    /// <summary>
    /// The matching rule: a variant whose attention has ΔA fewer parameters per block than MHA's gets
    /// round(ΔA / (3·d)) more SwiGLU hidden units per block (ΔA &lt; 0 gives fewer), since each unit holds 3·d
    /// parameters. Every block changes alike, so the total misses the budget by at most 1.5·d·L parameters.
    /// </summary>
    public static int MatchedFfnHidden(ModelConfig model, MlaQualityVariant variant)
    {
        long saved = AttentionParameters(model, new MlaQualityVariant("mha", AttentionKind.Mha)) - AttentionParameters(model, variant);
        return model.IntermediateSize + (int)Math.Round((double)saved / (SwiGluMatricesPerHiddenUnit * model.HiddenSize), MidpointRounding.AwayFromZero);
    }

    private static Tensor CrossEntropy(LanguageModel model, LmBatch batch) => LanguageModel.CrossEntropy(model.forward(batch.Inputs), batch.Targets);

    private static double Evaluate(LanguageModel model, IReadOnlyList<DomainBatch> batches)
    {
        using var noGrad = no_grad();
        double total = 0;
        foreach (var batch in batches)
        {
            using var scope = NewDisposeScope();
            total += CrossEntropy(model, batch.Lm).item<float>();
        }
        return total / batches.Count;
    }

    private static MlaQualityVariantResult RunVariant(MlaQualityConfig config, MlaQualityVariant variant, string where, long budget,
        MultiDomainCorpus corpus, IReadOnlyList<DomainBatch> validation, Device device, IProgress<ExperimentProgress>? progress,
        CancellationToken cancellation)
    {
        int ffnHidden = MatchedFfnHidden(config.Model, variant);
        if (ffnHidden < 1)
            throw new ConfigException($"{where}: its attention has more parameters than MHA's plus the whole feed-forward (Model.IntermediateSize = {config.Model.IntermediateSize}); the parameter count cannot be matched");
        using var model = Model(config, variant, ffnHidden, device, config.RunSeed());
        double gap = (double)(model.ParameterCount - budget) / budget;
        if (Math.Abs(gap) > config.ParameterTolerance)
            throw new ConfigException($"{where}: {model.ParameterCount:N0} parameters miss the budget {budget:N0} by {gap:P2}, beyond MlaQualityConfig.ParameterTolerance ({config.ParameterTolerance:P2})");
        long perLayer, bytesFloat32;
        using (var cache = model.NewCache(1, 1))
        {
            perLayer = cache.ElementsPerToken / config.Model.NumHiddenLayers;
            bytesFloat32 = cache.Layers.Sum(l => l.AllocatedBytes) / (cache.Layers[0].Batch * cache.Layers[0].Capacity);
        }
        long elements = perLayer * config.Model.NumHiddenLayers;

        model.eval();
        double initial = Evaluate(model, validation);
        using var trainer = new Trainer(model, config.Training);
        var data = new Random((int)Seeding.Stream(config.RunSeed(), 1));   // the same batches for every variant
        var recent = new Queue<double>();
        var watch = Stopwatch.StartNew();
        var curve = trainer.Run(step =>
            {
                var batch = corpus.Sample(config.BatchSize, data, device);   // disposed with the trainer's step scope
                var loss = CrossEntropy(model, batch.Lm);
                recent.Enqueue(loss.item<float>());
                if (recent.Count > config.Training.LogEvery) recent.Dequeue();
                return new StepLoss(loss, batch.Lm.Inputs.numel());
            },
            evaluate: () => Evaluate(model, validation), progress: progress, stage: variant.Name, cancellation: cancellation);
        double seconds = watch.Elapsed.TotalSeconds;
        model.eval();
        double validationLoss = curve[^1].ValidationLoss ?? Evaluate(model, validation);
        var (matches, logitError) = CheckDecoding(model, config, validation);
        var built = model.Config;
        return new MlaQualityVariantResult(variant.Name, variant.Kind, variant.KeyValueHeads(config.Model.NumAttentionHeads), built.KvLoraRank ?? 0,
            built.IsMla ? built.QkRopeHeadDim : 0, built.QLoraRank ?? 0, ffnHidden, perLayer, elements, bytesFloat32, elements * Bf16Bytes,
            model.ParameterCount, AttentionParameters(config.Model, variant), gap, initial, recent.Average(), validationLoss, seconds,
            matches, logitError, curve);
    }

    /// <summary>
    /// Greedy decoding of the first validation prompts with the KV cache (<see cref="Generation.GreedyCached"/>) and by
    /// re-running the full forward (<see cref="Generation.Greedy"/>): (same tokens?, largest logit difference of cached
    /// decoding over prompt and generated tokens against the full forward).
    /// </summary>
    public static (bool Matches, double MaxLogitError) CheckDecoding(LanguageModel model, MlaQualityConfig config, IReadOnlyList<DomainBatch> validation)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var rows = cat([.. validation.Select(b => b.Lm.Inputs)], 0);
        var prompts = rows.narrow(0, 0, config.DecodePrompts).narrow(1, 0, config.DecodePromptLength);   // [P, T_p]
        var full = Generation.Greedy(model, prompts, config.DecodeTokens);                               // [P, N]
        var cached = Generation.GreedyCached(model, prompts, config.DecodeTokens);
        bool matches = full.eq(cached).all().item<bool>();   // [P, N] token by token
        // Logits of every position of prompt + generated (the last generated token is never read), both ways.
        var sequence = cat([prompts, full.narrow(1, 0, config.DecodeTokens - 1)], 1);                   // [P, T_p + N − 1]
        var reference = model.forward(sequence);                                                         // [P, S, V]
        using var cache = model.NewCache(config.DecodePrompts, (int)sequence.shape[1]);
        var steps = new List<Tensor> { model.Decode(prompts, cache) };
        for (int t = config.DecodePromptLength; t < sequence.shape[1]; t++) steps.Add(model.Decode(sequence.narrow(1, t, 1), cache));
        double error = (cat(steps, 1) - reference).abs().max().item<float>();
        return (matches, error);
    }

    /// <summary>The experiment: default config from data/configs/mla-quality.json.</summary>
    public static Experiment<MlaQualityConfig, MlaQualityResult> Experiment { get; } = new(
        Id,
        "MLA vs MHA, GQA and MQA: validation loss against KV cache per token",
        "The tiny LM trained on the synthetic four-domain corpus once per attention variant — multi-head, grouped-query, " +
        "multi-query and multi-head latent attention — with the same seed, batches and steps and parameter counts matched " +
        "through the feed-forward width, each compared with the first over the seeds: validation loss against KV-cache elements and bytes per token, loss curves, and a " +
        "check that each trained model's cached greedy decoding gives the tokens of the full forward (DeepSeek-V2 App. D at toy scale).",
        (config, seed, request) => RunSeed(config, seed, request.Device, request.Progress, request.Cancellation), (config, seeded) => Output(config, seeded.First),
        config => Metrics(config))
    {
        Cached = true,
    };

    /// <summary>A run that ends above this validation loss has diverged: worse than the uniform guess over the corpus's characters.</summary>
    public static readonly double DivergedAbove = Math.Log(MultiDomainCorpus.VocabularySize);

    /// <summary>The equivalence margin of the validation loss (nats per token), as v3-mini's.</summary>
    public const double LossMargin = 0.02;

    /// <summary>Every variant's validation loss against the first variant's (the reference, MHA in the default config), paired by seed.</summary>
    public static IReadOnlyList<ExperimentMetric<MlaQualityResult>> Metrics(MlaQualityConfig config) =>
    [
        new("validation loss", config.Variants[0].Name, Statistics.Direction.Lower, r => r.Variants.Select(v => (v.Name, v.ValidationLoss)),
            LossMargin, DivergedAbove) { Source = "variants[name].validationLoss (nats per token)" },
    ];

    public static ExperimentDefinition Definition => Experiment.Definition;

    /// <summary>Summary lines, tables and charts of a run.</summary>
    public static ExperimentOutput Output(MlaQualityConfig config, MlaQualityResult result)
    {
        var summary = new List<string>
        {
            $"tiny LM: {result.Layers} layers, d = {result.Dim}, n_h = {result.Heads} heads of d_h = {result.HeadDim}; " +
            $"parameter budget {result.ParameterBudget:N0} (MHA at intermediate_size {config.Model.IntermediateSize}), matched within ±{result.ParameterTolerance:P1} " +
            $"through the feed-forward width; {result.Steps} steps, {result.TrainingTokens:N0} tokens per variant, {result.Seconds:F0} s in all",
        };
        if (result.Variants.FirstOrDefault(v => v.Kind == AttentionKind.Mha) is { } mha)
        {
            // The logged point nearest half-way: a gap that shrinks from there is slower learning more than less capacity.
            int middle = mha.Curve.MinBy(p => Math.Abs(p.Step - result.Steps / 2.0))!.Step;
            double At(MlaQualityVariantResult v) => v.Curve.Single(p => p.Step == middle).ValidationLoss ?? double.NaN;
            summary.AddRange(result.Variants.Where(v => v != mha).Select(v =>
                $"{v.Name} vs {mha.Name}: {(double)v.CacheElementsPerToken / mha.CacheElementsPerToken:P0} of the cache, validation loss " +
                $"{v.ValidationLoss - mha.ValidationLoss:+0.0000;-0.0000} nats (at step {middle}: {At(v) - At(mha):+0.0000;-0.0000})"));
        }
        summary.Add("paper (V2 App. D): 7B dense, MHA beat GQA and MQA; ~16B and ~250B MoE, MLA beat MHA with 15.6K vs 110.6K and 34.6K vs 860.2K cache elements/token");

        var variants = ResultTable.Of("variants", result.Variants);
        var curves = ResultTable.Of("loss_curves", "variant", result.Variants.SelectMany(v => v.Curve.Select(p => (v.Name, p))), display: false);
        return new ExperimentOutput(config, config.Seeds, result, summary, [variants, curves],
        [
            new NamedChart("loss-vs-cache", "Validation loss against KV cache per token", MlaQualityCharts.LossAgainstCache(result)),
            new NamedChart("validation-loss", "Validation loss by training step", MlaQualityCharts.ValidationCurves(result)),
            new NamedChart("training-loss", "Training loss by training step", MlaQualityCharts.TrainingCurves(result)),
        ]);
    }
}

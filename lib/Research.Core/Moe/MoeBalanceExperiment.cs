using System.Diagnostics;
using System.Text.Json.Serialization;
using Research.Data;
using Research.Experiments;
using Research.Models;
using Research.Platform;
using Research.Training;
using static TorchSharp.torch;

namespace Research.Moe;

/// <summary>One strategy's run.</summary>
/// <param name="MaxVioGlobal">MaxVio of the loads summed over the validation set, averaged over layers (LF §4.1).</param>
/// <param name="MaxVioGlobalByLayer">The same per layer.</param>
/// <param name="MaxVioBatch">MaxVio_batch averaged over layers and over the last quarter of training steps.</param>
/// <param name="FinalLoss">Training cross-entropy (balancing losses excluded) averaged over the last log window.</param>
/// <param name="ValidationLoss">Cross-entropy on the held-out batches at the end.</param>
/// <param name="MaxVioBatchByStep">MaxVio_batch of every training step, averaged over layers.</param>
/// <param name="Loads">Assignments per expert of every training step: [layer][step][expert] (written as a CSV, not JSON).</param>
/// <param name="DomainLoads">Validation assignments per expert by the domain of the token's sequence: [layer][domain][expert].</param>
/// <param name="Bias">The balancing biases at the end: [layer][expert].</param>
/// <param name="DomainInformation">I(domain; expert) in bits on the validation set, averaged over layers: how much
/// the expert choice tells about the domain (0 = no specialisation, 2 bits = experts split cleanly by domain).</param>
public sealed record MoeStrategyResult(
    string Name, double AuxLossAlpha, double SequenceAuxLossAlpha, double BiasUpdateSpeed,
    double MaxVioGlobal, double[] MaxVioGlobalByLayer, double MaxVioBatch, double FinalLoss, double ValidationLoss,
    double Seconds, IReadOnlyList<LogPoint> Curve, double[] MaxVioBatchByStep,
    [property: JsonIgnore] long[][][] Loads, long[][][] DomainLoads, double[][] Bias, double DomainInformation);

/// <summary>A row of <c>strategies.csv</c>.</summary>
public sealed record StrategyRow(string Name, [property: Column(Format = "G3")] double AuxLossAlpha, [property: Column(Format = "G3")] double SequenceAuxLossAlpha,
    [property: Column(Format = "G3")] double BiasUpdateSpeed, [property: Column(Format = "F3")] double MaxVioGlobal, [property: Column(Format = "F3")] double MaxVioBatch,
    [property: Column(Format = "F4")] double FinalLoss, [property: Column(Format = "F4")] double ValidationLoss,
    [property: Column(Format = "F3")] double DomainInformationBits, [property: Column(Format = "F1")] double Seconds);

/// <summary>A row of <c>expert_loads.csv</c>: assignments per expert at one training step.</summary>
public sealed record ExpertLoadRow(string Strategy, int Layer, int Step, [property: Column(Spread = true)] long[] Expert);

/// <summary>A row of <c>domain_loads.csv</c>: validation assignments per expert of one domain's tokens.</summary>
public sealed record DomainLoadRow(string Strategy, int Layer, string Domain, [property: Column(Spread = true)] long[] Expert);

/// <param name="Domains">Domain names, in the order of <see cref="MoeStrategyResult.DomainLoads"/>.</param>
/// <param name="ActiveParameters">Parameters a token passes through (embeddings, attention, shared and K_r routed experts, head).</param>
public sealed record MoeBalanceResult(IReadOnlyList<MoeStrategyResult> Strategies, IReadOnlyList<string> Domains,
    int Layers, int Experts, int TopK, long Parameters, long ActiveParameters, int Steps, long TrainingTokens);

/// <summary>
/// <c>moe-balance</c>: the tiny LM with MoE feed-forward layers trained on the multi-domain corpus once per balancing
/// strategy — same initial weights, batches and steps — to compare balance (MaxVio) and loss, as the
/// auxiliary-loss-free balancing paper (LF Tables 2–3) and V3 (Table 5) compare their strategies at scale.
/// </summary>
public static class MoeBalanceExperiment
{
    public const string Id = "moe-balance";

    /// <summary>Every seed of <paramref name="config"/>, then the comparisons over them (see <see cref="Experiment"/>).</summary>
    public static SeededResult<MoeBalanceResult> Run(MoeBalanceConfig config, Device device, IProgress<ExperimentProgress>? progress = null,
        CancellationToken cancellation = default) => Experiment.Run(config, device, progress, cancellation);


    private static MoeBalanceResult Train(MoeBalanceConfig config, Device device, IProgress<ExperimentProgress>? progress,
        CancellationToken cancellation)
    {
        TorchRuntime.EnsureLoaded();
        var corpus = new MultiDomainCorpus(config.Corpus);
        var validation = Enumerable.Range(0, config.ValidationBatches).Select(_ => (DomainBatch?)null).ToArray();
        var validationRng = new Random((int)Seeding.Stream(config.RunSeed(), 2));
        for (int i = 0; i < validation.Length; i++) validation[i] = corpus.Sample(config.BatchSize, validationRng, device);
        try
        {
            var results = new List<MoeStrategyResult>();
            long parameters = 0, active = 0;
            foreach (var strategy in config.Strategies)
            {
                var stage = ShiftedProgress.Create(progress, strategy.Name, results.Count * config.Training.Steps, config.Strategies.Count * config.Training.Steps);
                results.Add(RunStrategy(config, strategy, corpus, validation!, device, stage, cancellation, out parameters, out active));
            }
            progress?.Report(new ExperimentProgress("done", config.Strategies.Count * config.Training.Steps, config.Strategies.Count * config.Training.Steps));
            long tokens = (long)config.Training.Steps * config.BatchSize * config.Corpus.SequenceLength;
            return new MoeBalanceResult(results, [.. Enum.GetValues<Domain>().Select(MultiDomainCorpus.Name)], config.Model.NumHiddenLayers,
                config.Router.Experts, config.Router.TopK, parameters, active, config.Training.Steps, tokens);
        }
        finally
        {
            foreach (var b in validation) b?.Dispose();
        }
    }

    /// <summary>The tiny LM of the config with an MoE feed-forward layer in every block.</summary>
    public static LanguageModel Model(MoeBalanceConfig config, MoeBalanceStrategy strategy, Device device) =>
        new(config.Layer(strategy), device, new Generator((ulong)Seeding.Stream(config.RunSeed(), 0), device));

    /// <summary>The MoE layers of a model built by <see cref="Model"/>, in block order.</summary>
    public static IReadOnlyList<MoeLayer> MoeLayers(LanguageModel model) => [.. model.Blocks.Select(b => (MoeLayer)b.FeedForward)];

    /// <summary>
    /// One training step's loss: next-token cross-entropy plus each layer's balancing loss. Before routing the batch,
    /// every layer's bias moves using the loads of the previous batch (never this one: LF §3 warns that using the
    /// current sequence's loads leaks future tokens). <paramref name="onLoss"/> receives the cross-entropy alone.
    /// </summary>
    public static Func<int, StepLoss> StepLoss(MoeBalanceConfig config, MultiDomainCorpus corpus, LanguageModel model, Random data, Device device,
        Action<Tensor>? onLoss = null)
    {
        var layers = MoeLayers(model);
        return step =>
        {
            if (step > 1) foreach (var layer in layers) layer.UpdateBias();
            var batch = corpus.Sample(config.BatchSize, data, device);   // disposed with the trainer's step scope
            var ce = CrossEntropy(model, batch.Lm);
            onLoss?.Invoke(ce);
            var loss = ce;
            foreach (var layer in layers)
                if (layer.LastBalanceLoss is Tensor balance) loss = loss + balance;
            return new StepLoss(loss, batch.Lm.Inputs.numel());
        };
    }

    private static Tensor CrossEntropy(LanguageModel model, LmBatch batch) => LanguageModel.CrossEntropy(model.forward(batch.Inputs), batch.Targets);

    private static MoeStrategyResult RunStrategy(MoeBalanceConfig config, MoeBalanceStrategy strategy, MultiDomainCorpus corpus,
        DomainBatch[] validation, Device device, IProgress<ExperimentProgress>? progress, CancellationToken cancellation,
        out long parameters, out long active)
    {
        using var model = Model(config, strategy, device);
        var layers = MoeLayers(model);
        parameters = model.ParameterCount;
        active = ActiveParameterCount(model, config);
        using var trainer = new Trainer(model, config.Training);
        int steps = config.Training.Steps;
        var loads = layers.Select(_ => new long[steps][]).ToArray();
        var maxVioByStep = new double[steps];
        var recentCe = new Queue<double>();
        var stepLoss = StepLoss(config, corpus, model, new Random((int)Seeding.Stream(config.RunSeed(), 1)), device, ce =>
        {
            recentCe.Enqueue(ce.item<float>());
            if (recentCe.Count > config.Training.LogEvery) recentCe.Dequeue();
        });
        var watch = Stopwatch.StartNew();
        var curve = trainer.Run(step =>
            {
                var result = stepLoss(step);
                for (int l = 0; l < layers.Count; l++) loads[l][step - 1] = layers[l].LastStats!.Loads;
                maxVioByStep[step - 1] = layers.Average(layer => layer.LastStats!.MaxVio);
                return result;
            },
            evaluate: () => Evaluate(model, validation).Loss, progress: progress, stage: strategy.Name, cancellation: cancellation);
        double seconds = watch.Elapsed.TotalSeconds;

        model.eval();
        foreach (var layer in layers) layer.RecordSelections = true;
        var final = Evaluate(model, validation, layers);
        var globalByLayer = final.Loads.Select(l => LoadMetrics.MaxVio(l)).ToArray();
        int tail = Math.Max(1, steps / 4);
        var bias = layers.Select(l => l.Router.Bias.cpu().data<float>().Select(b => (double)b).ToArray()).ToArray();
        return new MoeStrategyResult(strategy.Name, strategy.AuxLossAlpha, strategy.SequenceAuxLossAlpha, strategy.BiasUpdateSpeed,
            globalByLayer.Average(), globalByLayer, maxVioByStep[^tail..].Average(), recentCe.Average(), final.Loss,
            seconds, curve, maxVioByStep, loads, final.DomainLoads, bias,
            final.DomainLoads.Average(table => LoadMetrics.MutualInformation(table)));
    }

    private sealed record Evaluation(double Loss, long[][] Loads, long[][][] DomainLoads);

    // Validation cross-entropy; with layers given, also each layer's loads over the whole set and by domain.
    private static Evaluation Evaluate(LanguageModel model, DomainBatch[] batches, IReadOnlyList<MoeLayer>? layers = null)
    {
        using var noGrad = no_grad();
        int experts = layers?.FirstOrDefault()?.Router.Config.Experts ?? 0, domains = Enum.GetValues<Domain>().Length;
        var loads = (layers ?? []).Select(_ => new long[experts]).ToArray();
        var byDomain = (layers ?? []).Select(_ => Enumerable.Range(0, domains).Select(_ => new long[experts]).ToArray()).ToArray();
        double total = 0;
        foreach (var batch in batches)
        {
            using var scope = NewDisposeScope();
            total += CrossEntropy(model, batch.Lm).item<float>();
            if (layers is null) continue;
            long perSequence = batch.Lm.Inputs.shape[1] * layers[0].Router.Config.TopK;
            for (int l = 0; l < layers.Count; l++)
            {
                var chosen = layers[l].LastExperts!;
                for (int i = 0; i < chosen.Length; i++)
                {
                    loads[l][chosen[i]]++;
                    byDomain[l][(int)batch.Domains[i / perSequence]][chosen[i]]++;
                }
            }
        }
        return new Evaluation(total / batches.Length, loads, byDomain);
    }

    // Embeddings, attention, norms, head, the shared experts and K_r of N_r routed experts per layer.
    private static long ActiveParameterCount(LanguageModel model, MoeBalanceConfig config)
    {
        long routed = MoeLayers(model).Sum(l => l.parameters().Where(p => p.dim() == 3).Sum(p => p.numel()));
        return model.ParameterCount - routed + routed * config.Router.TopK / config.Router.Experts;
    }

    /// <summary>The experiment: default config from data/configs/moe-balance.json.</summary>
    public static Experiment<MoeBalanceConfig, MoeBalanceResult> Experiment { get; } = new(
        Id,
        "MoE load balancing: no balancing, auxiliary losses and auxiliary-loss-free bias",
        "The tiny LM with DeepSeekMoE feed-forward layers (shared + fine-grained routed SwiGLU experts, sigmoid gate) " +
        "trained on a synthetic four-domain corpus once per balancing strategy, with the same weights, batches and steps: " +
        "MaxVio per batch and over the validation set, training and validation loss, expert load by step and by domain.",
        (config, _, request) => Train(config, request.Device, request.Progress, request.Cancellation), (config, seeded) => Output(config, seeded.First),
        config => Metrics(config))
    {
        Cached = true,
    };

    /// <summary>The strategy the others are compared with: V3's auxiliary-loss-free bias when the config runs it, else the first.</summary>
    public static string Baseline(MoeBalanceConfig config) =>
        config.Strategies.Any(s => s.Name == "aux-loss-free") ? "aux-loss-free" : config.Strategies[0].Name;

    /// <summary>The equivalence margin of the validation loss (nats per token), as the strategies' sweep declares it.</summary>
    public const double LossMargin = 0.02;

    /// <summary>Each strategy's global MaxVio and validation loss against the baseline's, paired by seed.</summary>
    public static IReadOnlyList<ExperimentMetric<MoeBalanceResult>> Metrics(MoeBalanceConfig config) =>
    [
        new("MaxVio (global)", Baseline(config), Statistics.Direction.Lower, r => r.Strategies.Select(x => (x.Name, x.MaxVioGlobal)))
            { Source = "strategies[name].maxVioGlobal (validation set, mean over layers)" },
        new("validation loss", Baseline(config), Statistics.Direction.Lower, r => r.Strategies.Select(x => (x.Name, x.ValidationLoss)),
            LossMargin, Math.Log(MultiDomainCorpus.VocabularySize)) { Source = "strategies[name].validationLoss (nats per token)" },
    ];

    public static ExperimentDefinition Definition => Experiment.Definition;

    /// <summary>Summary lines, tables and charts of a run.</summary>
    public static ExperimentOutput Output(MoeBalanceConfig config, MoeBalanceResult result)
    {
        var summary = new List<string>
        {
            $"tiny MoE LM: {result.Layers} layers × ({config.SharedExperts} shared + {result.Experts} routed experts, top-{result.TopK}), " +
            $"{result.Parameters:N0} parameters, {result.ActiveParameters:N0} active per token; {result.Steps} steps, {result.TrainingTokens:N0} tokens per strategy",
            "paper (LF Tables 2–3, 1B / 3B models): aux-loss-free MaxVio_global 0.04 / 0.04 vs aux loss 0.72 / 0.52, with lower perplexity",
        };
        var strategies = ResultTable.Of("strategies", result.Strategies.Select(s => new StrategyRow(s.Name, s.AuxLossAlpha, s.SequenceAuxLossAlpha,
            s.BiasUpdateSpeed, s.MaxVioGlobal, s.MaxVioBatch, s.FinalLoss, s.ValidationLoss, s.DomainInformation, s.Seconds)));
        var loads = ResultTable.Of("expert_loads", result.Strategies.SelectMany(s => s.Loads.SelectMany((layer, l) =>
            layer.Select((step, i) => new ExpertLoadRow(s.Name, l, i + 1, step)))), display: false);
        var domains = ResultTable.Of("domain_loads", result.Strategies.SelectMany(s => s.DomainLoads.SelectMany((layer, l) =>
            layer.Select((row, d) => new DomainLoadRow(s.Name, l, result.Domains[d], row)))), display: false);
        var curves = ResultTable.Of("loss_curves", "strategy", result.Strategies.SelectMany(s => s.Curve.Select(p => (s.Name, p))), display: false);
        return new ExperimentOutput(config, config.Seeds, result, summary, [strategies, loads, domains, curves],
        [
            new NamedChart("summary", "MaxVio_global and validation loss per strategy", MoeCharts.Summary(result)),
            new NamedChart("max-vio", "MaxVio_batch by training step", MoeCharts.MaxVioCurves(result)),
            new NamedChart("expert-load", "Expert load by step, per layer and strategy", MoeCharts.LoadHeatmaps(result)),
            new NamedChart("domain-experts", "Experts used by each domain", MoeCharts.DomainHeatmaps(result)),
        ]);
    }
}

using Research.Experiments;

namespace Research.Rl;

public static partial class R1ZeroExperiment
{
    /// <summary>The experiment: default config from data/configs/r1-zero.json.</summary>
    public static Experiment<R1ZeroConfig, R1ZeroResult> Experiment { get; } = new(
        Id,
        "R1-Zero in miniature: GRPO with rule-based rewards, against distillation and a cold start",
        "A small base model, pretrained briefly on addition solutions with and without scratchpad and template, trained by " +
        "GRPO with accuracy and format rewards (and by Dr. GRPO); a larger model made as R1 was (cold start, then GRPO) and distilled into the " +
        "small one by SFT on its correct samples at the same budget; and a short SFT cold start followed by GRPO. Scored by " +
        "pass@1 and cons@k of sampled answers on held-out problems.",
        (config, _, request) => Train(config, request.Device, request.Progress, request.Cancellation), (config, seeded) => Output(config, seeded.First),
        Metrics)
    {
        Cached = true,
    };

    /// <summary>The run the others are compared with: GRPO from the base model, R1-Zero's recipe.</summary>
    public const string Baseline = "grpo";

    /// <summary>The equivalence margin of pass@1: within ±3 points counts as no difference.</summary>
    public const double PassMargin = 0.03;

    /// <summary>
    /// Held-out pass@1 of the base model and of every run against GRPO's, paired by seed: "base" below GRPO is what RL
    /// bought; "distilled" above it is R1's finding for small models.
    /// </summary>
    public static IReadOnlyList<ExperimentMetric<R1ZeroResult>> Metrics(R1ZeroConfig config) =>
    [
        new("pass@1", Baseline, Statistics.Direction.Higher, r => r.Runs.Select(x => (x.Name, x.PassAt1)).Prepend(("base", r.Base.PassAt1)), PassMargin)
            { Source = "runs[name].passAt1 and base.passAt1 (held-out problems, the mean over k samples each)", Trials = config.Evaluation.Problems },
    ];

    public static ExperimentDefinition Definition => Experiment.Definition;

    /// <summary>Summary lines, tables and charts of a run.</summary>
    public static ExperimentOutput Output(R1ZeroConfig config, R1ZeroResult result)
    {
        var b = result.Base;
        int k = config.Evaluation.Samples;
        var summary = new List<string>
        {
            $"base model: {b.Parameters:N0} parameters, {b.PretrainingSteps} pretraining steps: pass@1 {b.PassAt1:P1}, cons@{k} {b.ConsAtK:P1}, " +
            $"{b.ResponseLength:F1} tokens per response, format {b.FormatShare:P0}, scratchpad {b.ScratchpadShare:P0}",
            $"large model for distillation: {result.Teacher.Parameters:N0} parameters, base pass@1 {result.LargeBase.PassAt1:P1} → after a cold start and GRPO {result.Teacher.PassAt1:P1}, " +
            $"scratchpad {result.LargeBase.ScratchpadShare:P0} → {result.Teacher.ScratchpadShare:P0} ({Faithful(result.Teacher.Evaluations[^1].FaithfulShare)}); cons_at_k is cons@{k}",
        };
        foreach (var r in result.Runs.Where(r => r.LengthTrend is not null))
            summary.Add($"{r.Name}: response length {Describe(r.LengthTrend!, "F1")} tokens, scratchpad use {Describe(r.ScratchpadTrend!, "P0")}");
        summary.Add($"memory: RL step {result.MemoryFirst.Step} {result.MemoryFirst.WorkingSetMegabytes:F1} MB, step {result.MemoryLast.Step} " +
            $"{result.MemoryLast.WorkingSetMegabytes:F1} MB ({result.MemoryLast.WorkingSetMegabytes - result.MemoryFirst.WorkingSetMegabytes:+0.0;-0.0} MB); " +
            $"live tensors {result.MemoryFirst.LiveTensors} → {result.MemoryLast.LiveTensors}");

        RunResult[] all = [result.Teacher, .. result.Runs];   // every run, the teacher first
        var runs = ResultTable.Of("runs", all.Select(r => new RlRunRow(r.Name, r.Parameters, r.PassAt1, r.ConsAtK, r.ResponseLength,
            r.FormatShare, r.ScratchpadShare, r.Evaluations[^1].FaithfulShare, r.Updates, r.Seconds)));
        var steps = ResultTable.Of("rl_steps", "run", all.SelectMany(r => r.Steps.Select(s => (r.Name, s))), display: false);
        var evaluations = ResultTable.Of("evaluations", "run", all.SelectMany(r => r.Evaluations.Select(e => (r.Name, e))), display: false);
        var samples = ResultTable.Of("samples", "run", all.SelectMany(r => r.Samples.Select(s => (r.Name, s))), display: false);
        return new ExperimentOutput(config, config.Seeds, result, summary, [runs, steps, evaluations, samples],
        [
            new NamedChart("pass-at-1", "Held-out pass@1 during training", RlCharts.HeldOut(result, e => e.PassAt1, "pass@1 (%)")),
            new NamedChart("cons-at-k", $"Held-out cons@{k} during training", RlCharts.HeldOut(result, e => e.ConsAtK, $"cons@{k} (%)")),
            new NamedChart("reward", "Mean reward of the rollouts per RL step", RlCharts.PerStep(result, s => s.Reward, "mean reward", percent: false)),
            new NamedChart("response-length", "Mean response length per RL step", RlCharts.PerStep(result, s => s.ResponseLength, "tokens per response", percent: false)),
            new NamedChart("scratchpad", "Share of rollouts that use the scratchpad", RlCharts.PerStep(result, s => s.ScratchpadShare, "responses with a scratchpad (%)", percent: true)),
            new NamedChart("final", "Final held-out pass@1 and cons@k per run", RlCharts.Final(result, k)),
        ]);
    }

    private static string Describe(Trend t, string format) =>
        $"{(t.Rose ? "rose" : "did not rise")} ({t.Start.ToString(format)} → {t.End.ToString(format)}, slope {(t.SlopePerStep >= 0 ? "+" : "")}{t.SlopePerStep:0.000} per step)";

    private static string Faithful(double share) => double.IsNaN(share) ? "none written" : $"{share:P0} of them faithful";
}

/// <summary>A row of <c>runs.csv</c>: a run's final held-out scores.</summary>
public sealed record RlRunRow(string Name, long Parameters, [property: Column("pass_at_1", Format = "P1")] double PassAt1, [property: Column(Format = "P1")] double ConsAtK,
    [property: Column(Format = "F1")] double ResponseLength, [property: Column(Format = "P0")] double FormatShare, [property: Column(Format = "P0")] double ScratchpadShare,
    [property: Column(Format = "P0")] double FaithfulShare, int Updates, [property: Column(Format = "F1")] double Seconds);


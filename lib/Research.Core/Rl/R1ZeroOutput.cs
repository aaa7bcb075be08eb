using Research.Experiments;

namespace Research.Rl;

public static partial class R1ZeroExperiment
{
    /// <summary>The registry entry: default config from data/configs/r1-zero.json.</summary>
    public static ExperimentDefinition Definition { get; } = new(
        Id,
        "R1-Zero in miniature: GRPO with rule-based rewards, against distillation and a cold start",
        "A small base model, pretrained briefly on addition solutions with and without scratchpad and template, trained by " +
        "GRPO with accuracy and format rewards (and by Dr. GRPO); a larger model made as R1 was (cold start, then GRPO) and distilled into the " +
        "small one by SFT on its correct samples at the same budget; and a short SFT cold start followed by GRPO. Scored by " +
        "pass@1 and cons@k of sampled answers on held-out problems.",
        request =>
        {
            var config = ExperimentConfigs.Load<R1ZeroConfig>(Id, request.ConfigPath, request.Workshop);
            if (request.Seed is int seed) config = config with { Seed = seed };
            var result = Run(config.Validated(), request.Device, request.Progress, request.Cancellation);
            return Output(config, result);
        })
    {
        Schema = ExperimentSchema.Of<R1ZeroConfig, R1ZeroResult>(c => c.Validated()),
    };

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
            $"scratchpad {result.LargeBase.ScratchpadShare:P0} → {result.Teacher.ScratchpadShare:P0} ({Faithful(result.Teacher.Evaluations[^1].FaithfulShare)})",
            $"run               pass@1   cons@{k}   length   format   scratchpad   faithful   updates   seconds",
        };
        summary.AddRange(result.Runs.Select(r =>
            $"{r.Name,-16} {r.PassAt1,7:P1} {r.ConsAtK,7:P1} {r.ResponseLength,8:F1} {r.FormatShare,8:P0} {r.ScratchpadShare,12:P0} {(double.IsNaN(r.Evaluations[^1].FaithfulShare) ? "–" : r.Evaluations[^1].FaithfulShare.ToString("P0")),10} {r.Updates,9} {r.Seconds,9:F1}"));
        foreach (var r in result.Runs.Where(r => r.LengthTrend is not null))
            summary.Add($"{r.Name}: response length {Describe(r.LengthTrend!, "F1")} tokens, scratchpad use {Describe(r.ScratchpadTrend!, "P0")}");
        summary.Add($"memory: RL step {result.MemoryFirst.Step} {result.MemoryFirst.WorkingSetMegabytes:F1} MB, step {result.MemoryLast.Step} " +
            $"{result.MemoryLast.WorkingSetMegabytes:F1} MB ({result.MemoryLast.WorkingSetMegabytes - result.MemoryFirst.WorkingSetMegabytes:+0.0;-0.0} MB); " +
            $"live tensors {result.MemoryFirst.LiveTensors} → {result.MemoryLast.LiveTensors}");

        RunResult[] all = [result.Teacher, .. result.Runs];   // every run, the teacher first
        var runs = new ResultTable("runs", ["name", "parameters", "pass_at_1", "cons_at_k", "response_length", "format_share", "scratchpad_share", "updates", "seconds"],
            [.. all.Select(r => (IReadOnlyList<object>)[r.Name, r.Parameters, r.PassAt1, r.ConsAtK, r.ResponseLength,
                r.FormatShare, r.ScratchpadShare, r.Updates, r.Seconds])]);
        var steps = new ResultTable("rl_steps", ["run", "step", "reward", "accuracy_reward", "format_reward", "response_length", "scratchpad_share", "kl", "entropy",
                "silent_groups", "sample_seconds", "update_seconds"],
            [.. all.SelectMany(r => r.Steps.Select(s => (IReadOnlyList<object>)[r.Name, s.Step, s.Reward, s.AccuracyReward,
                s.FormatReward, s.ResponseLength, s.ScratchpadShare, s.Kl, s.Entropy, s.SilentGroups, s.SampleSeconds, s.UpdateSeconds]))]);
        var evaluations = new ResultTable("evaluations", ["run", "step", "pass_at_1", "cons_at_k", "response_length", "format_share", "scratchpad_share", "faithful_share"],
            [.. all.SelectMany(r => r.Evaluations.Select(e => (IReadOnlyList<object>)[r.Name, e.Step, e.PassAt1, e.ConsAtK,
                e.ResponseLength, e.FormatShare, e.ScratchpadShare, e.FaithfulShare]))]);
        var samples = new ResultTable("samples", ["run", "step", "problem", "response", "reward", "correct"],
            [.. all.SelectMany(r => r.Samples.Select(s => (IReadOnlyList<object>)[r.Name, s.Step, s.Problem, s.Response, s.Reward, s.Correct]))]);
        return new ExperimentOutput(config, config.Seed, result, summary, [runs, steps, evaluations, samples],
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

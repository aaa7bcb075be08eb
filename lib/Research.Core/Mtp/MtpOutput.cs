using Research.Experiments;

namespace Research.Mtp;

/// <summary>Summary lines, tables and charts of an <c>mtp</c> run.</summary>
public static class MtpOutput
{
    public static ExperimentOutput Of(MtpExperimentConfig config, MtpResult result)
    {
        var summary = new List<string>
        {
            $"tiny LM, {config.CorpusModel.NumHiddenLayers} layers, d = {config.CorpusModel.HiddenSize}; D ∈ {{{string.Join(", ", config.Depths)}}} MTP depths, " +
            $"λ = {config.Lambda} then {config.FinalLambda} for the last {config.FinalFraction:P0} of the steps; seeds {string.Join(", ", result.Seeds)}; {result.Seconds:F0} s in all",
            "run                 parameters  +MTP     init loss  val loss (main)  depth losses      exact  ms/step  accept  tok/fwd  speed-up  identical",
        };
        summary.AddRange(result.Runs.Select(r =>
            $"{r.Name,-19} {r.Parameters,10:N0} {r.MtpParameters,7:N0} {r.InitialValidationLoss,10:F4} {r.ValidationLoss,16:F4}  " +
            $"{string.Join(" ", r.DepthValidationLosses.Select(l => l.ToString("F3"))),-16} {(r.ExactMatch is double e ? e.ToString("P1") : "—"),6} {r.StepMs,8:F1}  " +
            $"{(r.Decoding is { } d ? $"{d.AcceptanceRate,6:P1}  {d.TokensPerForward,7:F2}  {d.Speedup,7:F2}×  {(d.Identical ? "yes" : "NO"),9}" : "     —        —         —          —")}"));
        foreach (var c in result.Comparisons)
            summary.Add($"{c.Task}: D = {c.Depth} vs D = 0, validation loss {c.MeanDelta:+0.0000;-0.0000} nats on average " +
                $"({string.Join(", ", c.Deltas.Select(d => d.ToString("+0.0000;-0.0000")))} by seed; D = 0 seed noise {c.SeedNoise:F4}): {c.Verdict}");
        foreach (var r in result.Runs.Where(r => r.Decoding is not null && r.Seed == config.Seed))
            summary.Add($"{r.Name} acceptance by {(r.Task == MtpExperiment.CorpusTask ? "domain" : "task")}: " +
                string.Join(", ", r.Decoding!.ByGroup.Select(g => $"{g.Group} {g.AcceptanceRate:P0}")) +
                $"; {r.Decoding.PlainTokensPerSecond:F0} → {r.Decoding.SpeculativeTokensPerSecond:F0} tokens/s; one step: main {r.Decoding.Cost.MainMs:F2} ms per token, " +
                $"verify {r.Decoding.Cost.VerifyMs:F2} ms + draft {r.Decoding.Cost.DraftMs:F2} ms for {r.Decoding.TokensPerForward:F2} tokens → predicted {r.Decoding.PredictedSpeedup:F2}×, measured {r.Decoding.Speedup:F2}×");
        summary.Add("paper (V3 §5.4.3): 85–90 % of second-token drafts accepted, 1.8× tokens per second; V3 Table 4: MTP improved most benchmarks at equal inference cost");

        var runs = new ResultTable("runs",
            ["name", "task", "depth", "seed", "parameters", "mtp_parameters", "initial_validation_loss", "validation_loss", "depth_validation_losses",
             "exact_match", "step_ms", "seconds", "acceptance_rate", "tokens_per_forward", "plain_tokens_per_second", "speculative_tokens_per_second", "speedup", "predicted_speedup", "identical"],
            [.. result.Runs.Select(r => (IReadOnlyList<object>)[r.Name, r.Task, r.Depth, r.Seed, r.Parameters, r.MtpParameters, r.InitialValidationLoss,
                r.ValidationLoss, string.Join(" ", r.DepthValidationLosses.Select(l => l.ToString("R"))), r.ExactMatch ?? double.NaN, r.StepMs, r.Seconds,
                r.AcceptanceRate ?? double.NaN, r.Decoding?.TokensPerForward ?? double.NaN, r.Decoding?.PlainTokensPerSecond ?? double.NaN,
                r.Decoding?.SpeculativeTokensPerSecond ?? double.NaN, r.Speedup ?? double.NaN, r.Decoding?.PredictedSpeedup ?? double.NaN, r.Decoding?.Identical ?? true])]);
        var curves = new ResultTable("loss_curves", ["run", "step", "total_train_loss", "main_validation_loss", "learning_rate", "tokens", "seconds"],
            [.. result.Runs.SelectMany(r => r.Curve.Select(p => (IReadOnlyList<object>)[r.Name, p.Step, p.TrainLoss, p.ValidationLoss ?? double.NaN,
                p.LearningRate, p.Tokens, p.Seconds]))]);
        var acceptance = new ResultTable("acceptance", ["run", "group", "drafts", "accepted", "acceptance_rate"],
            [.. result.Runs.Where(r => r.Decoding is not null).SelectMany(r => r.Decoding!.ByGroup.Select(g =>
                (IReadOnlyList<object>)[r.Name, g.Group, g.Drafts, g.Accepted, g.AcceptanceRate]))]);
        var comparisons = new ResultTable("comparisons", ["task", "depth", "mean_delta", "deltas", "seed_noise", "verdict"],
            [.. result.Comparisons.Select(c => (IReadOnlyList<object>)[c.Task, c.Depth, c.MeanDelta, string.Join(" ", c.Deltas.Select(d => d.ToString("R"))), c.SeedNoise, c.Verdict])]);
        return new ExperimentOutput(config, config.Seed, result, summary, [runs, curves, acceptance, comparisons],
        [
            new NamedChart("validation-loss", "Main-model validation loss by step, with and without MTP", MtpCharts.ValidationCurves(result, config.Seed)),
            new NamedChart("acceptance-by-domain", "Acceptance of the depth-1 drafts by domain", MtpCharts.AcceptanceByGroup(result, config.Seed)),
            new NamedChart("speedup", "Self-speculative against plain cached greedy decoding", MtpCharts.Speedup(result, config.Seed)),
        ]);
    }
}

using Research.Experiments;

namespace Research.Mtp;

/// <summary>Summary lines, tables and charts of an <c>mtp</c> run.</summary>
public static class MtpOutput
{
    public static ExperimentOutput Of(MtpExperimentConfig config, SeededResult<MtpResult> seeded)
    {
        var result = seeded.First;
        var all = seeded.PerSeed.SelectMany(s => s.Result.Runs).ToList();
        var summary = new List<string>
        {
            $"tiny LM, {config.CorpusModel.NumHiddenLayers} layers, d = {config.CorpusModel.HiddenSize}; D ∈ {{{string.Join(", ", config.Depths)}}} MTP depths, " +
            $"λ = {config.Lambda} then {config.FinalLambda} for the last {config.FinalFraction:P0} of the steps; seeds {string.Join(", ", seeded.Seeds)}; {seeded.Seconds:F0} s in all",
        };
        foreach (var r in result.Runs.Where(r => r.Decoding is not null))
            summary.Add($"{r.Name} (seed {r.Seed}) acceptance by {(r.Task == MtpExperiment.CorpusTask ? "domain" : "task")}: " +
                string.Join(", ", r.Decoding!.ByGroup.Select(g => $"{g.Group} {g.AcceptanceRate:P0}")) +
                $"; {r.Decoding.PlainTokensPerSecond:F0} → {r.Decoding.SpeculativeTokensPerSecond:F0} tokens/s; one step: main {r.Decoding.Cost.MainMs:F2} ms per token, " +
                $"verify {r.Decoding.Cost.VerifyMs:F2} ms + draft {r.Decoding.Cost.DraftMs:F2} ms for {r.Decoding.TokensPerForward:F2} tokens → predicted {r.Decoding.PredictedSpeedup:F2}×, measured {r.Decoding.Speedup:F2}×");
        summary.Add("paper (V3 §5.4.3): 85–90 % of second-token drafts accepted, 1.8× tokens per second; V3 Table 4: MTP improved most benchmarks at equal inference cost");

        var runs = ResultTable.Of("runs", all.Select(r => new MtpRunRow(r.Key, r.Task, r.Depth, r.Seed, r.Parameters, r.MtpParameters,
            r.InitialValidationLoss, r.ValidationLoss, r.DepthValidationLosses, r.ExactMatch, r.StepMs, r.Seconds, r.AcceptanceRate, r.Decoding?.TokensPerForward,
            r.Decoding?.PlainTokensPerSecond, r.Decoding?.SpeculativeTokensPerSecond, r.Speedup, r.Decoding?.PredictedSpeedup, r.Decoding?.Identical ?? true)));
        // train_loss is the total loss (main + λ·MTP), validation_loss the main model's alone (see MtpRun.Curve).
        var curves = ResultTable.Of("loss_curves", "run", all.SelectMany(r => r.Curve.Select(p => (r.Key, p))), display: false);
        var acceptance = ResultTable.Of("acceptance", "run", all.Where(r => r.Decoding is not null).SelectMany(r => r.Decoding!.ByGroup.Select(g => (r.Key, g))), display: false);
        return new ExperimentOutput(config, seeded.Seeds, seeded, summary, [runs, curves, acceptance],
        [
            new NamedChart("validation-loss", "Main-model validation loss by step, with and without MTP", MtpCharts.ValidationCurves(result)),
            new NamedChart("acceptance-by-domain", "Acceptance of the depth-1 drafts by domain", MtpCharts.AcceptanceByGroup(result)),
            new NamedChart("speedup", "Self-speculative against plain cached greedy decoding", MtpCharts.Speedup(result)),
        ]);
    }
}

/// <summary>A row of <c>runs.csv</c>; the decoding columns are empty for D = 0.</summary>
public sealed record MtpRunRow(string Name, string Task, int Depth, int Seed, long Parameters, long MtpParameters,
    [property: Column(Format = "F4")] double InitialValidationLoss, [property: Column(Format = "F4")] double ValidationLoss,
    [property: Column(Format = "F3")] IReadOnlyList<double> DepthValidationLosses, [property: Column(Format = "P1")] double? ExactMatch,
    [property: Column(Format = "F1")] double StepMs, [property: Column(Format = "F1")] double Seconds, [property: Column(Format = "P1")] double? AcceptanceRate,
    [property: Column(Format = "F2")] double? TokensPerForward, [property: Column(Format = "F0")] double? PlainTokensPerSecond,
    [property: Column(Format = "F0")] double? SpeculativeTokensPerSecond, [property: Column(Format = "F2")] double? Speedup,
    [property: Column(Format = "F2")] double? PredictedSpeedup, bool Identical);


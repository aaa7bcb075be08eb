using Plotly.NET;
using Plotly.NET.CSharp;
using Research.Charts;
using Research.Experiments;
using Chart = Plotly.NET.CSharp.Chart;

namespace Research.V3Mini;

/// <summary>Summary lines, tables and charts of <c>v3-mini</c>.</summary>
public static class V3MiniOutput
{
    public static ExperimentOutput Of(V3MiniExperimentConfig config, V3MiniResult result)
    {
        var m = config.Full.Buildable();
        int tile = V3Fp8.Tile(m, config.Fp8Tile);
        var summary = new List<string>
        {
            $"DeepSeek-V3 in miniature: d = {m.HiddenSize}, {m.NumHiddenLayers} layers ({m.FirstKDenseReplace} dense), MLA d_c = {m.KvLoraRank}, d'_c = {m.QLoraRank}, " +
            $"{m.NumAttentionHeads} heads of {m.QkNopeHeadDim} + {m.QkRopeHeadDim} RoPE; {m.NSharedExperts} shared + {m.NRoutedExperts} routed experts of {m.MoeIntermediateSize}, " +
            $"top-{m.NumExpertsPerTok} in {m.TopkGroup} of {m.NGroup} groups, ×{m.RoutedScalingFactor}; {m.NumNextnPredictLayers} MTP depth; FP8 E4M3 with 1×{tile} tiles and {tile}×{tile} blocks " +
            $"(V3: 128); {config.Training.Steps} steps of {config.BatchSize} × {config.Corpus.SequenceLength} tokens; seeds {string.Join(", ", result.Seeds)}; {result.Seconds:F0} s in all",
            "run            val loss   total    activated  +MTP     train MFLOP/tok  KV B/tok  MaxVio  ms/step  tok/s plain  with MTP  accept  MB first→last",
        };
        summary.AddRange(result.Runs.Select(r =>
            $"{r.Key,-14} {r.ValidationLoss,8:F4} {r.TotalParameters,8:N0} {r.ActivatedParameters,10:N0} {r.MtpParameters,7:N0} {r.TrainingFlopsPerToken / 1e6,16:F2} " +
            $"{r.KvCacheBytesPerToken,9:N0} {(r.MaxVio is double v ? v.ToString("F3") : "—"),7} {r.StepMs,8:F1} {r.PlainTokensPerSecond,12:F0} " +
            $"{(r.SpeculativeTokensPerSecond is double s ? s.ToString("F0") : "—"),9} {(r.AcceptanceRate is double a ? a.ToString("P0") : "—"),7} {r.FirstStepMegabytes,6:F0}→{r.LastStepMegabytes:F0}"));
        foreach (var c in result.Comparisons)
            summary.Add($"{c.Name} ({V3MiniAblations.Describe(c.Name)}): {c.Delta:+0.0000;-0.0000} nats against full (seed noise {c.SeedNoise:F4}): {c.Verdict}");
        if (result.Runs.Any(r => !r.Identical)) summary.Add("speculative decoding DIFFERED from plain decoding on some prompt");

        var runs = new ResultTable("runs",
            ["name", "seed", "swapped", "validation_loss", "total_parameters", "activated_parameters", "mtp_parameters", "training_flops_per_token",
             "kv_cache_bytes_per_token", "max_vio", "step_ms", "plain_tokens_per_second", "speculative_tokens_per_second", "acceptance_rate", "identical",
             "first_step_mb", "last_step_mb", "fp8_tile"],
            [.. result.Runs.Select(r => (IReadOnlyList<object>)[r.Name, r.Seed, r.Swapped, r.ValidationLoss, r.TotalParameters, r.ActivatedParameters,
                r.MtpParameters, r.TrainingFlopsPerToken, r.KvCacheBytesPerToken, r.MaxVio ?? double.NaN, r.StepMs, r.PlainTokensPerSecond,
                r.SpeculativeTokensPerSecond ?? double.NaN, r.AcceptanceRate ?? double.NaN, r.Identical, r.FirstStepMegabytes, r.LastStepMegabytes, r.Fp8Tile])]);
        var curves = new ResultTable("loss_curves", ["run", "step", "train_loss", "validation_loss", "seconds"],
            [.. result.Runs.SelectMany(r => r.Curve.Select(p => (IReadOnlyList<object>)[r.Key, p.Step, p.TrainLoss, p.ValidationLoss ?? double.NaN, p.Seconds]))]);
        var loads = new ResultTable("expert_loads", ["run", "layer", "expert", "tokens"],
            [.. result.Runs.SelectMany(r => r.ExpertLoads.SelectMany((layer, l) => layer.Select((n, e) => (IReadOnlyList<object>)[r.Key, l, e, n])))]);
        var comparisons = new ResultTable("comparisons", ["name", "delta", "seed_noise", "verdict"],
            [.. result.Comparisons.Select(c => (IReadOnlyList<object>)[c.Name, c.Delta, c.SeedNoise, c.Verdict])]);
        return new ExperimentOutput(config, config.Seed, result, summary, [runs, curves, loads, comparisons],
        [
            new NamedChart("loss-vs-flops", "Validation loss against training FLOPs per token", V3MiniCharts.LossAgainst(result, config.Seed, r => r.TrainingFlopsPerToken / 1e6, "training MFLOPs per token (main model, 3 × forward)")),
            new NamedChart("loss-vs-kv-cache", "Validation loss against KV-cache bytes per token", V3MiniCharts.LossAgainst(result, config.Seed, r => r.KvCacheBytesPerToken, "KV-cache bytes per token (BF16, all layers)")),
            new NamedChart("expert-loads", "Expert loads of the MoE layers", V3MiniCharts.ExpertLoads(result, config.Seed)),
        ]);
    }
}

/// <summary>Charts of <see cref="V3MiniResult"/>; they read plain numbers only.</summary>
public static class V3MiniCharts
{
    /// <summary>Each run at the reference seed as one point: validation loss against <paramref name="x"/>, the seed noise as
    /// the full model's error bar.</summary>
    public static GenericChart LossAgainst(V3MiniResult result, int seed, Func<V3MiniRun, double> x, string xTitle)
    {
        var runs = result.Runs.Where(r => r.Seed == seed).ToArray();
        double noise = result.Comparisons.Count > 0 ? result.Comparisons[0].SeedNoise : 0;
        return Chart.Combine(runs.Select(r => Chart.Point<double, double, string>(x: new[] { x(r) }, y: new[] { r.ValidationLoss }, Name: r.Name, MultiText: new[] { r.Name })))
            .WithTitle($"Validation loss of the main model (MTP dropped); seed noise of the full model {noise:F4}")
            .WithXAxisStyle<double, double, string>(TitleText: xTitle)
            .WithYAxisStyle<double, double, string>(TitleText: "validation cross-entropy (nats per token)")
            .WithSize(760, 440);
    }

    /// <summary>Validation tokens per expert over uniform, one heatmap row per (MoE run, layer), colour capped at 3.</summary>
    public static GenericChart ExpertLoads(V3MiniResult result, int seed)
    {
        var rows = result.Runs.Where(r => r.Seed == seed && r.ExpertLoads.Count > 0)
            .SelectMany(r => r.ExpertLoads.Select((l, i) => (Label: $"{r.Name} L{i + 1}", Loads: l))).ToArray();
        var z = rows.Select(r => { double mean = Math.Max(1, r.Loads.Average(c => (double)c)); return r.Loads.Select(c => c / mean).ToArray(); }).ToArray();
        int experts = rows.Length == 0 ? 0 : rows[0].Loads.Length;
        return Chart.Heatmap<double, int, string, string>(zData: z, X: Enumerable.Range(0, experts).ToArray(), Y: rows.Select(r => r.Label).ToArray(),
                ColorScale: StyleParam.Colorscale.Viridis)
            .WithTitle("Tokens per routed expert on the validation set ÷ the uniform share (1 = balanced)")
            .WithXAxisStyle<double, double, string>(TitleText: "routed expert")
            .WithSize(760, 120 + 28 * rows.Length);
    }
}

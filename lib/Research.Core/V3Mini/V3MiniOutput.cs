using Plotly.NET;
using Plotly.NET.CSharp;
using Research.Charts;
using Research.Experiments;
using Chart = Plotly.NET.CSharp.Chart;

namespace Research.V3Mini;

/// <summary>Summary lines, tables and charts of <c>v3-mini</c>.</summary>
public static class V3MiniOutput
{
    public static ExperimentOutput Of(V3MiniExperimentConfig config, SeededResult<V3MiniResult> seeded)
    {
        var m = config.Full.Buildable();
        var all = seeded.PerSeed.SelectMany(s => s.Result.Runs).ToList();
        var first = seeded.First;
        int tile = V3Fp8.Tile(m, config.Fp8Tile);
        var summary = new List<string>
        {
            $"DeepSeek-V3 in miniature: d = {m.HiddenSize}, {m.NumHiddenLayers} layers ({m.FirstKDenseReplace} dense), MLA d_c = {m.KvLoraRank}, d'_c = {m.QLoraRank}, " +
            $"{m.NumAttentionHeads} heads of {m.QkNopeHeadDim} + {m.QkRopeHeadDim} RoPE; {m.NSharedExperts} shared + {m.NRoutedExperts} routed experts of {m.MoeIntermediateSize}, " +
            $"top-{m.NumExpertsPerTok} in {m.TopkGroup} of {m.NGroup} groups, ×{m.RoutedScalingFactor}; {m.NumNextnPredictLayers} MTP depth; FP8 E4M3 with 1×{tile} tiles and {tile}×{tile} blocks " +
            $"(V3: 128); {config.Training.Steps} steps of {config.BatchSize} × {config.Corpus.SequenceLength} tokens; seeds {string.Join(", ", seeded.Seeds)}; {seeded.Seconds:F0} s in all",
        };
        summary.AddRange(config.Runs.Where(r => r != V3MiniAblations.FullName).Select(r => $"{r}: {V3MiniAblations.Describe(r)}"));
        if (all.Any(r => !r.Identical)) summary.Add("speculative decoding DIFFERED from plain decoding on some prompt");

        var runs = ResultTable.Of("runs", all);
        var curves = ResultTable.Of("loss_curves", "run", all.SelectMany(r => r.Curve.Select(p => (r.Key, p))), display: false);
        var loads = ResultTable.Of("expert_loads", all.SelectMany(r => r.ExpertLoads.SelectMany((layer, l) =>
            layer.Select((n, e) => new ExpertTokensRow(r.Key, l, e, n)))), display: false);
        return new ExperimentOutput(config, seeded.Seeds, seeded, summary, [runs, curves, loads],
        [
            new NamedChart("loss-vs-flops", "Validation loss against training FLOPs per token", V3MiniCharts.LossAgainst(first, r => r.TrainingFlopsPerToken / 1e6, "training MFLOPs per token (main model, 3 × forward)")),
            new NamedChart("loss-vs-kv-cache", "Validation loss against KV-cache bytes per token", V3MiniCharts.LossAgainst(first, r => r.KvCacheBytesPerToken, "KV-cache bytes per token (BF16, all layers)")),
            new NamedChart("expert-loads", "Expert loads of the MoE layers", V3MiniCharts.ExpertLoads(first)),
        ]);
    }
}

/// <summary>Charts of <see cref="V3MiniResult"/>; they read plain numbers only.</summary>
public static class V3MiniCharts
{
    /// <summary>Each run of one seed as one point: validation loss against <paramref name="x"/> (one seed shows where the runs
    /// sit, not whether their losses differ: the comparison over seeds says that).</summary>
    public static GenericChart LossAgainst(V3MiniResult result, Func<V3MiniRun, double> x, string xTitle)
    {
        var runs = result.Runs;
        int seed = runs.Count > 0 ? runs[0].Seed : 0;
        return Chart.Combine(runs.Select(r => Chart.Point<double, double, string>(x: new[] { x(r) }, y: new[] { r.ValidationLoss }, Name: r.Name, MultiText: new[] { r.Name })))
            .WithTitle($"Validation loss of the main model (MTP dropped), seed {seed}")
            .WithXAxisStyle<double, double, string>(TitleText: xTitle)
            .WithYAxisStyle<double, double, string>(TitleText: "validation cross-entropy (nats per token)")
            .WithSize(760, 440);
    }

    /// <summary>Validation tokens per expert over uniform, one heatmap row per (MoE run, layer), colour capped at 3.</summary>
    public static GenericChart ExpertLoads(V3MiniResult result)
    {
        var rows = result.Runs.Where(r => r.ExpertLoads.Count > 0)
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

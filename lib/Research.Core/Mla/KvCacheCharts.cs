using Plotly.NET;
using Plotly.NET.CSharp;
using Research.Charts;
using Chart = Plotly.NET.CSharp.Chart;

namespace Research.Mla;

/// <summary>Charts of <see cref="MlaCacheResult"/>; they read plain numbers only. KB, GB are powers of 1000 (as HW25).</summary>
public static class KvCacheCharts
{
    private const double Kilo = 1e3, Giga = 1e9;

    /// <summary>Bars of KB per token, one per preset, MLA models in one trace and the others in another.</summary>
    public static GenericChart BytesPerToken(MlaCacheResult r)
    {
        string dtype = r.Dtype.ToString().ToLowerInvariant();
        GenericChart Bars(IEnumerable<KvCacheRow> rows, string name) => Chart.Column<double, string, string>(
            values: rows.Select(p => p.BytesPerToken / Kilo).ToArray(), Keys: rows.Select(p => p.Name).ToArray(), Name: name,
            MultiText: rows.Select(p => KvCacheSize.HumanBytes(p.BytesPerToken)).ToArray());
        return Chart.Combine(
            [
                Bars(r.Presets.Where(p => p.Kind == AttentionKind.Mla), "MLA: (d_c + d_h^R)·l"),
                Bars(r.Presets.Where(p => p.Kind != AttentionKind.Mla), "GQA: 2·n_g·d_h·l"),
            ])
            .WithTitle($"KV cache per token over all layers ({dtype})")
            .WithXAxisStyle<double, double, string>(TitleText: "model")
            .WithYAxisStyle<double, double, string>(TitleText: $"KB per token ({dtype}, 1 KB = 1000 bytes)")
            .WithSize(860, 440);
    }

    /// <summary>Elements per token of MHA, GQA, MQA and MLA at one model's dims (V2 Table 1), on a log axis.</summary>
    public static GenericChart Variants(MlaCacheResult r) =>
        Chart.Column<double, string, string>(values: r.Variants.Select(v => (double)v.ElementsPerToken).ToArray(),
                Keys: r.Variants.Select(v => v.Name).ToArray(), Name: "elements per token",
                MultiText: r.Variants.Select(v => v.Formula).ToArray())
            .WithTitle($"Elements cached per token at {r.VariantsOf}'s dims (l = {r.Variants[0].Layers}, n_h = {r.Variants[0].Heads}, d_h = {r.Variants[0].HeadDim})")
            .WithXAxisStyle<double, double, string>(TitleText: "attention mechanism")
            .WithYAxisStyle<double, double, string>(TitleText: "elements per token, all layers (log scale)", AxisType: StyleParam.AxisType.Log)
            .WithSize(760, 420);

    /// <summary>Cache GB against context length, one line per preset up to its max context; log-log axes.</summary>
    public static GenericChart TotalByContext(MlaCacheResult r)
    {
        string dtype = r.Dtype.ToString().ToLowerInvariant();
        return Chart.Combine(r.Presets.Select(p => Chart.Line<double, double, string>(
                x: p.Contexts.Select(c => (double)c).ToArray(), y: p.TotalBytes.Select(b => b / Giga).ToArray(), Name: p.Name, ShowMarkers: true)))
            .WithTitle($"KV cache of one sequence against context length ({dtype})")
            .WithXAxisStyle<double, double, string>(TitleText: "context length (tokens, log scale)", AxisType: StyleParam.AxisType.Log)
            .WithXTickValues(r.Contexts.Select(c => (double)c))
            .WithYAxisStyle<double, double, string>(TitleText: $"KV cache (GB, {dtype}, log scale)", AxisType: StyleParam.AxisType.Log)
            .WithSize(860, 480);
    }
}

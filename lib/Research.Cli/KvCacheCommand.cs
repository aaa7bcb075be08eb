using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Research.Experiments;
using Research.Mla;

namespace Research.Cli;

/// <summary>
/// <c>research kv-cache --preset NAME | --config FILE [--dtype bf16|fp8|fp32] [--context N] [--json]</c> and
/// <c>research kv-cache --list [--dtype ...] [--context N] [--json]</c>: KV-cache size by DeepSeek-V2 Table 1.
/// </summary>
public static class KvCacheCommand
{
    public static Command Create(TextWriter stdout)
    {
        var preset = new Option<string?>("--preset") { Description = $"A published model: {string.Join(", ", KvCachePresets.Names)}." };
        var config = new Option<string?>("--config") { Description = "A JSON file with the fields of a KvCacheModel (name, kind, layers, heads, kvHeads, headDim, maxContext, kvLatentDim, ropeHeadDim, source), or a model's config.json (hidden_size, num_hidden_layers, …)." };
        var list = new Option<bool>("--list") { Description = "A table of every preset." };
        var dtype = new Option<string>("--dtype") { Description = $"Cache element type: {string.Join(", ", KvCacheSize.DtypeNames)}.", DefaultValueFactory = _ => "bf16" };
        var context = new Option<int?>("--context") { Description = "Tokens in the cache (1..the model's max context); default: the model's max context." };
        var json = new Option<bool>("--json") { Description = "Print the result as JSON on stdout." };
        var command = new Command("kv-cache", "KV-cache elements and bytes per token and for a context, by DeepSeek-V2 Table 1 " +
            "(MHA 2·n_h·d_h·l, GQA 2·n_g·d_h·l, MQA 2·d_h·l, MLA (d_c + d_h^R)·l).") { preset, config, list, dtype, context, json };
        command.SetAction(parse =>
        {
            var chosen = new[] { (Option)preset, config, list }.Where(o => parse.GetResult(o) is { Implicit: false }).ToArray();
            if (chosen.Length != 1)
                throw new ArgumentException("kv-cache needs exactly one of --preset, --config or --list" +
                    (chosen.Length > 1 ? $" (got {string.Join(" and ", chosen.Select(o => o.Name))})" : ""));
            var type = KvCacheSize.ParseDtype(parse.GetValue(dtype)!);
            if (parse.GetValue(list))
            {
                var rows = KvCachePresets.All.Select(m => Row(m, type, parse.GetValue(context))).ToList();
                if (parse.GetValue(json)) stdout.WriteLine(JsonSerializer.Serialize(rows, ExperimentConfigs.Json));
                else PrintList(rows, type, stdout);
                return ExitCodes.Ok;
            }
            var model = parse.GetValue(preset) is string name ? KvCachePresets.Find(name) : KvCachePresets.Load(parse.GetValue(config)!);
            var estimate = KvCacheSize.Estimate(model, type, parse.GetValue(context) ?? model.MaxContext);
            if (parse.GetValue(json)) stdout.WriteLine(JsonSerializer.Serialize(estimate, ExperimentConfigs.Json));
            else Print(estimate, stdout);
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>One line of <c>--list</c>: a preset and its cache; <paramref name="TotalBytes"/> is null when the context
    /// is beyond the model's max context.</summary>
    public sealed record ListRow(KvCacheModel Model, KvDtype Dtype, long ElementsPerToken, long BytesPerToken, int Context, long? TotalBytes);

    private static ListRow Row(KvCacheModel m, KvDtype dtype, int? context)
    {
        int tokens = context ?? m.MaxContext;
        if (tokens < 1) throw new ArgumentException($"context must be ≥ 1 (got {tokens})");
        return new ListRow(m, dtype, KvCacheSize.ElementsPerToken(m), KvCacheSize.BytesPerToken(m, dtype), tokens,
            tokens <= m.MaxContext ? KvCacheSize.TotalBytes(m, dtype, tokens) : null);
    }

    private static void Print(KvCacheEstimate e, TextWriter o)
    {
        var m = e.Model;
        string Bytes(long b) => $"{KvCacheSize.HumanBytes(b)} ({b.ToString("N0", CultureInfo.InvariantCulture)} bytes)";
        o.WriteLine($"{m.Name}: {m.Kind.ToString().ToUpperInvariant()}, l = {m.Layers}, n_h = {m.Heads}, n_g = {m.KvHeads}, d_h = {m.HeadDim}" +
            (m.Kind == AttentionKind.Mla ? $", d_c = {m.KvLatentDim}, d_h^R = {m.RopeHeadDim}" : "") + $", max context {m.MaxContext:N0}");
        if (m.Source.Length > 0) o.WriteLine($"source: {m.Source}");
        o.WriteLine($"formula (DeepSeek-V2 Table 1): {e.Formula} = {e.FormulaWithValues} = {e.ElementsPerToken:N0} elements per token");
        o.WriteLine($"dtype {e.Dtype.ToString().ToLowerInvariant()}: {e.BytesPerElement} byte(s) per element; KB, MB, GB are powers of 1000");
        o.WriteLine($"per token, all layers: {e.ElementsPerToken:N0} elements, {Bytes(e.BytesPerToken)}");
        o.WriteLine($"per token, per layer:  {e.ElementsPerTokenPerLayer:N0} elements, {Bytes(e.BytesPerTokenPerLayer)}");
        o.WriteLine($"{e.Context:N0} tokens: {Bytes(e.TotalBytes)}");
    }

    /// <summary>A line of the <c>--list</c> table, with the paper's symbols as column names.</summary>
    public sealed record ListLine(string Preset, AttentionKind Kind, [property: Column("l")] int Layers, [property: Column("n_h")] int Heads,
        [property: Column("n_g")] int KvHeads, [property: Column("d_h")] int HeadDim, [property: Column("d_c")] int KvLatentDim,
        [property: Column("d_h^R")] int RopeHeadDim, int MaxContext, long ElementsPerToken, string PerToken, int Context, string Total);

    private static void PrintList(IReadOnlyList<ListRow> rows, KvDtype dtype, TextWriter o)
    {
        o.WriteLine($"KV cache per token ({dtype.ToString().ToLowerInvariant()}, KB = 1000 bytes) and for a context");
        ConsoleTables.Write(o, ResultTable.Of("kv-cache", rows.Select(r => new ListLine(r.Model.Name, r.Model.Kind, r.Model.Layers, r.Model.Heads,
            r.Model.KvHeads, r.Model.HeadDim, r.Model.KvLatentDim, r.Model.RopeHeadDim, r.Model.MaxContext, r.ElementsPerToken,
            KvCacheSize.HumanBytes(r.BytesPerToken), r.Context, r.TotalBytes is long t ? KvCacheSize.HumanBytes(t) : "beyond max"))));
    }
}

using Research.Models;
using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Research.Accounting;
using Research.Experiments;

namespace Research.Cli;

/// <summary>
/// <c>research model-size --preset NAME | --config FILE | --list [--seq N] [--json]</c>: parameters by part, activated
/// per token and FLOPs per token; <c>research cost --preset NAME | --list [--tokens T] [--gpu NAME] [--mfu X] [--price P]
/// [--seq N] [--json]</c>: training GPU-hours and dollars, and the utilisation published GPU-hours imply.
/// </summary>
public static class AccountingCommands
{
    /// <summary>What <c>model-size --json</c> prints for one model.</summary>
    public sealed record ModelSize(string Model, string Source, long TotalParameters, long ActivatedParameters, long MtpParameters,
        long MtpUniqueParameters, IReadOnlyList<PartCount> Parts, int Sequence, double ForwardFlopsPerToken, double TrainingFlopsPerToken,
        double MatmulForwardFlops, double AttentionForwardFlops, string Convention);

    public static ModelSize Size(ModelConfig model, int sequence)
    {
        var count = ParameterCounting.Count(model);
        var flops = FlopCounting.PerToken(model, sequence);
        return new ModelSize(model.Name, model.Source, count.Total, count.Activated, count.Mtp.Stored, count.Mtp.Unique,
            [.. count.Parts.Where(p => p.Total > 0 || p.Activated > 0)], sequence, flops.Forward, flops.Training,
            flops.MatmulForward, flops.AttentionForward, FlopsPerToken.Convention);
    }

    public static Command ModelSizeCommand(TextWriter stdout)
    {
        var preset = new Option<string?>("--preset") { Description = $"A published model: {string.Join(", ", ModelPresets.Names)}." };
        var config = new Option<string?>("--config") { Description = "A model's config.json (hidden_size, num_hidden_layers, … as published)." };
        var list = new Option<bool>("--list") { Description = "A table of every preset." };
        var seq = new Option<int>("--seq") { Description = "Sequence length for FLOPs per token (HW25 Table 2 uses 4096).", DefaultValueFactory = _ => FlopCounting.DefaultSequence };
        var json = new Option<bool>("--json") { Description = "Print the result as JSON on stdout." };
        var command = new Command("model-size", "Parameters by part (total, activated per token, MTP) and FLOPs per token, " +
            "counted from a model's config.") { preset, config, list, seq, json };
        command.SetAction(parse =>
        {
            ExactlyOne("model-size", parse, preset, config, list);
            int sequence = parse.GetValue(seq);
            if (parse.GetValue(list))
            {
                var rows = ModelPresets.All.Select(m => Size(m, Math.Min(sequence, m.ContextLimit) == sequence ? sequence
                    : throw new ConfigException($"seq must be in 1..{m.ContextLimit} for every preset ('{m.Name}' supports {m.ContextLimit}) (got {sequence})"))).ToList();
                if (parse.GetValue(json)) stdout.WriteLine(JsonSerializer.Serialize(rows, ExperimentConfigs.Json));
                else PrintSizes(rows, stdout);
                return ExitCodes.Ok;
            }
            var model = parse.GetValue(preset) is string name ? ModelPresets.Find(name) : ModelPresets.Load(parse.GetValue(config)!);
            var size = Size(model, sequence);
            if (parse.GetValue(json)) stdout.WriteLine(JsonSerializer.Serialize(size, ExperimentConfigs.Json));
            else PrintSize(size, stdout);
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>What <c>cost --json</c> prints: the estimate at the given settings, and the published run when there is one.</summary>
    public sealed record CostEstimate(string Model, string Gpu, double Tokens, double TrainingFlopsPerToken, double TrainingFlops,
        double Utilisation, string UtilisationFrom, double GpuHours, double PricePerGpuHour, double Dollars, RunCheck? Published);

    public static CostEstimate Cost(string presetName, double? tokens, string? gpuName, double? mfu, double price, int sequence)
    {
        var model = ModelPresets.Find(presetName);
        var run = TrainingCost.PublishedFor(model.Name);
        var check = run is null ? null : TrainingCost.Check(run, sequence);
        var gpu = Hardware.FindGpu(gpuName ?? run?.Gpu ?? Hardware.H800.Name);
        double t = tokens ?? check?.Stage.Tokens
            ?? throw new ConfigException($"cost needs --tokens for '{model.Name}': it has no published run (published: {string.Join(", ", TrainingCost.Published.Select(r => r.Preset))})");
        if (!(t > 0 && double.IsFinite(t))) throw new ConfigException($"tokens must be a finite number > 0 (got {t})");
        if (!(price >= 0 && double.IsFinite(price))) throw new ConfigException($"price must be a finite number ≥ 0 (got {price})");
        double u = mfu ?? check?.ImpliedBf16
            ?? throw new ConfigException($"cost needs --mfu for '{model.Name}': it has no published run to take the utilisation from");
        var flops = FlopCounting.PerToken(model, sequence);
        double hours = TrainingCost.GpuHours(t, flops.Training, gpu.PeakBf16, u);
        return new CostEstimate(model.Name, gpu.Name, t, flops.Training, t * flops.Training, u,
            mfu is null ? $"implied by {run!.Name} ({check!.Stage.Stage})" : "--mfu", hours, price, hours * price, check);
    }

    public static Command CostCommand(TextWriter stdout)
    {
        var preset = new Option<string?>("--preset") { Description = $"A published model: {string.Join(", ", ModelPresets.Names)}." };
        var list = new Option<bool>("--list") { Description = "Every published run with the utilisation its GPU-hours imply." };
        var tokens = new Option<string?>("--tokens") { Description = "Training tokens, e.g. 14.8T or 1.5e12 (default: the published run's)." };
        var gpu = new Option<string?>("--gpu") { Description = $"Training GPU: {string.Join(", ", Hardware.GpuNames)} (default: the run's, else h800)." };
        var mfu = new Option<double?>("--mfu") { Description = "Utilisation of the dense BF16 peak, in (0, 1] (default: the published run's implied one)." };
        var price = new Option<double>("--price") { Description = "Dollars per GPU-hour (default 2, V3 §1).", DefaultValueFactory = _ => TrainingCost.V3PricePerGpuHour };
        var seq = new Option<int>("--seq") { Description = "Sequence length for FLOPs per token.", DefaultValueFactory = _ => FlopCounting.DefaultSequence };
        var json = new Option<bool>("--json") { Description = "Print the result as JSON on stdout." };
        var command = new Command("cost", "Training compute: tokens × FLOPs per token → GPU-hours at a peak and utilisation → dollars; " +
            "and the utilisation published GPU-hours imply.") { preset, list, tokens, gpu, mfu, price, seq, json };
        command.SetAction(parse =>
        {
            ExactlyOne("cost", parse, preset, list);
            if (parse.GetValue(list))
            {
                var checks = TrainingCost.Published.Select(r => TrainingCost.Check(r, parse.GetValue(seq))).ToList();
                if (parse.GetValue(json)) stdout.WriteLine(JsonSerializer.Serialize(checks, ExperimentConfigs.Json));
                else foreach (var c in checks) PrintRun(c, stdout);
                return ExitCodes.Ok;
            }
            var estimate = Cost(parse.GetValue(preset)!, parse.GetValue(tokens) is string t ? ParseCount("tokens", t) : null,
                parse.GetValue(gpu), parse.GetValue(mfu), parse.GetValue(price), parse.GetValue(seq));
            if (parse.GetValue(json)) stdout.WriteLine(JsonSerializer.Serialize(estimate, ExperimentConfigs.Json));
            else PrintCost(estimate, stdout);
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>A count with an optional K, M, B or T suffix (powers of 1000): "14.8T" = 1.48e13.</summary>
    public static double ParseCount(string field, string text)
    {
        string s = text.Trim();
        double scale = s.Length > 0 ? char.ToUpperInvariant(s[^1]) switch { 'K' => 1e3, 'M' => 1e6, 'B' => 1e9, 'T' => 1e12, _ => 1 } : 1;
        if (scale != 1) s = s[..^1];
        return double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v > 0 && double.IsFinite(v * scale) ? v * scale
            : throw new ConfigException($"{field} must be a number > 0, optionally with K, M, B or T (got '{text}')");
    }

    private static void ExactlyOne(string name, ParseResult parse, params Option[] options)
    {
        var chosen = options.Where(o => parse.GetResult(o) is { Implicit: false }).ToArray();
        if (chosen.Length != 1)
            throw new ArgumentException($"{name} needs exactly one of {string.Join(", ", options.Select(o => o.Name))}" +
                (chosen.Length > 1 ? $" (got {string.Join(" and ", chosen.Select(o => o.Name))})" : ""));
    }

    private static string B(double n) => (n / 1e9).ToString("N1", CultureInfo.InvariantCulture) + "B";
    private static string G(double flops) => (flops / 1e9).ToString("N1", CultureInfo.InvariantCulture) + " GFLOPs";

    private static void PrintSize(ModelSize s, TextWriter o)
    {
        o.WriteLine($"{s.Model}: {B(s.TotalParameters)} parameters ({s.TotalParameters:N0}), {B(s.ActivatedParameters)} activated per token ({s.ActivatedParameters:N0})" +
            (s.MtpParameters > 0 ? $", MTP {B(s.MtpParameters)} stored ({B(s.MtpUniqueParameters)} unique)" : ""));
        if (s.Source.Length > 0) o.WriteLine($"source: {s.Source}");
        o.WriteLine($"FLOPs per token at seq {s.Sequence}: forward {G(s.ForwardFlopsPerToken)} (matmuls {G(s.MatmulForwardFlops)}, attention {G(s.AttentionForwardFlops)}), training {G(s.TrainingFlopsPerToken)}");
        o.WriteLine($"convention: {s.Convention}");
        ConsoleTables.Write(o, ResultTable.Of("parameters by part", s.Parts));
    }

    /// <summary>A line of the <c>model-size --list</c> table; B = 10^9.</summary>
    public sealed record SizeLine(string Preset, string Total, string Activated, string Mtp, [property: Column(Format = "N1")] double TrainGflops);

    private static void PrintSizes(IReadOnlyList<ModelSize> rows, TextWriter o)
    {
        o.WriteLine($"Parameters (B = 10^9) and training FLOPs per token at seq {rows[0].Sequence}; convention: {FlopsPerToken.Convention}");
        ConsoleTables.Write(o, ResultTable.Of("model sizes", rows.Select(r =>
            new SizeLine(r.Model, B(r.TotalParameters), B(r.ActivatedParameters), B(r.MtpParameters), r.TrainingFlopsPerToken / 1e9))));
    }

    private static void PrintCost(CostEstimate e, TextWriter o)
    {
        o.WriteLine($"{e.Model} on {e.Gpu}: {e.Tokens / 1e12:N2}T tokens × {G(e.TrainingFlopsPerToken)} = {e.TrainingFlops.ToString("0.000e+00", CultureInfo.InvariantCulture)} FLOPs");
        o.WriteLine($"at {e.Utilisation:P1} of the dense BF16 peak ({e.UtilisationFrom}): {e.GpuHours / 1e3:N0}K GPU-hours, ${e.Dollars / 1e6:N3}M at ${e.PricePerGpuHour:0.##}/GPU-hour");
        if (e.Published is RunCheck c) PrintRun(c, o);
    }

    private static void PrintRun(RunCheck c, TextWriter o)
    {
        var r = c.Run;
        o.WriteLine($"published: {r.Name} ({r.Gpu}): " + string.Join(" + ", r.Stages.Select(s => $"{s.GpuHours / 1e3:N0}K {s.Stage}")) +
            $" = {r.GpuHours / 1e6:N3}M GPU-hours" + (r.Dollars is double d ? $" = ${d / 1e6:N3}M at ${r.PricePerGpuHour:0.##}/GPU-hour" : ""));
        o.WriteLine($"  implied by {c.Stage.Stage} ({c.Stage.Tokens / 1e12:N1}T tokens × {G(c.Flops.Training)}): {c.ImpliedBf16:P1} of BF16 peak, {c.ImpliedFp8:P1} of FP8 peak");
        o.WriteLine($"  source: {r.Source}");
        o.WriteLine($"  not covered: {r.NotCovered}");
    }
}

using System.CommandLine;
using System.Globalization;
using Research.Experiments;
using Research.Platform;
using Research.Sweeps;
using Spectre.Console;

namespace Research.Cli;

/// <summary><c>research results collect|verify</c>: the committed multi-seed reference results (data/results/).</summary>
public static class ResultsCommand
{
    public static Command Create(TextWriter stdout) => new("results",
        "The committed multi-seed reference results every claim of the notebooks and READMEs rests on: build one from a finished sweep, or check that this machine reproduces them.")
    {
        Show(stdout), Collect(stdout), Verify(stdout),
    };

    private static Command Show(TextWriter stdout)
    {
        var files = new Argument<string[]>("files") { Description = "Reference files (default: every reference the kit ships).", Arity = ArgumentArity.ZeroOrMore };
        var markdown = new Option<bool>("--markdown") { Description = "Print Markdown tables (what the README holds) instead of terminal tables." };
        var command = new Command("show", "Print each reference's comparisons: per arm n, mean, SD and interval, its difference from the baseline, Holm-adjusted p and verdict.")
        { files, markdown };
        command.SetAction(parse =>
        {
            var references = Chosen(parse.GetValue(files));
            var console = ConsoleTables.For(stdout);
            foreach (var reference in references)
            {
                string heading = $"{reference.Experiment}, {reference.Name} config: n = {reference.Seeds.Count} seeds ({References.SeedRange(reference.Seeds)}), " +
                                 $"paired t with Holm across each metric's arms, 95 % intervals; kit {reference.Provenance.KitCommit[..Math.Min(7, reference.Provenance.KitCommit.Length)]}, " +
                                 $"{reference.Provenance.Cpu}, {reference.Provenance.Threads} threads, {reference.Provenance.WallSeconds:F0} s";
                if (parse.GetValue(markdown)) stdout.WriteLine($"**{heading}**\n");
                else console.WriteLine(heading);
                foreach (var metric in reference.Comparisons)
                {
                    var table = ComparisonOutput.Table(metric);
                    if (parse.GetValue(markdown)) stdout.WriteLine($"{table.Name}, against {metric.Baseline}:\n\n{table.ToMarkdown()}");
                    else console.Write(ConsoleTables.Of(table));
                }
            }
            return ExitCodes.Ok;
        });
        return command;
    }

    // The files given, or every reference the kit ships.
    private static IReadOnlyList<ReferenceResult> Chosen(string[]? files) =>
        files is { Length: > 0 } ? [.. files.Select(References.Read)] : References.LoadShipped();

    private static Command Collect(TextWriter stdout)
    {
        var dir = new Argument<string>("dir") { Description = "A finished sweep of one arm (the config) over the seeds (research sweep plan/run)." };
        var name = new Option<string>("--name") { Description = "The reference's name: which config it ran (default, workshop).", Required = true };
        var outFile = new Option<string>("--out") { Description = "The reference file to write, e.g. data/results/<id>/<name>.json.", Required = true };
        var command = new Command("collect", "Write the reference result of a finished one-arm sweep: the experiment's comparisons over its seeds, with provenance (kit commit, versions, CPU, threads, times).")
        { dir, name, outFile };
        command.SetAction(parse =>
        {
            var reference = References.Collect(Path.GetFullPath(parse.GetValue(dir)!), parse.GetValue(name)!);
            var path = Path.GetFullPath(parse.GetValue(outFile)!);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            References.Write(reference, path);
            stdout.WriteLine($"{reference.Experiment}/{reference.Name}: {reference.Seeds.Count} seeds, {reference.Comparisons.Count} comparisons, " +
                             $"{reference.Provenance.WallSeconds:F0} s of cells on {reference.Provenance.Cpu} ({reference.Provenance.Threads} threads); wrote {path}");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Verify(TextWriter stdout)
    {
        var files = new Argument<string[]>("files") { Description = "Reference files (default: every reference the kit ships).", Arity = ArgumentArity.ZeroOrMore };
        var seed = new Option<int?>("--seed") { Description = "The seed to re-run (default: each reference's first)." };
        var tolerance = new Option<double>("--tolerance") { Description = "Largest relative difference accepted (default 0: bit for bit, as on the machine and thread count that made them).", DefaultValueFactory = _ => 0 };
        var device = new Option<string>("--device") { Description = $"Device: {Devices.Allowed}.", DefaultValueFactory = _ => "cpu" };
        var command = new Command("verify", "Re-run one seed of each reference and compare its numbers with the committed ones; check the committed statistics against the committed values.")
        { files, seed, tolerance, device };
        command.SetAction((parse, cancellation) =>
        {
            if (parse.GetValue(tolerance) is var t && !(t >= 0 && double.IsFinite(t)))
                throw new ArgumentException($"--tolerance must be a finite number ≥ 0 (got {t.ToString(CultureInfo.InvariantCulture)})");
            var dev = Devices.Parse(parse.GetValue(device)!);
            var references = Chosen(parse.GetValue(files));
            int failed = 0;
            foreach (var reference in references)
            {
                var check = References.Verify(reference, dev, parse.GetValue(seed), t, cancellation);
                double worst = check.Values.Count == 0 ? double.NaN : check.Values.Max(v => Math.Abs(v.Difference));
                stdout.WriteLine($"{(check.Reproduced ? "ok  " : "FAIL")} {reference.Experiment}/{reference.Name} seed {check.Seed}: {check.Values.Count} values, " +
                                 $"largest |Δ| {Verdicts.Number(worst)}" + (check.StatisticsMatch ? "" : $"; statistics: {check.StatisticsMismatch}") +
                                 $" (made on {reference.Provenance.Cpu}, {reference.Provenance.Threads} threads, kit {reference.Provenance.KitCommit})");
                foreach (var v in check.Values.Where(v => Math.Abs(v.Difference) > t * Math.Abs(v.Committed)).Take(5))
                    stdout.WriteLine($"     {v.Metric}, {v.Arm}: committed {v.Committed.ToString("R", CultureInfo.InvariantCulture)}, now {v.Computed.ToString("R", CultureInfo.InvariantCulture)}");
                if (!check.Reproduced) failed++;
            }
            stdout.WriteLine($"{references.Count - failed} of {references.Count} reference results reproduced");
            return Task.FromResult(failed == 0 ? ExitCodes.Ok : ExitCodes.Failed);
        });
        return command;
    }
}

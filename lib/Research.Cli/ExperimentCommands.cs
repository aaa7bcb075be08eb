using System.CommandLine;
using System.Diagnostics;
using Research.Experiments;
using Research.Platform;

namespace Research.Cli;

/// <summary><c>research list</c>, <c>research run &lt;id&gt;</c> and <c>research reproduce</c>.</summary>
public static class ExperimentCommands
{
    private const string DefaultOut = "out";

    public static Command List(TextWriter stdout)
    {
        var command = new Command("list", "List the experiments.");
        command.SetAction(_ =>
        {
            foreach (var e in ExperimentCatalog.All) stdout.WriteLine($"{e.Id,-24} {e.Title}: {e.Description}");
            return ExitCodes.Ok;
        });
        return command;
    }

    public static Command Run(TextWriter stdout, TextWriter stderr)
    {
        var id = new Argument<string>("id") { Description = "Experiment id (see 'research list')." };
        var seed = new Option<int?>("--seed") { Description = "Run this one seed instead of the config's seeds." };
        var seeds = new Option<string?>("--seeds") { Description = "Run these seeds instead of the config's: a list (0,1,2) or a count n meaning 0..n−1." };
        var config = new Option<string?>("--config") { Description = "JSON config file replacing data/configs/<id>.json." };
        var (outDir, device, json) = CommonOptions();
        var workshop = WorkshopOption();
        var command = new Command("run", "Run one experiment; writes result.json, CSV files and charts to <out>/<id>/.") { id, seed, seeds, config, workshop, outDir, device, json };
        command.SetAction((parse, cancellation) =>
        {
            var definition = ExperimentCatalog.Find(parse.GetValue(id)!);
            var dev = Devices.Parse(parse.GetValue(device)!);
            if (parse.GetValue(seed) is < 0) throw new ArgumentException($"--seed must be ≥ 0 (got {parse.GetValue(seed)})");
            var seedList = parse.GetValue(seeds) is { } text ? SeedList(text) : null;
            if (seedList is not null && parse.GetValue(seed) is not null) throw new ArgumentException("give --seed or --seeds, not both");
            var root = ExperimentWriter.PrepareFolder(parse.GetValue(outDir)!);   // fail before the work, not after
            using var outputLock = OutputLock.Acquire(root);
            var request = new ExperimentRequest(dev, parse.GetValue(seed), parse.GetValue(config), CacheFolder(root),
                Cancellation: cancellation, Workshop: parse.GetValue(workshop), Seeds: seedList);
            var (document, _, folder) = RunOne(definition, request, root, stdout, stderr, parse.GetValue(json));
            if (parse.GetValue(json)) stdout.WriteLine(ExperimentWriter.ToJson(document));
            else stdout.WriteLine($"wrote {folder}");
            return Task.FromResult(ExitCodes.Ok);
        });
        return command;
    }

    public static Command Reproduce(TextWriter stdout, TextWriter stderr)
    {
        var (outDir, device, _) = CommonOptions();
        var workshop = WorkshopOption();
        var command = new Command("reproduce", "Run every experiment, then write <out>/index.html linking every chart.") { outDir, device, workshop };
        command.SetAction((parse, cancellation) =>
        {
            var dev = Devices.Parse(parse.GetValue(device)!);
            var root = ExperimentWriter.PrepareFolder(parse.GetValue(outDir)!);
            using var outputLock = OutputLock.Acquire(root);
            var total = Stopwatch.StartNew();
            var entries = new List<ReportEntry>();
            foreach (var definition in ExperimentCatalog.All)
            {
                var watch = Stopwatch.StartNew();
                try
                {
                    var request = new ExperimentRequest(dev, CacheFolder: CacheFolder(root), Cancellation: cancellation, Workshop: parse.GetValue(workshop));
                    var (_, output, _) = RunOne(definition, request, root, stdout, stderr, json: false);
                    entries.Add(new ReportEntry(definition.Id, definition.Title, watch.Elapsed.TotalSeconds, output.Charts));
                }
                catch (Exception e) when (e is not (OutputException or OperationCanceledException))
                {
                    // One broken experiment must not hide the others: record it, go on, fail at the end.
                    stderr.WriteLine($"research: experiment '{definition.Id}' failed: {e.Message}");
                    entries.Add(new ReportEntry(definition.Id, definition.Title, watch.Elapsed.TotalSeconds, [], e.Message));
                }
            }
            var index = ReportIndex.Write(root, entries, "DeepSeek efficiency techniques: reproduction");
            int failed = entries.Count(e => e.Error is not null);
            stdout.WriteLine($"reproduced {entries.Count - failed} of {entries.Count} experiments in {total.Elapsed.TotalSeconds:F1} s; open {index}");
            return Task.FromResult(failed == 0 ? ExitCodes.Ok : ExitCodes.Failed);
        });
        return command;
    }

    public static Command Gallery(TextWriter stdout)
    {
        var from = new Option<string>("--from") { Description = "A folder written by 'research reproduce' (or 'research run') holding the experiments' figures.", DefaultValueFactory = _ => DefaultOut };
        var outDir = new Option<string>("--out") { Description = "Where to write the pictures (the README's are data/gallery).", DefaultValueFactory = _ => "gallery" };
        var command = new Command("gallery", "Draw the README's gallery, one PNG per chart that tells the kit's story, from the figures a reproduction wrote.") { from, outDir };
        command.SetAction(async (parse, ct) =>
        {
            var watch = Stopwatch.StartNew();
            var files = await Research.Experiments.Gallery.WriteAsync(parse.GetValue(from)!, parse.GetValue(outDir)!, ct);
            foreach (var (picture, file) in Research.Experiments.Gallery.Pictures.Zip(files))
                stdout.WriteLine($"{file}  ({picture.Experiment}: {picture.Chart})");
            stdout.WriteLine($"drew {files.Count} pictures in {watch.Elapsed.TotalSeconds:F1} s");
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>
    /// The seeds <c>--seeds</c> names: a comma-separated list of distinct seeds ≥ 0, or one count n meaning 0..n−1
    /// (1..<see cref="ExperimentConfigs.MaxSeeds"/>).
    /// </summary>
    public static IReadOnlyList<int> SeedList(string text)
    {
        const string allowed = "a list of distinct seeds ≥ 0 (0,1,2) or a count n meaning 0..n−1";
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var seeds = new List<int>();
        foreach (var part in parts)
            if (!int.TryParse(part, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int s))
                throw new ArgumentException($"--seeds: '{part}' is not a seed; give {allowed}");
            else seeds.Add(s);
        if (parts.Length == 1 && !text.Contains(','))
        {
            if (seeds[0] is < 1 or > ExperimentConfigs.MaxSeeds)
                throw new ArgumentException($"--seeds: a count must be in 1..{ExperimentConfigs.MaxSeeds} (got {seeds[0]}); for the one seed {seeds[0]} give --seed {seeds[0]}");
            return [.. Enumerable.Range(0, seeds[0])];
        }
        if (seeds.Count > ExperimentConfigs.MaxSeeds) throw new ArgumentException($"--seeds: at most {ExperimentConfigs.MaxSeeds} seeds (got {seeds.Count}); use research sweep for more");
        if (seeds.Distinct().Count() != seeds.Count) throw new ArgumentException($"--seeds lists a seed twice (got {text}); give {allowed}");
        return seeds;
    }

    private static Option<bool> WorkshopOption() => new("--workshop")
    {
        Description = "Workshop sizes (data/configs/workshop/) for the experiments that have them: what the notebooks run live, in minutes instead of the full ablation.",
    };

    // Intermediate results worth keeping between runs (distill's teacher) live beside the experiments' folders.
    private static string CacheFolder(string root) => Path.Combine(root, "cache");

    private static (Option<string> Out, Option<string> Device, Option<bool> Json) CommonOptions() =>
    (
        new Option<string>("--out") { Description = "Output folder.", DefaultValueFactory = _ => DefaultOut },
        new Option<string>("--device") { Description = $"Device: {Devices.Allowed}.", DefaultValueFactory = _ => "cpu" },
        new Option<bool>("--json") { Description = "Print the result as JSON on stdout (progress goes to stderr)." }
    );

    private static (ExperimentDocument, ExperimentOutput, string) RunOne(ExperimentDefinition definition, ExperimentRequest request,
        string root, TextWriter stdout, TextWriter stderr, bool json)
    {
        var watch = Stopwatch.StartNew();
        var output = ProgressDisplay.Run(definition.Id, stderr, progress => definition.Run(request with { Progress = progress }));
        var document = new ExperimentDocument(definition.Id, definition.Title, output.Seeds, request.Device.ToString(),
            Math.Round(watch.Elapsed.TotalSeconds, 3), DateTime.UtcNow, output.Config, output.Result, RunEnvironment.Current());
        var folder = ExperimentWriter.Write(root, definition, output, document);
        if (!json)
        {
            stdout.WriteLine($"== {definition.Title} ({definition.Id}), {watch.Elapsed.TotalSeconds:F1} s");
            foreach (var line in output.Summary) stdout.WriteLine("  " + line);
            ConsoleTables.Write(stdout, output.Tables.Where(t => t.Display));
        }
        return (document, output, folder);
    }
}

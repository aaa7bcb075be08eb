using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Research.Experiments;
using Research.Platform;

namespace Research.Sweeps;

/// <summary>What besides the config decides a cell's numbers: the kit's code, TorchSharp, libtorch, the device.</summary>
public sealed record SweepEnvironment(string KitCommit, string TorchSharp, string LibTorch, string Device)
{
    /// <summary>This process's environment for <paramref name="device"/> (loads TorchSharp).</summary>
    public static SweepEnvironment Current(string device)
    {
        var versions = KitVersions.Current();
        return new SweepEnvironment(versions.KitCommit, versions.TorchSharp, versions.LibTorch, device);
    }
}

/// <summary>One cell of a plan: an arm at a seed, its folder (relative to the sweep directory) and content hash.</summary>
public sealed record SweepCell(int Index, string Arm, int Seed, string Hash, string Folder);

/// <summary>
/// A planned sweep: <c>plan.json</c> in the sweep directory. Cells are numbered in order arm by arm, seed by seed; the
/// number is what <c>research sweep cell DIR INDEX</c> and a Slurm array task take.
/// </summary>
public sealed record SweepPlan(
    string Name, string Experiment, string Base, DateTime CreatedUtc, SweepEnvironment Environment,
    IReadOnlyList<string> Arms, string Baseline, IReadOnlyList<int> Seeds, IReadOnlyList<SweepMetricSpec> Metrics,
    IReadOnlyList<SweepCell> Cells)
{
    public const string PlanFile = "plan.json", SweepFileCopy = "sweep.json", CellsFolder = "cells";
    public const string ConfigFile = "config.json", ResultFile = "result.json", DoneFile = "done.json",
        FailedFile = "failed.json", StartedFile = "started.json";

    /// <summary>Reads the plan in <paramref name="directory"/>; a folder without one is an error saying how to make it.</summary>
    public static SweepPlan Read(string directory)
    {
        var path = Path.Combine(directory, PlanFile);
        if (!File.Exists(path)) throw new ConfigException($"'{directory}' holds no sweep plan ({PlanFile}); make one with research sweep plan FILE --out {directory}");
        try
        {
            return JsonSerializer.Deserialize<SweepPlan>(File.ReadAllText(path), ExperimentConfigs.Json)
                   ?? throw new ConfigException($"{path}: the file holds null");
        }
        catch (JsonException e)
        {
            throw new ConfigException($"{path}: not a sweep plan of this kit: {e.Message.Split(" Path:")[0]}", e);
        }
    }

    /// <summary>The metrics of the plan, parsed again (the plan keeps them as written).</summary>
    public IReadOnlyList<SweepMetric> ResolvedMetrics() =>
        Metrics.Select((m, i) => SweepMetric.From(m, $"{PlanFile}: metrics[{i}]")).ToList();

    /// <summary>The cell with <paramref name="index"/>; an index outside the plan is an error giving the range.</summary>
    public SweepCell Cell(int index) =>
        index >= 0 && index < Cells.Count ? Cells[index]
            : throw new ArgumentException($"cell index {index} is outside the plan's cells 0..{Cells.Count - 1}");
}

/// <summary>Plans sweeps: resolves every cell's config, hashes it, writes the directory.</summary>
public static class SweepPlanner
{
    /// <summary>What planning did: the plan, and how many finished cells it kept.</summary>
    public sealed record Outcome(SweepPlan Plan, string Directory, int Kept, int Invalidated);

    /// <summary>
    /// Plans <paramref name="sweep"/> into <paramref name="directory"/>. Re-planning keeps every finished cell whose hash
    /// is unchanged and clears the others; a directory planned from a different sweep (name or experiment) is refused
    /// before anything is written.
    /// </summary>
    public static Outcome Plan(SweepDefinition sweep, string sweepFilePath, string directory, string device)
    {
        var full = Path.GetFullPath(directory);
        var planPath = Path.Combine(full, SweepPlan.PlanFile);
        if (File.Exists(planPath))
        {
            var old = SweepPlan.Read(full);
            if (old.Name != sweep.Name || old.Experiment != sweep.Experiment.Id)
                throw new ConfigException($"'{full}' was planned from another sweep ('{old.Name}' of {old.Experiment}, not '{sweep.Name}' of {sweep.Experiment.Id}); " +
                                          "plan into a new directory, or delete this one");
        }
        else if (Directory.Exists(full) && Directory.EnumerateFileSystemEntries(full).Any())
            throw new ConfigException($"'{full}' is not empty and holds no sweep plan; plan into a new or empty directory");

        var environment = SweepEnvironment.Current(device);
        var cells = new List<(SweepCell Cell, JsonObject Config)>();
        foreach (var arm in sweep.Arms)
            foreach (int seed in sweep.Seeds)
            {
                var config = sweep.CellConfig(arm, seed);
                var hash = Hash(sweep.Experiment.Id, config, environment);
                cells.Add((new SweepCell(cells.Count, arm.Name, seed, hash, $"{SweepPlan.CellsFolder}/{arm.Name}/seed-{seed}"), config));
            }

        ExperimentWriter.PrepareFolder(full);
        int kept = 0, invalidated = 0;
        foreach (var (cell, config) in cells)
        {
            var folder = Path.Combine(full, cell.Folder);
            if (SweepCells.StateOf(full, cell) == CellState.Done) { kept++; continue; }
            // A result from another config or kit version must not be mistaken for this cell's.
            if (SweepCells.Clear(folder)) invalidated++;
            Directory.CreateDirectory(folder);
            AtomicFile.Write(Path.Combine(folder, SweepPlan.ConfigFile), p => File.WriteAllText(p, config.ToJsonString(ExperimentConfigs.Json)));
        }
        var plan = new SweepPlan(sweep.Name, sweep.Experiment.Id, sweep.BaseName, DateTime.UtcNow, environment,
            sweep.Arms.Select(a => a.Name).ToList(), sweep.Baseline, sweep.Seeds,
            sweep.Metrics.Select(m => new SweepMetricSpec(m.Name, m.Path.Text, m.Direction, m.Margin)).ToList(),
            cells.Select(c => c.Cell).ToList());
        AtomicFile.Write(Path.Combine(full, SweepPlan.SweepFileCopy), p => File.Copy(sweepFilePath, p, overwrite: true));
        AtomicFile.Write(planPath, p => File.WriteAllText(p, JsonSerializer.Serialize(plan, ExperimentConfigs.Json)));
        return new Outcome(plan, full, kept, invalidated);
    }

    /// <summary>
    /// SHA-256 of the experiment id, the config with its keys sorted (so formatting and key order do not matter) and the
    /// environment: equal hashes mean the cell would compute the same thing.
    /// </summary>
    public static string Hash(string experiment, JsonObject config, SweepEnvironment environment)
    {
        var identity = new JsonObject
        {
            ["experiment"] = experiment,
            ["config"] = Canonical(config),
            ["kitCommit"] = environment.KitCommit,
            ["torchSharp"] = environment.TorchSharp,
            ["libTorch"] = environment.LibTorch,
            ["device"] = environment.Device,
        };
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(identity.ToJsonString())));
    }

    private static JsonNode? Canonical(JsonNode? node) => node switch
    {
        JsonObject o => new JsonObject(o.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => KeyValuePair.Create(p.Key, Canonical(p.Value)))),
        JsonArray a => new JsonArray(a.Select(Canonical).ToArray()),
        _ => node?.DeepClone(),
    };
}

using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Research.Experiments;
using Research.Platform;

namespace Research.Sweeps;

/// <summary>Where a cell is, read from its files alone (so local runs, Slurm tasks and <c>status</c> agree).</summary>
public enum CellState { Pending, Running, Done, Failed }

/// <summary><c>done.json</c>: the hash the result belongs to and how long it took.</summary>
public sealed record CellDone(string Hash, double Seconds, DateTime FinishedUtc, string Host);

/// <summary><c>failed.json</c>: the exit code, the error and the last lines of the cell's error output.</summary>
public sealed record CellFailure(string Hash, int ExitCode, string Error, IReadOnlyList<string> StderrTail, DateTime FinishedUtc, string Host);

/// <summary><c>started.json</c>: which process is running the cell.</summary>
public sealed record CellStarted(string Hash, string Host, int Pid, DateTime StartedUtc);

/// <summary>A cell's files: reading its state, running it in this process, recording a failure.</summary>
public static class SweepCells
{
    /// <summary>Lines of a failed cell's error output kept in <c>failed.json</c>.</summary>
    public const int TailLines = 20;

    public static CellState StateOf(string directory, SweepCell cell)
    {
        var folder = Path.Combine(directory, cell.Folder);
        if (Read<CellDone>(Path.Combine(folder, SweepPlan.DoneFile)) is { } done && done.Hash == cell.Hash
            && File.Exists(Path.Combine(folder, SweepPlan.ResultFile))) return CellState.Done;
        if (Read<CellFailure>(Path.Combine(folder, SweepPlan.FailedFile)) is { } failed && failed.Hash == cell.Hash) return CellState.Failed;
        if (Read<CellStarted>(Path.Combine(folder, SweepPlan.StartedFile)) is { } started && started.Hash == cell.Hash && !Orphaned(started))
            return CellState.Running;
        return CellState.Pending;
    }

    // A cell started on this machine by a process that no longer exists was killed: it is pending again. (On another
    // node, a Slurm task, only the scheduler knows; status asks squeue for those.)
    private static bool Orphaned(CellStarted started)
    {
        if (started.Host != Environment.MachineName) return false;
        try
        {
            using var process = Process.GetProcessById(started.Pid);
            return process.HasExited;
        }
        catch (ArgumentException)
        {
            return true;   // no such process
        }
    }

    public static CellFailure? FailureOf(string directory, SweepCell cell) =>
        Read<CellFailure>(Path.Combine(directory, cell.Folder, SweepPlan.FailedFile)) is { } f && f.Hash == cell.Hash ? f : null;

    /// <summary>The result (the <c>result</c> of the experiment's JSON document) of a finished cell.</summary>
    public static JsonNode? ResultOf(string directory, SweepCell cell) =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(directory, cell.Folder, SweepPlan.ResultFile)))?["result"]?["perSeed"]?[0]?["result"];

    /// <summary>Removes a cell's outputs (result, markers), keeping the folder; true when there was something to remove.</summary>
    public static bool Clear(string folder)
    {
        bool any = false;
        foreach (var name in new[] { SweepPlan.ResultFile, SweepPlan.DoneFile, SweepPlan.FailedFile, SweepPlan.StartedFile })
        {
            var path = Path.Combine(folder, name);
            if (!File.Exists(path)) continue;
            File.Delete(path);
            any |= name is SweepPlan.ResultFile or SweepPlan.DoneFile;
        }
        return any;
    }

    /// <summary>
    /// Runs cell <paramref name="index"/> of the sweep in <paramref name="directory"/> in this process: checks that this
    /// process would compute what was planned (same hash), runs the experiment on the cell's config, then writes
    /// <c>result.json</c> and <c>done.json</c>, each whole or not at all. An experiment error is recorded in
    /// <c>failed.json</c> and rethrown.
    /// </summary>
    public static CellDone Run(string directory, int index, string? device, IProgress<ExperimentProgress>? progress = null, CancellationToken cancellation = default)
    {
        var plan = SweepPlan.Read(directory);
        var cell = plan.Cell(index);
        device ??= plan.Environment.Device;
        if (device != plan.Environment.Device)
            throw new ArgumentException($"cell {index} was planned for device '{plan.Environment.Device}', not '{device}'; re-plan with research sweep plan --device {device}");
        var folder = Path.Combine(directory, cell.Folder);
        var configPath = Path.Combine(folder, SweepPlan.ConfigFile);
        var config = JsonNode.Parse(File.ReadAllText(configPath)) as JsonObject
                     ?? throw new ConfigException($"{configPath}: not a JSON object");
        var environment = SweepEnvironment.Current(device);
        var hash = SweepPlanner.Hash(plan.Experiment, config, environment);
        if (hash != cell.Hash)
            throw new ConfigException($"cell {index} ({cell.Arm}, seed {cell.Seed}) was planned for another config or environment " +
                                      $"(planned with kit {plan.Environment.KitCommit}, TorchSharp {plan.Environment.TorchSharp}, libtorch {plan.Environment.LibTorch}; " +
                                      $"this is kit {environment.KitCommit}, TorchSharp {environment.TorchSharp}, libtorch {environment.LibTorch}); re-plan the sweep");

        var definition = ExperimentCatalog.Find(plan.Experiment);
        File.Delete(Path.Combine(folder, SweepPlan.FailedFile));
        AtomicFile.Write(Path.Combine(folder, SweepPlan.StartedFile), p => Write(p, new CellStarted(hash, Environment.MachineName, Environment.ProcessId, DateTime.UtcNow)));
        var watch = Stopwatch.StartNew();
        ExperimentOutput output;
        try
        {
            output = definition.Run(new ExperimentRequest(Devices.Parse(device), ConfigPath: configPath,
                CacheFolder: Path.Combine(directory, "cache"), Progress: progress, Cancellation: cancellation));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            RecordFailure(directory, cell, 1, e.Message, []);
            throw;
        }
        var document = new ExperimentDocument(definition.Id, definition.Title, output.Seeds, device,
            Math.Round(watch.Elapsed.TotalSeconds, 3), DateTime.UtcNow, output.Config, output.Result, RunEnvironment.Current());
        AtomicFile.Write(Path.Combine(folder, SweepPlan.ResultFile), p => File.WriteAllText(p, ExperimentWriter.ToJson(document)));
        var done = new CellDone(hash, Math.Round(watch.Elapsed.TotalSeconds, 3), DateTime.UtcNow, Environment.MachineName);
        AtomicFile.Write(Path.Combine(folder, SweepPlan.DoneFile), p => Write(p, done));
        File.Delete(Path.Combine(folder, SweepPlan.StartedFile));
        return done;
    }

    /// <summary>Writes <c>failed.json</c> for <paramref name="cell"/> (a crash the cell could not record itself, or an error it did).</summary>
    public static void RecordFailure(string directory, SweepCell cell, int exitCode, string error, IReadOnlyList<string> stderrTail)
    {
        var folder = Path.Combine(directory, cell.Folder);
        AtomicFile.Write(Path.Combine(folder, SweepPlan.FailedFile),
            p => Write(p, new CellFailure(cell.Hash, exitCode, error, stderrTail, DateTime.UtcNow, Environment.MachineName)));
        File.Delete(Path.Combine(folder, SweepPlan.StartedFile));
    }

    private static void Write<T>(string path, T value) => File.WriteAllText(path, JsonSerializer.Serialize(value, ExperimentConfigs.Json));

    private static T? Read<T>(string path) where T : class
    {
        if (!File.Exists(path)) return null;
        try { return JsonSerializer.Deserialize<T>(File.ReadAllText(path), ExperimentConfigs.Json); }
        catch (JsonException) { return null; }   // a marker from another kit version: treated as absent
    }
}

using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Research.Experiments;
using Research.Platform;

namespace Research.Sweeps;

/// <summary>
/// What an sbatch job array asks of the cluster. Every value goes into the script, so each is checked against the
/// form Slurm takes (no spaces, quotes or shell characters).
/// </summary>
public sealed partial record SlurmOptions(
    string? Partition = null, string? Account = null, string? Time = null, string? Memory = null,
    int CpusPerTask = 1, string? Gres = null, int? MaxConcurrent = null)
{
    [GeneratedRegex(@"^[A-Za-z0-9_.,-]+$")] private static partial Regex NamePattern();
    [GeneratedRegex(@"^(\d+-)?\d+(:\d+){0,2}$")] private static partial Regex TimePattern();
    [GeneratedRegex(@"^\d+[KMGT]?$")] private static partial Regex MemoryPattern();
    [GeneratedRegex(@"^[A-Za-z0-9_]+(:[A-Za-z0-9_.-]+)?(:\d+)?(,[A-Za-z0-9_]+(:[A-Za-z0-9_.-]+)?(:\d+)?)*$")] private static partial Regex GresPattern();

    /// <summary>True when the job asks for GPUs (<c>--gres gpu:…</c>): cells then run with <c>--device cuda</c>.</summary>
    public bool WantsGpu => Gres is not null && Gres.Split(',').Any(g => g.StartsWith("gpu", StringComparison.Ordinal));

    public SlurmOptions Validated()
    {
        Check("--partition", Partition, NamePattern(), "a partition name, e.g. gpu or cpu_short");
        Check("--account", Account, NamePattern(), "an account name");
        Check("--time", Time, TimePattern(), "minutes, MM:SS, HH:MM:SS, D-HH or D-HH:MM:SS");
        Check("--mem", Memory, MemoryPattern(), "a size such as 4G or 500M");
        Check("--gres", Gres, GresPattern(), "e.g. gpu:1 or gpu:a100:2");
        if (CpusPerTask < 1) throw new ArgumentException($"--cpus-per-task must be ≥ 1 (got {CpusPerTask})");
        if (MaxConcurrent is < 1) throw new ArgumentException($"--max-concurrent must be ≥ 1 (got {MaxConcurrent})");
        return this;
    }

    private static void Check(string option, string? value, Regex pattern, string allowed)
    {
        if (value is not null && !pattern.IsMatch(value)) throw new ArgumentException($"{option} '{value}' is not valid: expected {allowed}");
    }
}

/// <summary>One submitted job array: its id and the cells its tasks run.</summary>
public sealed record SlurmJob(string JobId, string Script, DateTime SubmittedUtc, IReadOnlyList<int> Cells);

/// <summary>
/// Runs a sweep as one Slurm job array: each array task is one cell (<c>research sweep cell DIR $SLURM_ARRAY_TASK_ID</c>),
/// with libtorch's threads from <c>SLURM_CPUS_PER_TASK</c>. Slurm schedules; the kit only writes the script, submits
/// it with <c>sbatch</c> and reads the cells' files.
/// </summary>
public static class SlurmExecutor
{
    public const string Folder = "slurm", JobsFile = "jobs.json";

    /// <summary>The sbatch program: <c>RESEARCH_SBATCH</c> if set, else <c>sbatch</c> on the PATH; null if neither.</summary>
    public static string? Sbatch() => Executables.Find("RESEARCH_SBATCH", [], ["sbatch"]);

    /// <summary>
    /// Slurm's array syntax for <paramref name="cells"/>: runs of consecutive indices as ranges, then <c>%K</c> to run at
    /// most K tasks at once.
    /// </summary>
    public static string ArraySpec(IReadOnlyList<int> cells, int? maxConcurrent)
    {
        var sorted = cells.Distinct().Order().ToList();
        if (sorted.Count == 0) throw new ArgumentException("no cells to submit");
        var parts = new List<string>();
        for (int i = 0; i < sorted.Count;)
        {
            int j = i;
            while (j + 1 < sorted.Count && sorted[j + 1] == sorted[j] + 1) j++;
            parts.Add(i == j ? $"{sorted[i]}" : $"{sorted[i]}-{sorted[j]}");
            i = j + 1;
        }
        return string.Join(',', parts) + (maxConcurrent is int k ? $"%{k}" : "");
    }

    /// <summary>The sbatch script of a job array running <paramref name="cells"/> of the sweep in <paramref name="directory"/>.</summary>
    public static string Script(SweepPlan plan, string directory, IReadOnlyList<int> cells, CellCommand command, SlurmOptions options)
    {
        var logs = Path.Combine(directory, Folder, "logs");
        var s = new StringBuilder();
        s.Append("#!/bin/bash\n");
        s.Append($"# research sweep '{plan.Name}' ({plan.Experiment}): {cells.Count} of {plan.Cells.Count} cells, one array task each.\n");
        s.Append($"#SBATCH --job-name={JobName(plan.Name)}\n");
        s.Append($"#SBATCH --array={ArraySpec(cells, options.MaxConcurrent)}\n");
        s.Append($"#SBATCH --cpus-per-task={options.CpusPerTask}\n");
        s.Append("#SBATCH --ntasks=1\n");
        s.Append($"#SBATCH --output={logs}/%A_%a.out\n");
        s.Append($"#SBATCH --error={logs}/%A_%a.err\n");
        if (options.Partition is { } p) s.Append($"#SBATCH --partition={p}\n");
        if (options.Account is { } a) s.Append($"#SBATCH --account={a}\n");
        if (options.Time is { } t) s.Append($"#SBATCH --time={t}\n");
        if (options.Memory is { } m) s.Append($"#SBATCH --mem={m}\n");
        if (options.Gres is { } g) s.Append($"#SBATCH --gres={g}\n");
        s.Append("set -euo pipefail\n");
        s.Append("# libtorch uses exactly the cores Slurm granted this task.\n");
        s.Append("threads=\"${SLURM_CPUS_PER_TASK:-1}\"\n");
        var args = command.CellArguments(directory, 0, null, options.WantsGpu ? "cuda" : null).ToList();
        int indexAt = command.Prefix.Count + 3;   // "sweep", "cell", DIR, INDEX
        var line = new List<string> { Quote(command.Program) };
        for (int i = 0; i < args.Count; i++)
            line.Add(i == indexAt ? "\"$SLURM_ARRAY_TASK_ID\"" : Quote(args[i]));
        line.Add("--threads");
        line.Add("\"$threads\"");
        s.Append("exec ").Append(string.Join(' ', line)).Append('\n');
        return s.ToString();
    }

    /// <summary>
    /// Writes the script for the cells not finished and submits it; returns the job, also recorded in
    /// <c>slurm/jobs.json</c>. Null when every cell is already done.
    /// </summary>
    public static SlurmJob? Submit(string directory, CellCommand command, SlurmOptions options)
    {
        var sbatch = Sbatch() ?? throw new ArgumentException("--executor slurm needs sbatch, which is not on the PATH (Slurm is not installed here); run with --executor local");
        if (directory.Any(char.IsWhiteSpace))
            throw new ArgumentException($"the sweep directory '{directory}' has a space in its path, which #SBATCH lines cannot hold; move it to a path without spaces");
        var plan = SweepPlan.Read(directory);
        if (options.WantsGpu && plan.Environment.Device == "cpu")
            throw new ArgumentException("--gres asks for GPUs but the sweep was planned for cpu; plan it with research sweep plan --device cuda");
        var cells = plan.Cells.Where(c => SweepCells.StateOf(directory, c) is not CellState.Done).Select(c => c.Index).ToList();
        if (cells.Count == 0) return null;
        var folder = Path.Combine(directory, Folder);
        Directory.CreateDirectory(Path.Combine(folder, "logs"));
        var scriptPath = Path.Combine(folder, $"array-{DateTime.UtcNow:yyyyMMdd-HHmmss}.sbatch");
        AtomicFile.Write(scriptPath, p => File.WriteAllText(p, Script(plan, directory, cells, command, options)));
        var (exit, stdout, stderr) = Run(sbatch, ["--parsable", scriptPath]);
        if (exit != 0) throw new SlurmException($"sbatch refused the job array ({scriptPath}): {stderr.Trim()}");
        var jobId = stdout.Trim().Split(';')[0];   // --parsable prints "id" or "id;cluster"
        if (jobId.Length == 0 || !jobId.All(char.IsAsciiDigit)) throw new SlurmException($"sbatch printed no job id: '{stdout.Trim()}'");
        var job = new SlurmJob(jobId, scriptPath, DateTime.UtcNow, cells);
        var jobs = Jobs(directory).Append(job).ToList();
        AtomicFile.Write(Path.Combine(folder, JobsFile), p => File.WriteAllText(p, JsonSerializer.Serialize(jobs, ExperimentConfigs.Json)));
        return job;
    }

    /// <summary>The job arrays submitted for this sweep, oldest first.</summary>
    public static IReadOnlyList<SlurmJob> Jobs(string directory)
    {
        var path = Path.Combine(directory, Folder, JobsFile);
        return File.Exists(path) ? JsonSerializer.Deserialize<List<SlurmJob>>(File.ReadAllText(path), ExperimentConfigs.Json) ?? [] : [];
    }

    /// <summary>The tasks of <paramref name="jobId"/> Slurm still holds (pending or running), from <c>squeue</c>; null without squeue.</summary>
    public static IReadOnlyList<(string Task, string State)>? Queue(string jobId)
    {
        var squeue = Executables.Find("RESEARCH_SQUEUE", [], ["squeue"]);
        if (squeue is null) return null;
        // Only tasks still to finish: clusters keep finished jobs visible for a while (MinJobAge).
        var (exit, stdout, stderr) = Run(squeue, ["-h", "-r", "-j", jobId, "-t", "PENDING,RUNNING,SUSPENDED,COMPLETING,CONFIGURING", "-o", "%i %T"]);
        if (exit != 0)
        {
            // A job id it no longer knows: nothing of it is queued. Anything else is a real error (controller down).
            if (stderr.Contains("Invalid job id", StringComparison.OrdinalIgnoreCase)) return [];
            throw new SlurmException($"squeue failed: {stderr.Trim()}");
        }
        return stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(l => l.Split(' ', 2)).Select(p => (p[0], p.Length > 1 ? p[1] : "?")).ToList();
    }

    /// <summary><c>sacct</c>'s states of the job's tasks, or the reason it cannot say (accounting is off on many small clusters).</summary>
    public static (IReadOnlyList<(string Task, string State, string ExitCode)> Tasks, string? Unavailable) Accounting(string jobId)
    {
        var sacct = Executables.Find("RESEARCH_SACCT", [], ["sacct"]);
        if (sacct is null) return ([], "sacct is not on the PATH");
        var (exit, stdout, stderr) = Run(sacct, ["-n", "-P", "-X", "-j", jobId, "-o", "JobID,State,ExitCode"]);
        if (exit != 0) return ([], stderr.Trim().Split('\n')[0]);
        return (stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(l => l.Split('|')).Where(p => p.Length >= 3).Select(p => (p[0], p[1], p[2])).ToList(), null);
    }

    /// <summary>
    /// Polls until Slurm holds no task of <paramref name="job"/>, then records as failed every cell of it that left no
    /// result (a task killed for its time or memory limit cannot write its own failure), with its log's tail.
    /// </summary>
    public static async Task WaitAsync(string directory, SlurmJob job, TimeSpan poll, IProgress<SweepProgress>? progress = null, CancellationToken cancellation = default)
    {
        var plan = SweepPlan.Read(directory);
        while (true)
        {
            var queued = Queue(job.JobId) ?? throw new SlurmException("--wait needs squeue, which is not on the PATH");
            var states = plan.Cells.Select(c => SweepCells.StateOf(directory, c)).ToList();
            progress?.Report(new SweepProgress(states.Count(s => s == CellState.Done), states.Count(s => s == CellState.Failed), plan.Cells.Count, null,
                queued.Count == 0 ? null : $"job {job.JobId}: {queued.Count} tasks queued or running"));
            if (queued.Count == 0) break;
            await Task.Delay(poll, cancellation);
        }
        foreach (int index in job.Cells)
        {
            var cell = plan.Cells[index];
            if (SweepCells.StateOf(directory, cell) is CellState.Done or CellState.Failed) continue;
            var err = Path.Combine(directory, Folder, "logs", $"{job.JobId}_{index}.err");
            var tail = File.Exists(err) ? File.ReadLines(err).TakeLast(SweepCells.TailLines).ToList() : [];
            SweepCells.RecordFailure(directory, cell, -1, $"Slurm task {job.JobId}_{index} ended without a result (see {err})", tail);
        }
    }

    private static string JobName(string name) => "research-" + new string(name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '_').ToArray());

    // Single quotes keep paths with spaces whole; a quote inside is closed, escaped and reopened.
    private static string Quote(string s) => "'" + s.Replace("'", "'\\''") + "'";

    private static (int Exit, string Out, string Err) Run(string program, IEnumerable<string> args)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start) ?? throw new SlurmException($"cannot start {program}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            throw new SlurmException($"{program} did not answer within 2 minutes");
        }
        return (process.ExitCode, stdout.Result, stderr.Result);
    }
}

/// <summary>Slurm refused or failed a request; the message carries its words.</summary>
public sealed class SlurmException(string message) : Exception(message);

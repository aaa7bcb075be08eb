using System.Diagnostics;

namespace Research.Sweeps;

/// <summary>How to start <c>research</c> itself: a program and the arguments before the subcommand.</summary>
public sealed record CellCommand(string Program, IReadOnlyList<string> Prefix)
{
    /// <summary>The arguments that run cell <paramref name="index"/> of the sweep in <paramref name="directory"/>.</summary>
    public IReadOnlyList<string> CellArguments(string directory, int index, int? threads, string? device = null)
    {
        var args = new List<string>(Prefix) { "sweep", "cell", directory, index.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        if (threads is int t) args.AddRange(["--threads", t.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        if (device is not null) args.AddRange(["--device", device]);
        return args;
    }
}

/// <summary>Cells done, failed and left, with an estimate of the time left.</summary>
public sealed record SweepProgress(int Done, int Failed, int Total, TimeSpan? Remaining, string? Latest);

/// <summary>How a run ended: cells finished before it, in it, failed in it, and left pending (stopped early).</summary>
public sealed record SweepRunSummary(int AlreadyDone, int Ran, int Failed, int Pending, TimeSpan Elapsed);

/// <summary>
/// Runs the cells that are not finished on this machine, each in its own <c>research sweep cell</c> process: one at a
/// time by default (two libtorch processes on two cores slow each other many times over), or <c>parallel</c> at once
/// with libtorch's threads divided between them. A failing cell is recorded and the rest go on.
/// </summary>
public static class LocalExecutor
{
    public static async Task<SweepRunSummary> RunAsync(string directory, CellCommand command, int parallel, int threadsPerCell,
        IProgress<SweepProgress>? progress = null, CancellationToken cancellation = default)
    {
        if (parallel < 1) throw new ArgumentException($"--parallel must be ≥ 1 (got {parallel})");
        if (threadsPerCell < 1) throw new ArgumentException($"threads per cell must be ≥ 1 (got {threadsPerCell})");
        var plan = SweepPlan.Read(directory);
        var todo = plan.Cells.Where(c => SweepCells.StateOf(directory, c) != CellState.Done).ToList();
        int alreadyDone = plan.Cells.Count - todo.Count, ran = 0, failed = 0;
        var metrics = plan.ResolvedMetrics();
        // A metric path the results do not hold is a mistake in the sweep file: the first finished cell tells, so with
        // one already there nothing runs, and otherwise the sweep stops after its first result.
        bool metricsChecked = alreadyDone > 0;
        string? metricError = metricsChecked ? CheckMetrics(directory, plan, metrics) : null;
        if (metricError is not null) throw new Experiments.ConfigException(metricError);
        var watch = Stopwatch.StartNew();
        var cellSeconds = new List<double>();
        var queue = new Queue<SweepCell>(todo);
        var running = new List<Task<(SweepCell Cell, bool Ok, double Seconds)>>();
        var gate = new object();

        void Report(string? latest)
        {
            TimeSpan? remaining = null;
            int left = todo.Count - ran - failed;
            lock (gate)
                if (cellSeconds.Count > 0) remaining = TimeSpan.FromSeconds(cellSeconds.Average() * left / Math.Min(parallel, Math.Max(1, left)));
            progress?.Report(new SweepProgress(alreadyDone + ran, failed, plan.Cells.Count, left == 0 ? TimeSpan.Zero : remaining, latest));
        }

        Report(null);
        while (queue.Count > 0 || running.Count > 0)
        {
            while (running.Count < parallel && queue.Count > 0 && metricError is null && !cancellation.IsCancellationRequested)
            {
                var cell = queue.Dequeue();
                running.Add(RunCellAsync(directory, cell, command, threadsPerCell, cancellation));
            }
            if (running.Count == 0) break;
            var finished = await Task.WhenAny(running);
            running.Remove(finished);
            var (c, ok, seconds) = await finished;
            if (ok)
            {
                ran++;
                lock (gate) cellSeconds.Add(seconds);
                if (!metricsChecked) { metricError = CheckMetrics(directory, plan, metrics); metricsChecked = true; }
            }
            else failed++;
            Report($"{c.Arm}, seed {c.Seed}: {(ok ? "done" : "FAILED")}");
        }
        cancellation.ThrowIfCancellationRequested();
        if (metricError is not null) throw new Experiments.ConfigException(metricError);
        return new SweepRunSummary(alreadyDone, ran, failed, queue.Count, watch.Elapsed);
    }

    /// <summary>Null when every metric evaluates on the first finished cell, else the error naming the path.</summary>
    public static string? CheckMetrics(string directory, SweepPlan plan, IReadOnlyList<SweepMetric> metrics)
    {
        var cell = plan.Cells.FirstOrDefault(c => SweepCells.StateOf(directory, c) == CellState.Done);
        if (cell is null) return null;
        var result = SweepCells.ResultOf(directory, cell);
        foreach (var metric in metrics)
        {
            try { metric.Path.Evaluate(result); }
            catch (MetricException e) { return $"{SweepPlan.SweepFileCopy}: metric '{metric.Name}': {e.Message} (in {cell.Folder}/{SweepPlan.ResultFile})"; }
        }
        return null;
    }

    private static async Task<(SweepCell, bool, double)> RunCellAsync(string directory, SweepCell cell, CellCommand command, int threads, CancellationToken cancellation)
    {
        var start = new ProcessStartInfo(command.Program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in command.CellArguments(directory, cell.Index, threads)) start.ArgumentList.Add(a);
        var watch = Stopwatch.StartNew();
        var tail = new Queue<string>();
        var log = Path.Combine(directory, cell.Folder, "stderr.log");
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"cannot start {command.Program}");
        await using (var writer = new StreamWriter(log))
        {
            var stdout = process.StandardOutput.ReadToEndAsync(cancellation);   // the cell prints one line; keep the pipe drained
            try
            {
                while (await process.StandardError.ReadLineAsync(cancellation) is { } line)
                {
                    await writer.WriteLineAsync(line);
                    tail.Enqueue(line);
                    if (tail.Count > SweepCells.TailLines) tail.Dequeue();
                }
                await process.WaitForExitAsync(cancellation);
                await stdout;
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw;
            }
        }
        if (process.ExitCode == 0 && SweepCells.StateOf(directory, cell) == CellState.Done) return (cell, true, watch.Elapsed.TotalSeconds);
        // Ctrl-C reaches the cell too (one process group), which may end before this process notices: interrupted, not failed.
        cancellation.ThrowIfCancellationRequested();
        // The cell records its own errors; a crash (killed, out of memory) cannot, so record it here with the output's tail.
        var error = tail.LastOrDefault(l => l.StartsWith("research:", StringComparison.Ordinal))
                    ?? (process.ExitCode == 0 ? "the cell exited 0 without a result" : $"the cell process exited with code {process.ExitCode}");
        SweepCells.RecordFailure(directory, cell, process.ExitCode == 0 ? 1 : process.ExitCode, error, tail.ToList());
        return (cell, false, watch.Elapsed.TotalSeconds);
    }
}

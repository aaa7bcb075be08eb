using System.CommandLine;
using System.Text.Json;
using Research.Experiments;
using Research.Platform;
using Research.Sweeps;
using Spectre.Console;
using TorchSharp;

namespace Research.Cli;

/// <summary><c>research sweep plan|run|cell|status|report</c>: ablations over seeds and configs, locally or on Slurm.</summary>
public static class SweepCommand
{
    private static readonly string[] Executors = ["local", "slurm"];

    public static Command Create(TextWriter stdout, TextWriter stderr) => new("sweep",
        "Ablations that hold up: many seeds per arm, the same seeds in every arm, paired statistics; cells run here or as a Slurm job array.")
    {
        Plan(stdout), Run(stdout, stderr), Cell(stdout, stderr), Status(stdout), Report(stdout),
    };

    private static Command Plan(TextWriter stdout)
    {
        var file = new Argument<string>("file") { Description = "A sweep file (JSON; examples in data/sweeps/)." };
        var outDir = new Option<string>("--out") { Description = "The sweep directory to plan into.", Required = true };
        var device = new Option<string>("--device") { Description = $"Device every cell runs on: {Devices.Allowed}.", DefaultValueFactory = _ => "cpu" };
        var command = new Command("plan", "Resolve every cell (arm × seed) with its full config and content hash into DIR; re-planning keeps finished cells whose hash is unchanged.")
        { file, outDir, device };
        command.SetAction(parse =>
        {
            var path = parse.GetValue(file)!;
            var sweep = SweepFiles.Load(path);
            var dev = parse.GetValue(device)!;
            Devices.Parse(dev);   // an unknown or absent device is bad input now, not in every cell
            var outcome = SweepPlanner.Plan(sweep, path, parse.GetValue(outDir)!, dev);
            stdout.WriteLine($"planned {outcome.Plan.Cells.Count} cells ({sweep.Arms.Count} arms × {sweep.Seeds.Count} seeds) of {sweep.Experiment.Id} in {outcome.Directory}" +
                             (outcome.Kept > 0 ? $"; kept {outcome.Kept} finished cells" : "") +
                             (outcome.Invalidated > 0 ? $"; cleared {outcome.Invalidated} results planned with another config or kit" : ""));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Run(TextWriter stdout, TextWriter stderr)
    {
        var dir = new Argument<string>("dir") { Description = "A planned sweep directory." };
        var executor = new Option<string>("--executor") { Description = "local (this machine) or slurm (an sbatch job array).", DefaultValueFactory = _ => "local" };
        executor.Validators.Add(r =>
        {
            if (r.Tokens is [{ Value: var v }] && !Executors.Contains(v)) r.AddError($"--executor: unknown value '{v}'; allowed: {string.Join(", ", Executors)}");
        });
        var parallel = new Option<int>("--parallel") { Description = "local: cells at once, libtorch's threads divided between them (default 1: two libtorch processes on two cores slow each other many times over).", DefaultValueFactory = _ => 1 };
        var threads = new Option<int?>("--threads") { Description = "local: libtorch's threads per cell (default: the cores divided by --parallel)." };
        var partition = new Option<string?>("--partition") { Description = "slurm: the partition." };
        var account = new Option<string?>("--account") { Description = "slurm: the account to charge." };
        var time = new Option<string?>("--time") { Description = "slurm: time limit per cell, e.g. 00:30:00." };
        var mem = new Option<string?>("--mem") { Description = "slurm: memory per cell, e.g. 4G." };
        var cpus = new Option<int>("--cpus-per-task") { Description = "slurm: cores per cell (libtorch's threads).", DefaultValueFactory = _ => 1 };
        var gres = new Option<string?>("--gres") { Description = "slurm: generic resources, e.g. gpu:1 (cells then run with --device cuda; plan with --device cuda)." };
        var maxConcurrent = new Option<int?>("--max-concurrent") { Description = "slurm: at most this many cells at once (%K of the array)." };
        var wait = new Option<bool>("--wait") { Description = "slurm: poll until the job array ends, then exit 1 if any cell failed." };
        var poll = new Option<double>("--poll-seconds") { Description = "slurm --wait: seconds between polls.", DefaultValueFactory = _ => 10 };
        var command = new Command("run", "Run the cells not finished: here one at a time (or --parallel N), or as one Slurm job array (--executor slurm).")
        { dir, executor, parallel, threads, partition, account, time, mem, cpus, gres, maxConcurrent, wait, poll };
        command.SetAction(async (parse, ct) =>
        {
            var directory = Path.GetFullPath(parse.GetValue(dir)!);
            var plan = SweepPlan.Read(directory);
            // Two runners of one sweep would start the same cells twice and overwrite each other's results.
            using var outputLock = OutputLock.Acquire(directory);
            if (parse.GetValue(executor) == "slurm")
            {
                var options = new SlurmOptions(parse.GetValue(partition), parse.GetValue(account), parse.GetValue(time), parse.GetValue(mem),
                    parse.GetValue(cpus), parse.GetValue(gres), parse.GetValue(maxConcurrent)).Validated();
                if (parse.GetValue(poll) is not (> 0 and <= 3600)) throw new ArgumentException($"--poll-seconds must be in (0, 3600] (got {parse.GetValue(poll)})");
                var job = SlurmExecutor.Submit(directory, Self(), options);
                if (job is null) { stdout.WriteLine($"all {plan.Cells.Count} cells are finished; nothing to submit"); return ExitCodes.Ok; }
                stdout.WriteLine($"submitted job array {job.JobId}: {job.Cells.Count} cells ({job.Script})");
                if (!parse.GetValue(wait)) { stdout.WriteLine($"follow it with research sweep status {directory}"); return ExitCodes.Ok; }
                await WithProgress(stderr, progress => SlurmExecutor.WaitAsync(directory, job, TimeSpan.FromSeconds(parse.GetValue(poll)), progress, ct));
                return Finish(directory, stdout);
            }
            int n = parse.GetValue(parallel);
            if (n < 1) throw new ArgumentException($"--parallel must be ≥ 1 (got {n})");
            int perCell = parse.GetValue(threads) ?? Math.Max(1, Environment.ProcessorCount / n);
            if (perCell < 1) throw new ArgumentException($"--threads must be ≥ 1 (got {perCell})");
            var summary = await WithProgress(stderr, progress => LocalExecutor.RunAsync(directory, Self(), n, perCell, progress, ct));
            stdout.WriteLine($"ran {summary.Ran + summary.Failed} cells in {summary.Elapsed.TotalSeconds:F1} s ({summary.AlreadyDone} already finished)");
            return Finish(directory, stdout);
        });
        return command;
    }

    // Exit 1 when any cell failed, naming each with its error; 0 when every cell is finished.
    private static int Finish(string directory, TextWriter stdout)
    {
        var plan = SweepPlan.Read(directory);
        var states = plan.Cells.Select(c => (Cell: c, State: SweepCells.StateOf(directory, c))).ToList();
        var failed = states.Where(s => s.State == CellState.Failed).Select(s => s.Cell).ToList();
        foreach (var cell in failed)
            stdout.WriteLine($"FAILED cell {cell.Index} ({cell.Arm}, seed {cell.Seed}): {SweepCells.FailureOf(directory, cell)?.Error}");
        int done = states.Count(s => s.State == CellState.Done);
        stdout.WriteLine($"{done} of {plan.Cells.Count} cells finished, {failed.Count} failed; report with research sweep report {directory}");
        return failed.Count == 0 && done == plan.Cells.Count ? ExitCodes.Ok : ExitCodes.Failed;
    }

    private static Command Cell(TextWriter stdout, TextWriter stderr)
    {
        var dir = new Argument<string>("dir") { Description = "A planned sweep directory." };
        var index = new Argument<int>("index") { Description = "The cell's number in plan.json (a Slurm array task's SLURM_ARRAY_TASK_ID)." };
        var threads = new Option<int?>("--threads") { Description = "libtorch's intra-op threads for this cell." };
        var device = new Option<string?>("--device") { Description = "Must match the plan's device (checked); a Slurm task granted a GPU passes cuda." };
        var command = new Command("cell", "Run one cell of a planned sweep in this process (what 'sweep run' and each Slurm array task start).") { dir, index, threads, device };
        command.SetAction((parse, cancellation) =>
        {
            var directory = Path.GetFullPath(parse.GetValue(dir)!);
            if (parse.GetValue(threads) is int t)
            {
                if (t < 1) throw new ArgumentException($"--threads must be ≥ 1 (got {t})");
                TorchRuntime.EnsureLoaded();
                torch.set_num_threads(t);
            }
            var plan = SweepPlan.Read(directory);
            var cell = plan.Cell(parse.GetValue(index));
            var done = ProgressDisplay.Run($"{cell.Arm} seed {cell.Seed}", stderr,
                progress => SweepCells.Run(directory, cell.Index, parse.GetValue(device), progress, cancellation));
            stdout.WriteLine($"cell {cell.Index} ({cell.Arm}, seed {cell.Seed}) finished in {done.Seconds:F1} s");
            return Task.FromResult(ExitCodes.Ok);
        });
        return command;
    }

    private static Command Status(TextWriter stdout)
    {
        var dir = new Argument<string>("dir") { Description = "A planned sweep directory." };
        var command = new Command("status", "Cells by state from the cell files, and the sweep's Slurm jobs from squeue and sacct.") { dir };
        command.SetAction(parse =>
        {
            var directory = Path.GetFullPath(parse.GetValue(dir)!);
            var plan = SweepPlan.Read(directory);
            var states = plan.Cells.Select(c => (Cell: c, State: SweepCells.StateOf(directory, c))).ToList();
            stdout.WriteLine($"sweep '{plan.Name}' ({plan.Experiment}), {plan.Cells.Count} cells: " +
                             string.Join(", ", Enum.GetValues<CellState>().Select(s => $"{states.Count(x => x.State == s)} {s.ToString().ToLowerInvariant()}")));
            foreach (var arm in plan.Arms)
            {
                var mine = states.Where(s => s.Cell.Arm == arm).ToList();
                stdout.WriteLine($"  {arm,-28} {mine.Count(s => s.State == CellState.Done)}/{mine.Count} done" +
                                 (mine.Any(s => s.State == CellState.Failed) ? $", failed seeds {string.Join(' ', mine.Where(s => s.State == CellState.Failed).Select(s => s.Cell.Seed))}" : ""));
            }
            foreach (var job in SlurmExecutor.Jobs(directory))
            {
                var queued = SlurmExecutor.Queue(job.JobId);
                stdout.WriteLine($"slurm job {job.JobId} ({job.Cells.Count} cells, submitted {job.SubmittedUtc:yyyy-MM-dd HH:mm} UTC): " +
                                 (queued is null ? "squeue not on the PATH" : queued.Count == 0 ? "nothing queued or running"
                                     : string.Join(", ", queued.GroupBy(q => q.State).Select(g => $"{g.Count()} {g.Key.ToLowerInvariant()}"))));
                var (tasks, unavailable) = SlurmExecutor.Accounting(job.JobId);
                stdout.WriteLine(unavailable is not null ? $"  sacct: {unavailable}"
                    : $"  sacct: {string.Join(", ", tasks.GroupBy(t => t.State).Select(g => $"{g.Count()} {g.Key.ToLowerInvariant()}"))}");
            }
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Report(TextWriter stdout)
    {
        var dir = new Argument<string>("dir") { Description = "A planned sweep directory (finished cells are used; missing ones are counted)." };
        var json = new Option<bool>("--json") { Description = "Print the report as JSON instead of the tables." };
        var html = new Option<bool>("--html") { Description = "Also write report/index.html: an offline page with the tables and charts." };
        var command = new Command("report", "Per arm n, mean, SD and t interval; per arm against the baseline the paired differences, Holm-adjusted p-values and a verdict. Writes report/ (CSV, JSON, HTML).")
        { dir, json, html };
        command.SetAction(parse =>
        {
            var directory = Path.GetFullPath(parse.GetValue(dir)!);
            SweepReport report;
            try { report = SweepReport.Build(directory); }
            catch (MetricException e) { throw new ConfigException(e.Message); }
            var folder = report.Write(directory, parse.GetValue(html));
            if (parse.GetValue(json)) { stdout.WriteLine(report.ToJson()); return ExitCodes.Ok; }
            Print(report, stdout);
            stdout.WriteLine($"wrote {folder}");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static void Print(SweepReport report, TextWriter stdout)
    {
        var console = ConsoleTables.For(stdout);
        console.WriteLine($"sweep '{report.Name}' ({report.Experiment}): {report.Done} of {report.Cells} cells finished; baseline {report.Baseline}");
        foreach (var metric in report.Metrics)
        {
            console.Write(ConsoleTables.Of(report.ArmsTable(metric)));
            // The sentence a paper would print: effect, interval, n and method, then the verdict.
            foreach (var c in metric.Comparisons)
                console.WriteLine($"{c.Arm} vs {report.Baseline}: Δ {metric.Name} {Verdicts.Signed(c.Mean)} [{Verdicts.Signed(c.Low)}, {Verdicts.Signed(c.High)}], n = {c.N} seeds, " +
                                  $"paired t {100 * (1 - report.Alpha):0.#} %, Holm over {metric.Comparisons.Count}: {Verdicts.Name(c.Verdict)}");
        }
        console.WriteLine(report.Method);
    }


    /// <summary>
    /// How to start this very <c>research</c>: its apphost beside the assembly when there is one, else <c>dotnet research.dll</c>
    /// (the in-process tests load the CLI as a library).
    /// </summary>
    private static CellCommand Self()
    {
        var dll = typeof(SweepCommand).Assembly.Location;
        var folder = Path.GetDirectoryName(dll)!;
        var apphost = Path.Combine(folder, OperatingSystem.IsWindows() ? "research.exe" : "research");
        if (File.Exists(apphost)) return new CellCommand(apphost, []);
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH")
                     ?? (Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p) == "dotnet" ? p : "dotnet");
        return new CellCommand(dotnet, [dll]);
    }

    /// <summary>
    /// A live bar (cells done, failed, time left) when stderr is a terminal; one log line per finished cell otherwise (CI
    /// logs, pipes, the tests). Progress goes to stderr so stdout keeps the summary.
    /// </summary>
    private static async Task<T> WithProgress<T>(TextWriter stderr, Func<IProgress<SweepProgress>, Task<T>> work)
    {
        if (!ReferenceEquals(stderr, Console.Error) || Console.IsErrorRedirected) return await work(new ProgressLines(stderr));
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        T result = default!;
        await console.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .StartAsync(async ctx =>
            {
                var task = ctx.AddTask("cells", maxValue: 1);
                result = await work(new Progress<SweepProgress>(p =>
                {
                    task.MaxValue = Math.Max(1, p.Total);
                    task.Value = p.Done + p.Failed;
                    task.Description = Markup.Escape($"{p.Done}/{p.Total} done, {p.Failed} failed" + (p.Remaining is { } r ? $", about {ProgressLines.Format(r)} left" : ""));
                }));
            });
        return result;
    }

    private static Task<bool> WithProgress(TextWriter stderr, Func<IProgress<SweepProgress>, Task> work) =>
        WithProgress(stderr, async progress => { await work(progress); return true; });

    // Sweep progress as log lines on stderr: one per finished cell, with the count, failures and time left.
    private sealed class ProgressLines(TextWriter stderr) : IProgress<SweepProgress>
    {
        private string? _last;

        public void Report(SweepProgress p)
        {
            var eta = p.Remaining is { } r ? $", about {Format(r)} left" : "";
            var line = $"[sweep] {p.Done}/{p.Total} done, {p.Failed} failed{eta}" + (p.Latest is null ? "" : $": {p.Latest}");
            if (line == _last) return;
            _last = line;
            stderr.WriteLine(line);
        }

        public static string Format(TimeSpan t) => t.TotalHours >= 1 ? $"{t.TotalHours:F1} h" : t.TotalMinutes >= 1 ? $"{t.TotalMinutes:F0} min" : $"{t.TotalSeconds:F0} s";
    }
}

using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Research.Sweeps;
using Research.Tests.Cli;
using Xunit;

namespace Research.Tests.Sweeps;

/// <summary>
/// The small example sweep (data/sweeps/small-moe-balance.json, 2 arms × 5 seeds) run once per test process on this
/// machine, one thread per cell: started as a real <c>research</c> process, killed after two cells finished, and resumed.
/// The local tests read what that did; the Slurm test compares its own cells with these.
/// </summary>
public static class SmallSweep
{
    public static string File => Path.Combine(TestPaths.RepoRoot, "data", "sweeps", "small-moe-balance.json");

    public sealed record Run(string Directory, int FinishedBeforeKill, IReadOnlyDictionary<string, string> ResultsBeforeKill,
        string StatusAfterKill, int ResumeExit, string ResumeOut);

    private static readonly Lazy<Run> Shared = new(Start);

    public static Run Local => Shared.Value;

    public static string ResearchDll => TestPaths.Built("Research.Cli", "research.dll");

    private static Run Start()
    {
        var dir = Path.Combine(TestPaths.TempFolder(), "small");
        var (exit, _, err) = InProcessCli.Run("sweep", "plan", File, "--out", dir);
        Assert.True(exit == 0, err);

        // A real run, killed (with its running cell) once two cells have finished: what a laptop closed mid-sweep leaves.
        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { ResearchDll, "sweep", "run", dir, "--threads", "1" }) start.ArgumentList.Add(a);
        using (var process = Process.Start(start)!)
        {
            _ = process.StandardOutput.ReadToEndAsync();
            _ = process.StandardError.ReadToEndAsync();
            var deadline = Stopwatch.StartNew();
            while (Done(dir).Count < 2 && !process.HasExited && deadline.Elapsed < TimeSpan.FromMinutes(3)) Thread.Sleep(100);
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }
        var before = Done(dir).ToDictionary(f => f, f => System.IO.File.ReadAllText(Path.Combine(f, SweepPlan.ResultFile)));
        var status = InProcessCli.Run("sweep", "status", dir).Out;
        var (resumeExit, resumeOut, resumeErr) = InProcessCli.Run("sweep", "run", dir, "--threads", "1");
        return new Run(dir, before.Count, before, status, resumeExit, resumeOut + resumeErr);
    }

    /// <summary>The folders of the cells with a done marker.</summary>
    public static List<string> Done(string dir) =>
        Directory.Exists(Path.Combine(dir, "cells"))
            ? Directory.GetFiles(Path.Combine(dir, "cells"), SweepPlan.DoneFile, SearchOption.AllDirectories).Select(f => Path.GetDirectoryName(f)!).ToList()
            : [];

    /// <summary>A number in a cell's result.json, read without the kit's metric paths (the test's own oracle).</summary>
    public static double Value(string cellFolder, string field)
    {
        using var doc = JsonDocument.Parse(System.IO.File.ReadAllText(Path.Combine(cellFolder, SweepPlan.ResultFile)));
        return doc.RootElement.GetProperty("result").GetProperty("perSeed")[0].GetProperty("result").GetProperty("strategies")[0].GetProperty(field).GetDouble();
    }
}

public sealed class SweepRunTests
{
    [Fact]
    public void A_killed_run_resumes_with_only_the_unfinished_cells()
    {
        var run = SmallSweep.Local;
        Assert.True(run.FinishedBeforeKill >= 2, $"{run.FinishedBeforeKill} cells finished before the kill");
        // The cell that was running when the process died is pending again, not "running" forever.
        Assert.Contains($"{10 - run.FinishedBeforeKill} pending, 0 running, {run.FinishedBeforeKill} done, 0 failed", run.StatusAfterKill);
        Assert.True(run.ResumeExit == 0, run.ResumeOut);
        Assert.Contains($"ran {10 - run.FinishedBeforeKill} cells", run.ResumeOut);
        Assert.Contains($"({run.FinishedBeforeKill} already finished)", run.ResumeOut);
        Assert.Equal(10, SmallSweep.Done(run.Directory).Count);
        foreach (var (folder, text) in run.ResultsBeforeKill)   // finished cells are not run again
            Assert.Equal(text, File.ReadAllText(Path.Combine(folder, SweepPlan.ResultFile)));
        Assert.DoesNotContain(Directory.GetFiles(run.Directory, "*", SearchOption.AllDirectories), f => f.Contains(".partial-"));
    }

    [Fact]
    public void The_report_is_the_paired_statistics_of_the_cells_own_numbers()
    {
        var dir = SmallSweep.Local.Directory;
        var (exit, stdout, err) = InProcessCli.Run("sweep", "report", dir, "--json", "--html");
        Assert.True(exit == 0, err);
        var report = JsonNode.Parse(stdout)!;
        Assert.Equal(10, (int)report["done"]!);

        foreach (var (metric, field) in new[] { ("MaxVio (global)", "maxVioGlobal"), ("validation loss", "validationLoss") })
        {
            var m = report["metrics"]!.AsArray().Single(x => (string)x!["name"]! == metric)!;
            double[] Seeds(string arm) => Enumerable.Range(0, 5).Select(s => SmallSweep.Value(Path.Combine(dir, "cells", arm, $"seed-{s}"), field)).ToArray();
            var none = Seeds("none");
            var alf = Seeds("aux-loss-free");
            var arm = m["arms"]!.AsArray().Single(a => (string)a!["arm"]! == "aux-loss-free")!;
            Assert.Equal(5, (int)arm["summary"]!["n"]!);
            Assert.Equal(alf.Average(), (double)arm["summary"]!["mean"]!, 12);
            double sd = Math.Sqrt(alf.Sum(v => (v - alf.Average()) * (v - alf.Average())) / 4);
            Assert.Equal(sd, (double)arm["summary"]!["standardDeviation"]!, 12);

            var diff = alf.Zip(none, (a, b) => a - b).ToArray();   // paired by seed: arm − baseline
            var c = m["comparisons"]!.AsArray().Single()!;
            Assert.Equal("aux-loss-free", (string)c["arm"]!);
            Assert.Equal(5, (int)c["n"]!);
            Assert.Equal(diff.Average(), (double)c["mean"]!, 12);
            Assert.True((double)c["low"]! <= diff.Average() && diff.Average() <= (double)c["high"]!);
            Assert.Contains((string)c["verdict"]!, new[] { "better", "worse", "equivalent", "inconclusive" });
        }

        var folder = Path.Combine(dir, "report");
        Assert.Equal(5, File.ReadAllLines(Path.Combine(folder, "summary.csv")).Length);       // header + 2 metrics × 2 arms
        Assert.Equal(3, File.ReadAllLines(Path.Combine(folder, "differences.csv")).Length);   // header + 2 metrics × 1 arm
        var page = File.ReadAllText(Path.Combine(folder, "index.html"));
        Assert.Contains("Holm", page);
        Assert.Contains("percentile bootstrap", page);
        int Draws(string html) => html.Split("Plotly.newPlot(").Length - 1;
        Assert.Equal(4, Draws(page) - Draws(Research.Charts.ChartHtml.PlotlyJs));   // per metric: arms with seeds, forest plot
    }

    [Fact]
    public void Replanning_keeps_finished_cells_adds_new_seeds_and_refuses_another_sweep()
    {
        var run = SmallSweep.Local;
        var copy = Path.Combine(TestPaths.TempFolder(), "small");
        CopyDirectory(run.Directory, copy);

        var (exit, stdout, err) = InProcessCli.Run("sweep", "plan", SmallSweep.File, "--out", copy);
        Assert.True(exit == 0, err);
        Assert.Contains("kept 10 finished cells", stdout);

        // The same sweep with a sixth seed: ten cells kept, two new ones to run.
        var more = Path.Combine(TestPaths.TempFolder(), Path.GetFileName(SmallSweep.File));
        File.WriteAllText(more, File.ReadAllText(SmallSweep.File).Replace("\"seeds\": 5", "\"seeds\": 6"));
        (exit, stdout, err) = InProcessCli.Run("sweep", "plan", more, "--out", copy);
        Assert.True(exit == 0, err);
        Assert.Contains("planned 12 cells", stdout);
        Assert.Contains("kept 10 finished cells", stdout);
        var status = InProcessCli.Run("sweep", "status", copy);
        Assert.Contains("10 done", status.Out);
        Assert.Contains("2 pending", status.Out);

        // Another sweep (another name) into the same folder: refused, and nothing in it changes.
        var other = Path.Combine(TestPaths.TempFolder(), "other.json");
        File.WriteAllText(other, File.ReadAllText(SmallSweep.File));
        var snapshot = Snapshot(copy);
        InProcessCli.AssertBadInput(InProcessCli.Run("sweep", "plan", other, "--out", copy), "planned from another sweep");
        Assert.Equal(snapshot, Snapshot(copy));

        // A changed config invalidates every cell it changes.
        File.WriteAllText(more, File.ReadAllText(more).Replace("\"steps\": 40", "\"steps\": 41"));
        (exit, stdout, err) = InProcessCli.Run("sweep", "plan", more, "--out", copy);
        Assert.True(exit == 0, err);
        Assert.Contains("cleared 10 results", stdout);
        Assert.DoesNotContain("kept", stdout);
    }

    [Fact]
    public void A_failing_cell_is_recorded_with_its_error_and_the_others_go_on()
    {
        var file = Path.Combine(TestPaths.TempFolder(), "one-seed.json");
        File.WriteAllText(file, File.ReadAllText(SmallSweep.File).Replace("\"seeds\": 5", "\"seeds\": [3]"));
        var dir = Path.Combine(TestPaths.TempFolder(), "failing");
        Assert.Equal(0, InProcessCli.Run("sweep", "plan", file, "--out", dir).Exit);
        // A config edited after planning no longer has the planned hash: the cell refuses to run it.
        var config = Path.Combine(dir, "cells", "none", "seed-3", SweepPlan.ConfigFile);
        File.WriteAllText(config, File.ReadAllText(config).Replace("\"steps\": 40", "\"steps\": 39"));

        var (exit, stdout, _) = InProcessCli.Run("sweep", "run", dir, "--threads", "1");
        Assert.Equal(1, exit);
        Assert.Contains("FAILED cell 0 (none, seed 3): research: cell 0 (none, seed 3) was planned for another config", stdout);
        Assert.Contains("1 of 2 cells finished, 1 failed", stdout);
        var failure = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "cells", "none", "seed-3", SweepPlan.FailedFile)))!;
        Assert.Equal(2, (int)failure["exitCode"]!);   // the cell's bad-input exit code
        Assert.Contains(failure["stderrTail"]!.AsArray(), l => ((string)l!).StartsWith("research: cell 0", StringComparison.Ordinal));
        Assert.True(File.Exists(Path.Combine(dir, "cells", "aux-loss-free", "seed-3", SweepPlan.DoneFile)));
        Assert.Contains("1 failed", InProcessCli.Run("sweep", "status", dir).Out);
    }

    private static string Snapshot(string dir) => string.Join('\n', Directory.GetFiles(dir, "*", SearchOption.AllDirectories).Order()
        .Select(f => $"{f} {new FileInfo(f).Length} {File.GetLastWriteTimeUtc(f):O}"));

    private static void CopyDirectory(string from, string to)
    {
        foreach (var d in Directory.GetDirectories(from, "*", SearchOption.AllDirectories)) Directory.CreateDirectory(d.Replace(from, to));
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from, "*", SearchOption.AllDirectories)) File.Copy(f, f.Replace(from, to));
    }
}

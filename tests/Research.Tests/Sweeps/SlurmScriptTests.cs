using Research.Sweeps;
using Research.Tests.Cli;
using Xunit;

namespace Research.Tests.Sweeps;

public class SlurmScriptTests
{
    [Theory]
    [InlineData(new[] { 0, 1, 2, 3 }, null, "0-3")]
    [InlineData(new[] { 0, 1, 2, 3, 5, 7, 8, 9 }, 2, "0-3,5,7-9%2")]
    [InlineData(new[] { 9, 4, 4, 5 }, null, "4-5,9")]
    [InlineData(new[] { 6 }, 1, "6%1")]
    public void ArraySpecCompressesRuns(int[] cells, int? max, string expected) => Assert.Equal(expected, SlurmExecutor.ArraySpec(cells, max));

    [Fact]
    public void ScriptRunsOneCellPerTaskWithTheGrantedCores()
    {
        var plan = new SweepPlan("s", "moe-balance", "default", DateTime.UtcNow, new SweepEnvironment("c", "t", "l", "cpu"),
            ["a", "b"], "a", [0, 1], [], [new SweepCell(0, "a", 0, "h0", "cells/a/seed-0"), new SweepCell(1, "a", 1, "h1", "cells/a/seed-1"),
                                          new SweepCell(2, "b", 0, "h2", "cells/b/seed-0"), new SweepCell(3, "b", 1, "h3", "cells/b/seed-1")]);
        var script = SlurmExecutor.Script(plan, "/shared/sweeps/s", [1, 2, 3], new CellCommand("/opt/kit/research", []),
            new SlurmOptions(Partition: "cpu", Account: "lab", Time: "00:30:00", Memory: "4G", CpusPerTask: 2, Gres: "gpu:1", MaxConcurrent: 2).Validated());
        var lines = script.Split('\n');
        Assert.Equal("#!/bin/bash", lines[0]);
        foreach (var expected in new[] { "#SBATCH --array=1-3%2", "#SBATCH --cpus-per-task=2", "#SBATCH --partition=cpu", "#SBATCH --account=lab",
                                         "#SBATCH --time=00:30:00", "#SBATCH --mem=4G", "#SBATCH --gres=gpu:1", "#SBATCH --output=/shared/sweeps/s/slurm/logs/%A_%a.out" })
            Assert.Contains(expected, lines);
        Assert.Contains("threads=\"${SLURM_CPUS_PER_TASK:-1}\"", lines);
        Assert.Contains("exec '/opt/kit/research' 'sweep' 'cell' '/shared/sweeps/s' \"$SLURM_ARRAY_TASK_ID\" '--device' 'cuda' --threads \"$threads\"", lines);
    }

    [Fact]
    public void WithoutAGpuTheCellsKeepThePlansDevice()
    {
        var plan = new SweepPlan("s", "moe-balance", "default", DateTime.UtcNow, new SweepEnvironment("c", "t", "l", "cpu"),
            ["a"], "a", [0], [], [new SweepCell(0, "a", 0, "h0", "cells/a/seed-0")]);
        var script = SlurmExecutor.Script(plan, "/d", [0], new CellCommand("dotnet", ["/opt/kit/research.dll"]), new SlurmOptions());
        Assert.Contains("exec 'dotnet' '/opt/kit/research.dll' 'sweep' 'cell' '/d' \"$SLURM_ARRAY_TASK_ID\" --threads \"$threads\"", script.Split('\n'));
        Assert.DoesNotContain("--partition", script);
    }

    [Theory]
    [InlineData("--time", "1 hour", "--time '1 hour' is not valid")]
    [InlineData("--mem", "4GB;rm", "--mem '4GB;rm' is not valid")]
    [InlineData("--partition", "a b", "--partition 'a b' is not valid")]
    [InlineData("--gres", "gpu:$(x)", "--gres 'gpu:$(x)' is not valid")]
    [InlineData("--cpus-per-task", "0", "--cpus-per-task must be ≥ 1")]
    public void OptionsThatCannotGoIntoAScriptAreRefused(string option, string value, string message)
    {
        var dir = PlannedDirectory();
        InProcessCli.AssertBadInput(InProcessCli.Run("sweep", "run", dir, "--executor", "slurm", option, value), message);
        Assert.False(Directory.Exists(Path.Combine(dir, SlurmExecutor.Folder)));
    }

    [Fact]
    public void WithoutSbatchTheErrorPointsToTheLocalExecutor()
    {
        var dir = PlannedDirectory();
        var before = Environment.GetEnvironmentVariable("RESEARCH_SBATCH");
        try
        {
            Environment.SetEnvironmentVariable("RESEARCH_SBATCH", Path.Combine(dir, "no-such-sbatch"));
            InProcessCli.AssertBadInput(InProcessCli.Run("sweep", "run", dir, "--executor", "slurm"), "--executor local");
        }
        finally
        {
            Environment.SetEnvironmentVariable("RESEARCH_SBATCH", before);
        }
        Assert.False(Directory.Exists(Path.Combine(dir, SlurmExecutor.Folder)));
    }

    [Fact]
    public void UnknownExecutorIsRefused() =>
        InProcessCli.AssertBadInput(InProcessCli.Run("sweep", "run", PlannedDirectory(), "--executor", "kubernetes"), "allowed: local, slurm");

    private static string PlannedDirectory()
    {
        var dir = Path.Combine(TestPaths.TempFolder(), "sweep");
        var (exit, _, err) = InProcessCli.Run("sweep", "plan", Path.Combine(TestPaths.RepoRoot, "data", "sweeps", "small-moe-balance.json"), "--out", dir);
        Assert.True(exit == 0, err);
        return dir;
    }
}

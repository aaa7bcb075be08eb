using System.Text.Json.Nodes;
using Research.Sweeps;
using Research.Tests.Cli;
using Xunit;

namespace Research.Tests.Sweeps;

/// <summary>A sweep through the real local Slurm cluster: a job array, one task per cell, the same numbers as on this machine.</summary>
[Collection(SlurmClusterCollection.Name)]
public sealed class SweepSlurmTests(SharedSlurmCluster shared)
{
    [Fact]
    public void A_sweep_runs_as_a_job_array_and_gives_the_local_numbers_bit_for_bit()
    {
        var cluster = shared.Cluster;
        var local = SmallSweep.Local;   // the same sweep on this machine, one thread per cell

        // 2 arms × 3 seeds: the local run's first three seeds, so every cell has a local twin with the same hash.
        var file = Path.Combine(TestPaths.TempFolder(), "small-on-slurm.json");
        File.WriteAllText(file, File.ReadAllText(SmallSweep.File).Replace("\"seeds\": 5", "\"seeds\": 3"));
        var dir = Path.Combine(TestPaths.TempFolder(), "slurm");
        Assert.Equal(0, InProcessCli.Run("sweep", "plan", file, "--out", dir).Exit);

        var env = new Dictionary<string, string>(cluster.Environment);
        var (exit, stdout, stderr) = TestPaths.RunDotnet(SmallSweep.ResearchDll,
            ["sweep", "run", dir, "--executor", "slurm", "--cpus-per-task", "1", "--max-concurrent", "1", "--time", "00:10:00", "--wait", "--poll-seconds", "1"],
            env, TimeSpan.FromMinutes(6));
        Assert.True(exit == 0, $"exit {exit}\n{stdout}\n{stderr}\n{cluster.LogTail()}");
        Assert.Contains("submitted job array", stdout);
        Assert.Contains("6 of 6 cells finished, 0 failed", stdout);

        var script = File.ReadAllText(Directory.GetFiles(Path.Combine(dir, SlurmExecutor.Folder), "*.sbatch").Single());
        Assert.Contains("#SBATCH --array=0-5%1", script);

        var plan = SweepPlan.Read(dir);
        var localPlan = SweepPlan.Read(local.Directory);
        foreach (var cell in plan.Cells)
        {
            var twin = localPlan.Cells.Single(c => c.Arm == cell.Arm && c.Seed == cell.Seed);
            Assert.Equal(twin.Hash, cell.Hash);   // same config, kit and device
            foreach (var field in new[] { "maxVioGlobal", "maxVioBatch", "finalLoss", "validationLoss" })
            {
                double slurm = SmallSweep.Value(Path.Combine(dir, cell.Folder), field), here = SmallSweep.Value(Path.Combine(local.Directory, twin.Folder), field);
                Assert.True(slurm.Equals(here), $"{cell.Arm} seed {cell.Seed} {field}: {slurm:R} under Slurm, {here:R} locally");
            }
        }

        var status = TestPaths.RunDotnet(SmallSweep.ResearchDll, ["sweep", "status", dir], env);
        Assert.Contains("6 done", status.Out);
        Assert.Contains("slurm job", status.Out);

        // Submitting again submits nothing: every cell is finished.
        var again = TestPaths.RunDotnet(SmallSweep.ResearchDll, ["sweep", "run", dir, "--executor", "slurm"], env);
        Assert.Equal(0, again.ExitCode);
        Assert.Contains("nothing to submit", again.Out);

        var report = JsonNode.Parse(InProcessCli.Run("sweep", "report", dir, "--json").Out)!;
        Assert.Equal(3, (int)report["metrics"]![0]!["comparisons"]![0]!["n"]!);
    }
}

using Xunit;

namespace Research.Tests.Sweeps;

/// <summary>The local Slurm cluster that the sweep's Slurm tests run on: it starts, runs a job array, and stops cleanly.</summary>
[Collection(SlurmClusterCollection.Name)]
public sealed class SlurmClusterTests(SharedSlurmCluster shared)
{
    [Fact]
    public void A_job_array_runs_each_task_with_its_index_and_cpu_count()
    {
        var cluster = shared.Cluster;
        var folder = TestPaths.TempFolder();
        var script = Path.Combine(folder, "task.sh");
        File.WriteAllText(script, """
            #!/bin/bash
            echo "$SLURM_ARRAY_TASK_ID $SLURM_CPUS_PER_TASK" > "$1/task-$SLURM_ARRAY_TASK_ID.txt"
            """.ReplaceLineEndings("\n") + "\n");

        // Three tasks, at most two at a time, as `research sweep run --executor slurm --max-concurrent 2` submits them.
        var (exit, output, error) = cluster.Run("sbatch", "--parsable", "--wait", "--array=0-2%2", "--cpus-per-task=1",
            "--job-name=smoke", $"--output={folder}/slurm-%A_%a.out", script, folder);

        Assert.True(exit == 0, $"sbatch exited {exit}: {error}");
        var jobId = output.Trim().Split(';')[0];
        Assert.Matches("^[0-9]+$", jobId);
        for (var task = 0; task < 3; task++)
            Assert.Equal($"{task} 1", File.ReadAllText(Path.Combine(folder, $"task-{task}.txt")).Trim());

        // squeue still knows the finished tasks (MinJobAge keeps them for five minutes).
        var queue = cluster.Run("squeue", "--noheader", "--states=all", $"--jobs={jobId}", "--format=%i %T");
        Assert.True(queue.Exit == 0, $"squeue exited {queue.Exit}: {queue.Err}");
        var tasks = queue.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Order().ToList();
        Assert.Equal([$"{jobId}_0 COMPLETED", $"{jobId}_1 COMPLETED", $"{jobId}_2 COMPLETED"], tasks);
    }

    [Fact]
    public void A_cluster_of_its_own_listens_on_loopback_only_starts_idempotently_and_stops_every_daemon()
    {
        var cluster = SlurmCluster.Start();
        try
        {
            Assert.Equal(["munged", "slurmctld", "slurmd"], cluster.DaemonPids.Keys.Order());
            Assert.All(cluster.DaemonPids, d => Assert.True(SlurmCluster.IsAlive(d.Value), $"{d.Key} ({d.Value}) is not running"));
            Assert.Equal(cluster.ConfigFile, cluster.Environment["SLURM_CONF"]);

            // slurmctld and slurmd bind to 127.0.0.1 (CommunicationParameters=NoCtldInAddrAny,NoInAddrAny); munged has
            // a Unix socket only.
            var listening = cluster.Run("ss", "-Hltnp");
            Assert.True(listening.Exit == 0, listening.Err);
            foreach (var daemon in new[] { "slurmctld", "slurmd" })
            {
                var sockets = listening.Out.Split('\n').Where(l => l.Contains($"pid={cluster.DaemonPids[daemon]},")).ToList();
                Assert.NotEmpty(sockets);
                Assert.All(sockets, l => Assert.StartsWith("127.0.0.1:", l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[3]));
            }
            Assert.DoesNotContain($"pid={cluster.DaemonPids["munged"]},", listening.Out);

            // Starting again on a running cluster changes nothing and prints the same SLURM_CONF.
            var again = cluster.Run("bash", SlurmCluster.Script, "start", cluster.Directory);
            Assert.True(again.Exit == 0, again.Err);
            Assert.Contains($"export SLURM_CONF={cluster.ConfigFile}", again.Out);
            Assert.All(cluster.DaemonPids, d => Assert.Equal(d.Value.ToString(), File.ReadAllText(Path.Combine(cluster.Directory, d.Key + ".pid")).Trim()));
        }
        finally
        {
            cluster.Dispose();
        }

        Assert.All(cluster.DaemonPids, d => Assert.False(SlurmCluster.IsAlive(d.Value), $"{d.Key} ({d.Value}) still runs after Dispose"));
        Assert.False(Directory.Exists(cluster.Directory));
    }
}

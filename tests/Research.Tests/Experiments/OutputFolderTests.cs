using System.Globalization;
using System.Text.RegularExpressions;
using Research.Cli;
using Research.Experiments;
using Research.Tests.Cli;
using Xunit;

namespace Research.Tests.Experiments;

/// <summary>Output folders (issue #29 part 5): replaced in one step, not shared by two runs, the same in every culture.</summary>
public sealed class OutputFolderTests
{
    [Fact]
    public void Exchange_swaps_two_folders_in_one_step_on_Linux()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "renameat2(RENAME_EXCHANGE) is Linux's");
        // Given two folders with different files
        var root = TestPaths.TempFolder();
        var (a, b) = (Path.Combine(root, "a"), Path.Combine(root, "b"));
        Directory.CreateDirectory(a);
        Directory.CreateDirectory(b);
        File.WriteAllText(Path.Combine(a, "old.txt"), "old");
        File.WriteAllText(Path.Combine(b, "new.txt"), "new");

        // When they are exchanged
        Assert.True(AtomicFolder.Exchange(a, b));

        // Then each holds the other's file
        Assert.True(File.Exists(Path.Combine(a, "new.txt")));
        Assert.True(File.Exists(Path.Combine(b, "old.txt")));
    }

    [Fact]
    public void Replacing_a_folder_leaves_the_new_content_and_no_temporary_folders()
    {
        var root = TestPaths.TempFolder();
        var final = Path.Combine(root, "experiment");
        AtomicFolder.Write(final, f => File.WriteAllText(Path.Combine(f, "old.txt"), "old"));

        AtomicFolder.Write(final, f => File.WriteAllText(Path.Combine(f, "new.txt"), "new"));

        Assert.Equal(["new.txt"], Directory.GetFiles(final).Select(Path.GetFileName));
        Assert.Equal([final], Directory.GetDirectories(root));
    }

    [Fact]
    public void A_second_run_into_a_folder_in_use_stops_saying_who_holds_it_and_leaves_its_results()
    {
        // Given a run holding the output folder
        var output = TestPaths.TempFolder();
        using var first = OutputLock.Acquire(output);

        // When another run starts there
        var (exit, stdout, stderr) = InProcessCli.Run("run", "matmul-throughput", "--out", output);

        // Then it stops with "in use" (not bad input) naming the holder, and writes nothing
        Assert.Equal(ExitCodes.Failed, exit);
        Assert.Equal("", stdout);
        Assert.Single(stderr.TrimEnd().Split('\n'));
        Assert.Contains($"is in use by another run (pid {Environment.ProcessId}", stderr);
        Assert.False(Directory.Exists(Path.Combine(output, "matmul-throughput")));
    }

    [Fact]
    public void The_lock_is_free_again_once_its_holder_is_done()
    {
        var output = TestPaths.TempFolder();
        OutputLock.Acquire(output).Dispose();

        using var again = OutputLock.Acquire(output);
    }

    [Fact]
    public void A_read_only_cache_folder_is_refused_before_training()
    {
        Assert.SkipWhen(OperatingSystem.IsWindows() || Environment.UserName == "root", "needs a POSIX user that file permissions apply to");
        var root = TestPaths.TempFolder();
        var cache = Path.Combine(root, "cache");
        Directory.CreateDirectory(cache);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(cache, UnixFileMode.UserRead | UnixFileMode.UserExecute);

        var e = Assert.Throws<OutputException>(() => Research.Distillation.DistillExperiment.Definition.Run(
            new ExperimentRequest(TorchSharp.torch.CPU, CacheFolder: cache)));

        Assert.Contains("cache folder", e.Message);
    }

    [Fact]
    public void A_cache_folder_that_cannot_be_made_is_refused_before_training()
    {
        // Given a cache path below a file (what a read-only folder amounts to for a root user, whom permissions do not stop)
        var file = Path.Combine(TestPaths.TempFolder(), "a-file");
        File.WriteAllText(file, "");

        // When distill starts, Then it stops at once, long before its teacher's minutes of training
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var e = Assert.Throws<OutputException>(() => Research.Distillation.DistillExperiment.Definition.Run(
            new ExperimentRequest(TorchSharp.torch.CPU, CacheFolder: Path.Combine(file, "cache"))));
        Assert.Contains("cache folder", e.Message);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(30), $"took {watch.Elapsed}");
    }

    [Fact]
    public void Results_and_summaries_are_culture_invariant()
    {
        var culture = CultureInfo.CurrentCulture;
        try
        {
            // Given a culture that writes 0,5 for a half
            CultureInfo.CurrentCulture = new CultureInfo("de-DE");
            var folder = TestPaths.TempFolder();
            var config = Path.Combine(folder, "tiny.json");
            File.WriteAllText(config, """{ "sizes": [8, 16], "repeats": 2, "warmup": 0, "seeds": [1] }""");
            var output = Path.Combine(folder, "out");

            // When a run writes its CSV and JSON, and a reproduction its index
            var (exit, _, error) = InProcessCli.Run("run", "matmul-throughput", "--config", config, "--out", output);
            Assert.True(exit == 0, error);
            var index = ReportIndex.Write(output, [new ReportEntry("matmul-throughput", "Matmul", 1.5, [])], "t");

            // Then every CSV row has as many fields as its header, and no number has a decimal comma
            var experiment = Path.Combine(output, "matmul-throughput");
            foreach (var csv in Directory.GetFiles(experiment, "*.csv"))
            {
                var lines = File.ReadAllLines(csv);
                int columns = lines[0].Split(',').Length;
                Assert.All(lines, l => Assert.Equal(columns, l.Split(',').Length));
            }
            Assert.DoesNotMatch(new Regex(@"\d,\d"), File.ReadAllText(Path.Combine(experiment, "result.json")));
            Assert.Contains("1.5 s", File.ReadAllText(index));
            // And result.json says where the numbers came from
            var environment = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(experiment, "result.json"))).RootElement.GetProperty("environment");
            Assert.True(environment.GetProperty("threads").GetInt32() >= 1);
            Assert.NotEmpty(environment.GetProperty("cpu").GetString()!);
            foreach (var version in new[] { "kitCommit", "torchSharp", "libTorch", "dotNet" })
                Assert.NotEmpty(environment.GetProperty("versions").GetProperty(version).GetString()!);
        }
        finally
        {
            CultureInfo.CurrentCulture = culture;
        }
    }
}

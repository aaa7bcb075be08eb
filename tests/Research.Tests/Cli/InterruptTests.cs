using System.Diagnostics;
using System.Runtime.InteropServices;
using Research.Cli;
using Xunit;

namespace Research.Tests.Cli;

/// <summary>
/// Ctrl-C (issue #29 part 5): the built <c>research</c> command, started as a child process, gets SIGINT once it is
/// working, stops within seconds with exit 130 and leaves no half-written folder.
/// </summary>
public sealed class InterruptTests
{
    // Generous for a loop that checks the token every step; far shorter than what it interrupts.
    private static readonly TimeSpan StopWithin = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Sigint_during_run_exits_130_and_leaves_no_output_folder()
    {
        Assert.SkipWhen(OperatingSystem.IsWindows(), "sends a POSIX signal");
        var output = Path.Combine(TestPaths.TempFolder(), "out");

        // Given `research run mla-quality` (about a minute of training), When it gets SIGINT at its first progress line
        var (exit, stderr) = await InterruptWhen(["run", "mla-quality", "--out", output],
            lines => lines.Any(l => l.StartsWith("[mla-quality]", StringComparison.Ordinal)));

        // Then it stops in seconds with 130, says so, and has written no experiment folder
        Assert.Equal(ExitCodes.Interrupted, exit);
        Assert.Contains("research: interrupted", stderr);
        Assert.Empty(Directory.GetDirectories(output));   // neither mla-quality nor a .partial or .old folder
    }

    [Fact]
    public async Task Sigint_during_reproduce_keeps_the_experiments_it_finished()
    {
        Assert.SkipWhen(OperatingSystem.IsWindows(), "sends a POSIX signal");
        var output = Path.Combine(TestPaths.TempFolder(), "out");
        var first = Path.Combine(output, "matmul-throughput");

        // Given `research reproduce`, When it gets SIGINT once its first experiment (a few seconds) is written
        var (exit, stderr) = await InterruptWhen(["reproduce", "--out", output], _ => Directory.Exists(first));

        // Then it stops with 130, keeps what it finished whole (the next, fast experiment may have finished too), and
        // leaves no partial or old folder
        Assert.Equal(ExitCodes.Interrupted, exit);
        Assert.Contains("research: interrupted", stderr);
        var kept = Directory.GetDirectories(output).Select(Path.GetFileName).Where(d => d != "cache").ToList();
        Assert.Contains("matmul-throughput", kept);
        Assert.All(kept, d => Assert.True(File.Exists(Path.Combine(output, d!, "result.json")), $"{d} is not a whole experiment folder"));
    }

    // Starts research with args, sends SIGINT once `ready` holds (polled over its stderr lines so far), and returns its
    // exit code and stderr; fails if it does not stop within StopWithin.
    private static async Task<(int Exit, List<string> Stderr)> InterruptWhen(string[] args, Func<IReadOnlyList<string>, bool> ready)
    {
        var ct = TestContext.Current.CancellationToken;
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(TestPaths.Built("Research.Cli", "research.dll"));
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment["OMP_NUM_THREADS"] = "1";
        using var process = Process.Start(start)!;
        var stderr = new List<string>();
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.Add(e.Data); };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        try
        {
            var deadline = Stopwatch.StartNew();
            while (true)
            {
                lock (stderr) if (ready(stderr)) break;
                Assert.False(process.HasExited, $"ended before the signal: {string.Join('\n', stderr)}");
                Assert.True(deadline.Elapsed < TimeSpan.FromMinutes(2), "never became ready for the signal");
                await Task.Delay(100, ct);
            }
            Assert.Equal(0, kill(process.Id, Sigint));
            var exited = process.WaitForExitAsync(ct);
            Assert.True(await Task.WhenAny(exited, Task.Delay(StopWithin, ct)) == exited, $"still running {StopWithin.TotalSeconds} s after SIGINT");
            await exited;
            lock (stderr) return (process.ExitCode, [.. stderr]);
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
    }

    private const int Sigint = 2;

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);
}

using System.Diagnostics;
using System.Runtime.InteropServices;
using Research.Cli;
using Xunit;

namespace Research.Tests.Cli;

/// <summary>
/// Ctrl-C (issue #29 part 5): the built <c>research</c> command, started as a child process, gets SIGINT once it is
/// training, stops within seconds with exit 130 and leaves no experiment folder, whole or partial.
/// </summary>
public sealed class InterruptTests
{
    // Long enough that SIGINT arrives during training; short enough that what it stops is never the test's cost.
    private static readonly TimeSpan StopWithin = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Sigint_during_run_exits_130_and_leaves_no_output_folder()
    {
        Assert.SkipWhen(OperatingSystem.IsWindows(), "sends a POSIX signal");
        var output = Path.Combine(TestPaths.TempFolder(), "out");

        // Given `research run mla-quality` (about a minute of training) once its first progress line is out
        using var process = Start(["run", "mla-quality", "--out", output]);
        var stderr = new List<string>();
        // Asynchronous continuations: inline, the rest of the test would run on the thread reading stderr and wait on itself.
        var training = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (stderr) stderr.Add(e.Data);
            if (e.Data.StartsWith("[mla-quality]", StringComparison.Ordinal)) training.TrySetResult();
        };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        await Task.WhenAny(training.Task, process.WaitForExitAsync(TestContext.Current.CancellationToken))
            .WaitAsync(TimeSpan.FromMinutes(2), TestContext.Current.CancellationToken);
        lock (stderr) Assert.True(training.Task.IsCompleted, $"the run ended before training: {string.Join('\n', stderr)}");

        // When it gets SIGINT
        var sent = Stopwatch.StartNew();
        Assert.Equal(0, kill(process.Id, Sigint));
        var exited = process.WaitForExitAsync(TestContext.Current.CancellationToken);
        bool stopped = await Task.WhenAny(exited, Task.Delay(StopWithin, TestContext.Current.CancellationToken)) == exited;
        if (!stopped) process.Kill(entireProcessTree: true);

        // Then it stops in seconds with 130, says so, and has written no experiment folder
        Assert.True(stopped, $"still running {sent.Elapsed.TotalSeconds:F0} s after SIGINT");
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        Assert.Equal(ExitCodes.Interrupted, process.ExitCode);
        lock (stderr) Assert.Contains("research: interrupted", stderr);
        Assert.False(Directory.Exists(Path.Combine(output, "mla-quality")));
        Assert.Empty(Directory.GetDirectories(output));   // no .partial or .old folder either
    }

    private static Process Start(IEnumerable<string> args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(TestPaths.Built("Research.Cli", "research.dll"));
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment["OMP_NUM_THREADS"] = "1";
        return Process.Start(start)!;
    }

    private const int Sigint = 2;

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);
}

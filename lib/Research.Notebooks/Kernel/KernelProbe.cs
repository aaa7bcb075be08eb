using System.Diagnostics;

namespace Research.Notebooks.Kernel;

/// <summary>What <c>research doctor</c> says about the notebook kernel.</summary>
/// <param name="Version">The kernel's version, or null when it could not be found or restored.</param>
/// <param name="PinnedVersion">The version the kit's tool manifest pins (null for a global install or none).</param>
/// <param name="Starts">Whether a C# kernel started over stdio and evaluated a cell.</param>
/// <param name="Seconds">From starting the kernel to the cell's result.</param>
/// <param name="Detail">What was checked, or why it failed.</param>
public sealed record KernelReport(string? Version, string? PinnedVersion, bool Starts, double Seconds, string Detail);

/// <summary>Starts the kernel the way <c>research notebooks run</c> does and evaluates one C# expression.</summary>
public static class KernelProbe
{
    /// <summary>Finds, restores, starts and queries the kernel; never throws for a missing or broken kernel.</summary>
    public static async Task<KernelReport> CheckAsync(CancellationToken ct = default)
    {
        KernelTool tool;
        string version;
        try
        {
            tool = KernelTool.Find();
            version = await tool.VersionAsync(ct).ConfigureAwait(false);
        }
        catch (NotebookException e) { return new KernelReport(null, null, false, 0, e.Message); }

        var started = Stopwatch.GetTimestamp();
        try
        {
            await using var kernel = await StdioKernel.StartAsync(tool, Path.GetTempPath(), TextWriter.Null, ct).ConfigureAwait(false);
            var events = await kernel.SubmitCodeAsync("6 * 7", "csharp", ct).ConfigureAwait(false);
            var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
            var value = events.Where(e => e.Type == "ReturnValueProduced")
                .SelectMany(e => e.Body["formattedValues"]?.AsArray() ?? [])
                .Select(v => (string?)v?["value"]).FirstOrDefault(v => v is not null && v.Contains("42", StringComparison.Ordinal));
            return value is not null
                ? new KernelReport(version, tool.PinnedVersion, true, seconds, "C# kernel over stdio evaluated 6 * 7 = 42")
                : new KernelReport(version, tool.PinnedVersion, false, seconds, $"the C# kernel started but 6 * 7 gave no 42 ({events[^1].Type}: {events[^1].Body["message"]})");
        }
        catch (NotebookException e)
        {
            return new KernelReport(version, tool.PinnedVersion, false, Stopwatch.GetElapsedTime(started).TotalSeconds, e.Message);
        }
    }
}

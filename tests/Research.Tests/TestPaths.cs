using System.Diagnostics;

namespace Research.Tests;

/// <summary>Where the repository and the built programs are, and how to start them.</summary>
public static class TestPaths
{
    /// <summary>The folder holding Research.sln, found by walking up from the test binaries.</summary>
    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary>The build configuration folder the tests run from (debug or release).</summary>
    public static string Configuration => new DirectoryInfo(AppContext.BaseDirectory).Name;

    /// <summary>The built assembly of a project in artifacts/bin/&lt;project&gt;/&lt;config&gt;/.</summary>
    public static string Built(string project, string assembly) =>
        Path.Combine(RepoRoot, "artifacts", "bin", project, Configuration, assembly);

    /// <summary>A new empty folder under the system temp folder.</summary>
    public static string TempFolder()
    {
        var dir = Path.Combine(Path.GetTempPath(), "research-tests", Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>Runs <c>dotnet &lt;dll&gt; args</c> and returns exit code, stdout and stderr.</summary>
    public static (int ExitCode, string Out, string Err) RunDotnet(string dll, IEnumerable<string> args,
        IReadOnlyDictionary<string, string>? environment = null, TimeSpan? timeout = null)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(dll);
        foreach (var a in args) start.ArgumentList.Add(a);
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) start.Environment[k] = v;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout ?? TimeSpan.FromMinutes(5)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"dotnet {dll} {string.Join(' ', args)} did not finish in time");
        }
        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Research.sln"))) return dir.FullName;
        throw new InvalidOperationException($"Research.sln not found above {AppContext.BaseDirectory}");
    }
}

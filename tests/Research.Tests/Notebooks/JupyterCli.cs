using System.Diagnostics;
using System.Text.Json.Nodes;
using Xunit;

namespace Research.Tests.Notebooks;

/// <summary>The <c>jupyter</c> command (nbconvert, kernelspec) as the tests run it.</summary>
internal static class JupyterCli
{
    /// <summary>The kernelspec <c>environment/install-kernel.sh</c> registers and the kit's notebooks name.</summary>
    public const string KitKernelspec = ".net-csharp-research";

    /// <summary>Skips (fails under CI=true, where .ci/run installs them) without jupyter or the kit's kernelspec.</summary>
    public static void RequireKitKernelspec()
    {
        string? reason = null;
        try
        {
            var list = Run(["kernelspec", "list", "--json"]);
            if (list.Exit != 0) reason = $"jupyter kernelspec list failed: {list.Err}";
            else if (JsonNode.Parse(list.Out)?["kernelspecs"]?[KitKernelspec] is null)
                reason = $"the {KitKernelspec} kernelspec is not installed (run environment/install-kernel.sh)";
        }
        catch (System.ComponentModel.Win32Exception) { reason = "jupyter not found (apt: jupyter-nbconvert python3-nbclient jupyter-client)"; }
        if (reason is null) return;
        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
            Assert.Fail($"{reason} (CI=true: .ci/run installs Jupyter and the kit's kernelspec)");
        Assert.Skip(reason);
    }

    /// <summary>Starts <c>jupyter args</c> in the repository (where a stock kernelspec's <c>dotnet interactive</c>
    /// finds the pinned local tool), output captured.</summary>
    public static Process Start(IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo("jupyter") { WorkingDirectory = TestPaths.RepoRoot, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment["DOTNET_INTERACTIVE_CLI_TELEMETRY_OPTOUT"] = "1";
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) start.Environment[name] = value;
        return Process.Start(start)!;
    }

    /// <summary>Runs <c>jupyter args</c> to its end (5 minutes at most).</summary>
    public static (int Exit, string Out, string Err) Run(IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null)
    {
        using var process = Start(args, environment);
        return Finish(process, TimeSpan.FromMinutes(5));
    }

    /// <summary>Waits for a started <c>jupyter</c> to end and returns what it printed; kills it after <paramref name="timeout"/>.</summary>
    public static (int Exit, string Out, string Err) Finish(Process process, TimeSpan timeout)
    {
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"jupyter did not finish in {timeout.TotalMinutes:F0} minutes");
        }
        return (process.ExitCode, stdout.Result, stderr.Result);
    }
}

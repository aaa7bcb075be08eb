using System.Diagnostics;
using System.Text.Json.Nodes;
using Research.Tests.Browser;
using Xunit;

namespace Research.Tests.Notebooks;

/// <summary>
/// The welcome notebook through Jupyter's protocol: <c>jupyter nbconvert --execute</c> with the kernelspec that
/// <c>dotnet interactive jupyter install</c> writes, then its <c>--to html</c> export opened in headless Chromium
/// with every non-local request refused: the chart must draw from the kit's own plotly.js.
/// </summary>
public sealed class JupyterTests(SharedChromium chromium) : IClassFixture<SharedChromium>, IDisposable
{
    private readonly string _dir = TestPaths.TempFolder();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Welcome_runs_through_jupyter_and_its_html_export_draws_offline()
    {
        RequireJupyterKernel();
        var source = Path.Combine(TestPaths.RepoRoot, "notebooks", "00-welcome.ipynb");

        var executed = Jupyter("nbconvert", "--to", "notebook", "--execute", source, "--output-dir", _dir, "--output", "executed");
        Assert.True(executed.Exit == 0, executed.Err);

        var notebook = Path.Combine(_dir, "executed.ipynb");
        var outputs = JsonNode.Parse(File.ReadAllText(notebook))!["cells"]!.AsArray()
            .Where(c => (string?)c!["cell_type"] == "code").Select(c => c!["outputs"]!.AsArray()).ToList();
        Assert.DoesNotContain(outputs.SelectMany(o => o), o => (string?)o!["output_type"] == "error");
        Assert.Contains(outputs.SelectMany(o => o), o => o!["data"]?["text/html"] is { } h && NotebookFolder.Text(h).Contains("Plotly.newPlot", StringComparison.Ordinal));
        Assert.Contains("all claims hold", NotebookFolder.Text(outputs[^1].Last()!["data"]!["text/plain"]));

        var page = Jupyter("nbconvert", "--to", "html", notebook, "--output-dir", _dir);
        Assert.True(page.Exit == 0, page.Err);
        var report = chromium.Browser.Open(Path.Combine(_dir, "executed.html"), TimeSpan.FromSeconds(60));

        Assert.Equal(1, report.Charts);
        Assert.Equal(1, report.ChartsDrawn);
        // nbconvert's template asks CDNs for require.js and MathJax; those are refused, and nothing of plotly's is asked for.
        Assert.DoesNotContain(report.NetworkResources, r => r.Contains("plot", StringComparison.OrdinalIgnoreCase));
        Assert.DoesNotContain(report.SevereLogs, l => !l.Contains("net::ERR_", StringComparison.Ordinal));
    }

    /// <summary>Skips (fails under CI=true, where .ci/run installs them) without jupyter or the .NET kernelspec.</summary>
    internal static void RequireJupyterKernel()
    {
        string? reason = null;
        try
        {
            var list = Jupyter("kernelspec", "list", "--json");
            if (list.Exit != 0) reason = $"jupyter kernelspec list failed: {list.Err}";
            else if (JsonNode.Parse(list.Out)?["kernelspecs"]?[".net-csharp"] is null)
                reason = "the .net-csharp kernelspec is not installed (run `dotnet tool run dotnet-interactive -- jupyter install`)";
        }
        catch (System.ComponentModel.Win32Exception) { reason = "jupyter not found (apt: jupyter-nbconvert python3-nbclient jupyter-client)"; }
        if (reason is null) return;
        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
            Assert.Fail($"{reason} (CI=true: .ci/run installs Jupyter and the kernelspec)");
        Assert.Skip(reason);
    }

    private static (int Exit, string Out, string Err) Jupyter(params string[] args)
    {
        // From the repository, so the kernelspec's `dotnet interactive` finds the pinned local tool.
        var start = new ProcessStartInfo("jupyter") { WorkingDirectory = TestPaths.RepoRoot, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment["DOTNET_INTERACTIVE_CLI_TELEMETRY_OPTOUT"] = "1";
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"jupyter {string.Join(' ', args)} did not finish in 5 minutes");
        }
        return (process.ExitCode, stdout.Result, stderr.Result);
    }
}

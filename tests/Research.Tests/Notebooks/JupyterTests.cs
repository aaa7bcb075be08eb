using System.Text.Json.Nodes;
using Research.Tests.Browser;
using Xunit;

namespace Research.Tests.Notebooks;

/// <summary>
/// The welcome notebook through Jupyter's protocol: <c>jupyter nbconvert --execute</c> with the kernelspec its metadata
/// names, the kit's own (<c>environment/install-kernel.sh</c>), then its <c>--to html</c> export opened in headless
/// Chromium with every non-local request refused: the chart must draw from the kit's own plotly.js.
/// </summary>
public sealed class JupyterTests(SharedChromium chromium) : IClassFixture<SharedChromium>, IDisposable
{
    private readonly string _dir = TestPaths.TempFolder();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Welcome_runs_through_jupyter_and_its_html_export_draws_offline()
    {
        JupyterCli.RequireKitKernelspec();
        var source = Path.Combine(TestPaths.RepoRoot, "notebooks", "00-welcome.ipynb");

        var executed = JupyterCli.Run(["nbconvert", "--to", "notebook", "--execute", source, "--output-dir", _dir, "--output", "executed"]);
        Assert.True(executed.Exit == 0, executed.Err);

        var notebook = Path.Combine(_dir, "executed.ipynb");
        var outputs = JsonNode.Parse(File.ReadAllText(notebook))!["cells"]!.AsArray()
            .Where(c => (string?)c!["cell_type"] == "code").Select(c => c!["outputs"]!.AsArray()).ToList();
        Assert.DoesNotContain(outputs.SelectMany(o => o), o => (string?)o!["output_type"] == "error");
        Assert.Contains(outputs.SelectMany(o => o), o => o!["data"]?["text/html"] is { } h && NotebookFolder.Text(h).Contains("Plotly.newPlot", StringComparison.Ordinal));
        Assert.Contains("all claims hold", NotebookFolder.Text(outputs[^1].Last()!["data"]!["text/plain"]));

        var page = JupyterCli.Run(["nbconvert", "--to", "html", notebook, "--output-dir", _dir]);
        Assert.True(page.Exit == 0, page.Err);
        var report = chromium.Browser.Open(Path.Combine(_dir, "executed.html"), TimeSpan.FromSeconds(60));

        Assert.Equal(1, report.Charts);
        Assert.Equal(1, report.ChartsDrawn);
        // nbconvert's template asks CDNs for require.js and MathJax; those are refused, and nothing of plotly's is asked for.
        Assert.DoesNotContain(report.NetworkResources, r => r.Contains("plot", StringComparison.OrdinalIgnoreCase));
        Assert.DoesNotContain(report.SevereLogs, l => !l.Contains("net::ERR_", StringComparison.Ordinal));
    }

    [Fact]
    public void A_stored_notebooks_charts_show_in_exports_that_run_no_javascript()
    {
        // 06 stores four charts, line charts and heat maps; every committed notebook's pictures are checked in KitNotebooksTests.
        JupyterCli.RequireKitKernelspec();
        const string name = "06-load-balancing.ipynb";
        var source = Path.Combine(TestPaths.RepoRoot, "notebooks", name);
        var charts = File.ReadAllText(source).Split("\"image/png\"").Length - 1;
        Assert.True(charts > 0, $"{name} stores no chart picture");

        // LaTeX, the road to PDF, takes the image/png output (markdown cells left out: they need pandoc, as PDF does).
        var latex = JupyterCli.Run(["nbconvert", "--to", "latex", "--TemplateExporter.exclude_markdown=True", source, "--output-dir", _dir, "--output", "latex"]);
        Assert.True(latex.Exit == 0, latex.Err);
        var included = System.Text.RegularExpressions.Regex.Matches(File.ReadAllText(Path.Combine(_dir, "latex.tex")), @"\\adjustimage\{.*\}\{([^{}]+\.png)\}")
            .Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(charts, included.Count);
        Assert.All(included, png => Assert.True(Research.Tests.Charts.PngPixels.Decode(File.ReadAllBytes(Path.Combine(_dir, png))).Width > 0));

        // Markdown keeps the HTML output, whose picture is inline; a sanitised HTML page (no scripts) keeps it too.
        var markdown = JupyterCli.Run(["nbconvert", "--to", "markdown", source, "--output-dir", _dir, "--output", "markdown"]);
        Assert.True(markdown.Exit == 0, markdown.Err);
        Assert.Equal(charts, File.ReadAllText(Path.Combine(_dir, "markdown.md")).Split("<img class=\"research-chart-picture\" src=\"data:image/png;base64,").Length - 1);
        var sanitised = JupyterCli.Run(["nbconvert", "--to", "html", "--HTMLExporter.sanitize_html=True", source, "--output-dir", _dir, "--output", "sanitised"]);
        Assert.True(sanitised.Exit == 0, sanitised.Err);
        var report = chromium.Browser.Open(Path.Combine(_dir, "sanitised.html"), TimeSpan.FromSeconds(5));
        Assert.Equal(0, report.ChartsDrawn);
        Assert.Equal(charts, report.PicturesShown);
    }
}

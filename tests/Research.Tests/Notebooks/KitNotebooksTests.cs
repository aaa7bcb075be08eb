using System.Text.Json.Nodes;
using Research.Notebooks;
using Xunit;

namespace Research.Tests.Notebooks;

/// <summary>
/// Every notebook in notebooks/ runs in the real .NET Interactive kernel over stdio (VS Code Polyglot's protocol),
/// one kernel at a time, one test case each; its last cell asserts its claims. The workshop models the reproduce test
/// also trains come from the run's shared result cache (<see cref="SharedResults"/>): trained once, by whichever runs first.
/// </summary>
public sealed class KitNotebooksTests
{
    public static TheoryData<string> Notebooks() =>
        new(Directory.GetFiles(Path.Combine(TestPaths.RepoRoot, "notebooks"), "*.ipynb").Select(Path.GetFileName)
            .Where(n => !n!.StartsWith('.')).Order()!);

    [Theory]
    [MemberData(nameof(Notebooks))]
    public async Task Notebook_runs_in_the_kernel_its_charts_are_html_and_its_claims_hold(string notebook)
    {
        var path = Path.Combine(TestPaths.RepoRoot, "notebooks", notebook);
        var before = await File.ReadAllBytesAsync(path, TestContext.Current.CancellationToken);
        // Run a copy with --write beside the original (the #r paths are relative), to see the outputs as stored.
        var copy = Path.Combine(TestPaths.RepoRoot, "notebooks", $".test-{Guid.NewGuid():N}.ipynb");
        File.Copy(path, copy);
        try
        {
            var result = await NotebookRunner.RunAsync(copy, new NotebookRunOptions(Write: true, Environment: SharedResults.Environment), TextWriter.Null, TestContext.Current.CancellationToken);

            Assert.True(result.Failure is null, result.Failure?.ToString());
            var cells = JsonNode.Parse(await File.ReadAllTextAsync(copy, TestContext.Current.CancellationToken))!["cells"]!.AsArray();
            var code = cells.Where(c => (string?)c!["cell_type"] == "code").ToList();
            Assert.Equal(code.Count, result.CellsRun);
            var outputs = code.SelectMany(c => c!["outputs"]!.AsArray()).ToList();
            Assert.DoesNotContain(outputs, o => (string?)o!["output_type"] == "error");
            // A chart the kernel could not render as HTML shows up as its type name in plain text.
            Assert.DoesNotContain(outputs, o => o!["data"]?["text/plain"] is { } t && NotebookFolder.Text(t).Contains("GenericChart", StringComparison.Ordinal));
            var charts = outputs.Select(o => o!["data"]?["text/html"]).Where(h => h is not null).Select(NotebookFolder.Text)
                .Where(h => h.Contains("research-chart", StringComparison.Ordinal)).ToList();
            Assert.NotEmpty(charts);
            Assert.All(charts, h => Assert.Contains("Plotly.newPlot", h));
            Assert.All(charts, h => Assert.Contains("\"data\":[{", h));
            Assert.Single(charts, h => h.Contains(Research.Charts.ChartHtml.InlinePlotly()[..200], StringComparison.Ordinal));
            // The last cell is the claims check.
            Assert.Contains("claims hold", NotebookFolder.Text(code[^1]!["outputs"]!.AsArray().Last()!["data"]!["text/plain"]));
        }
        finally { File.Delete(copy); }
        // Without --write a run never touches the committed file.
        Assert.Equal(before, await File.ReadAllBytesAsync(path, TestContext.Current.CancellationToken));
    }

    [Fact]
    public void Committed_notebooks_stay_small_and_keep_plotly_js_out()
    {
        // Stored outputs are written with --plotly-js cdn (README): plotly.js is 3.6 MB per notebook otherwise.
        foreach (var path in NotebookRunner.Expand([Path.Combine(TestPaths.RepoRoot, "notebooks")]))
        {
            Assert.True(new FileInfo(path).Length < 1_500_000, $"{path} is {new FileInfo(path).Length} bytes");
            Assert.DoesNotContain(Research.Charts.ChartHtml.PlotlyJs[..2000], File.ReadAllText(path));
        }
    }

    [Fact]
    public void Committed_notebooks_carry_a_picture_of_every_chart()
    {
        // Written by `research notebooks run --write`: viewers without JavaScript (GitHub, nbconvert's markdown and PDF
        // exports, sanitised pages) show the picture; the PNG output and the HTML's picture are the same image.
        foreach (var path in NotebookRunner.Expand([Path.Combine(TestPaths.RepoRoot, "notebooks")]))
        {
            var outputs = JsonNode.Parse(File.ReadAllText(path))!["cells"]!.AsArray()
                .SelectMany(c => c!["outputs"]?.AsArray() ?? []).Select(o => o!["data"]).Where(d => d is not null).ToList();
            var charts = outputs.Where(d => d!["text/html"] is { } h && NotebookFolder.Text(h).Contains("class=\"research-chart\"", StringComparison.Ordinal)).ToList();
            Assert.NotEmpty(charts);
            foreach (var chart in charts)
            {
                var png = chart!["image/png"] is { } p ? NotebookFolder.Text(p) : null;
                Assert.True(png is not null, $"{path}: a chart without an image/png output");
                Assert.Contains($"src=\"data:image/png;base64,{png}\"", NotebookFolder.Text(chart["text/html"]));
                var picture = Research.Tests.Charts.PngPixels.Decode(Convert.FromBase64String(png));
                Assert.True(picture.Width >= 300 && picture.Height >= 200, $"{path}: a {picture.Width} × {picture.Height} picture");
            }
            Assert.Equal(charts.Count, outputs.Count(d => d!["image/png"] is not null));   // only charts have pictures
        }
    }

    [Fact]
    public void Committed_notebooks_name_the_kits_kernelspec_and_stay_polyglot_csharp_notebooks()
    {
        foreach (var path in NotebookRunner.Expand([Path.Combine(TestPaths.RepoRoot, "notebooks")]))
        {
            var metadata = JsonNode.Parse(File.ReadAllText(path))!["metadata"]!;
            // Jupyter starts the kernelspec named here: the kit's, which keeps the kernel's HTTP API off the network.
            Assert.Equal(".net-csharp-research", (string?)metadata["kernelspec"]!["name"]);
            // Polyglot takes an .ipynb for a .NET notebook when the name starts with ".net-", and its default
            // language from polyglot_notebook (else from the name's tail, here "csharp-research").
            Assert.StartsWith(".net-", (string?)metadata["kernelspec"]!["name"]);
            Assert.Equal("csharp", (string?)metadata["polyglot_notebook"]!["kernelInfo"]!["defaultKernelName"]);
        }
    }

    [Fact]
    public void Committed_notebooks_need_no_package_download()
    {
        // Charts come from the kit's own formatter; a workshop room without internet can still run every cell.
        foreach (var path in NotebookRunner.Expand([Path.Combine(TestPaths.RepoRoot, "notebooks")]))
            foreach (var cell in NotebookRunner.Read(path).Elements.Where(NotebookRunner.IsCode))
                Assert.DoesNotContain("#r \"nuget:", cell.Contents);
    }
}

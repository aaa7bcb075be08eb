using System.Text.Json.Nodes;
using Research.Interactive;
using Research.Notebooks;
using Research.Notebooks.Kernel;
using Xunit;
using static Research.Tests.Notebooks.NotebookFolder;

namespace Research.Tests.Notebooks;

/// <summary>
/// The runner against the real .NET Interactive kernel (the pinned tool, over stdio): outputs stored as Polyglot
/// stores them, failures located, the FSharp.Core fix, and a user's own notebook drawing the kit's charts.
/// </summary>
public sealed class KernelRunTests : IDisposable
{
    private readonly NotebookFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    // A chart builder of the library called the way a user would, without Kit.Setup first.
    private static readonly string[] UserChart =
    [
        ReferenceKit(),
        "using Research.Experiments;",
        "var points = MatmulThroughput.Run(new MatmulThroughputConfig([16, 32], Repeats: 1), TorchSharp.torch.CPU).First;",
        "MatmulThroughputCharts.GflopsBySize(points)",
    ];

    [Fact]
    public async Task Write_stores_the_kernels_outputs_and_keeps_markdown_and_metadata()
    {
        var path = _folder.Write("write.ipynb",
            Markdown("# Title", "", "| a | b |", "|---|---|", "| 1 | 2 |"),
            Code("Console.WriteLine(\"to stdout\");", "6 * 7"),
            Code("display(\"shown\");", "var v = 3;"));

        var result = await Run(path, write: true);

        Assert.True(result.Succeeded, result.Failure?.ToString());
        Assert.Equal(2, result.CellsRun);
        var document = NotebookRunner.Read(path);   // the written file reads back through the kernel's own parser
        Assert.Equal(3, document.Elements.Count);
        Assert.Contains("| 1 | 2 |", document.Elements[0].Contents);
        var first = Outputs(path, 2);
        Assert.Contains(first, o => (string?)o!["output_type"] == "stream" && Text(o["text"]).Contains("to stdout"));
        Assert.Contains(first, o => (string?)o!["output_type"] == "execute_result" && Text(o["data"]!["text/html"]).Contains("<pre>42</pre>", StringComparison.Ordinal));
        Assert.Contains(Outputs(path, 3), o => (string?)o!["output_type"] == "display_data" && Text(o["data"]!["text/plain"]) == "shown");
        var root = JsonNode.Parse(File.ReadAllText(path))!;
        Assert.Equal(".net-csharp", (string?)root["metadata"]!["kernelspec"]!["name"]);
        Assert.Equal(2, (int?)root["cells"]![2]!["execution_count"]);
    }

    [Fact]
    public async Task A_failing_cell_names_its_cell_and_the_kernels_message_and_leaves_the_file_alone()
    {
        var path = _folder.Write("fails.ipynb",
            Markdown("text"),
            Code("var a = 1;"),
            Code("var b = 2;", "throw new InvalidOperationException(\"boom\");"),
            Code("File.WriteAllText(\"never\", \"\");"));
        var before = File.ReadAllBytes(path);

        var result = await Run(path, write: true, html: Path.Combine(_folder.Path, "pages"));

        Assert.NotNull(result.Failure);
        Assert.Equal(3, result.Failure.Cell);
        Assert.Contains("InvalidOperationException", result.Failure.Message);
        Assert.Contains("boom", result.Failure.Message);
        Assert.Equal(1, result.CellsRun);
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.False(File.Exists(Path.Combine(_folder.Path, "never")));
        Assert.False(File.Exists(Path.Combine(_folder.Path, "pages", "fails.html")));
    }

    [Fact]
    public async Task A_compile_error_gives_the_line_within_the_cell()
    {
        var path = _folder.Write("compile.ipynb", Code("var ok = 1;", "", "var bad = undefinedName + 1;"));

        var result = await Run(path);

        Assert.Equal(1, result.Failure?.Cell);
        Assert.Equal(3, result.Failure?.Line);
        Assert.Contains("CS0103", result.Failure?.Message);
    }

    [Fact]
    public async Task A_users_notebook_draws_a_kit_chart_as_html_with_a_plotly_figure_and_its_picture_as_png()
    {
        // With pictures, as `research notebooks run --write` stores notebooks (one kernel run checks both).
        Research.Tests.Browser.HeadlessChromium.RequireChromium();
        var path = _folder.Write("user.ipynb", Code(UserChart), Code("MatmulThroughputCharts.GflopsBySize(points)"), Code("6 * 7"));

        var result = await NotebookRunner.RunAsync(path, new NotebookRunOptions(Write: true, Pictures: true), TextWriter.Null, TestContext.Current.CancellationToken);

        Assert.True(result.Succeeded, result.Failure?.ToString());
        var html = Text(Outputs(path, 1).Single(o => (string?)o!["output_type"] == "execute_result")!["data"]!["text/html"]);
        Assert.Contains("Plotly.newPlot", html);
        Assert.Contains("\"type\":\"scatter\"", html);
        Assert.Contains(ChartHtmlStart, html);   // the first chart of a session carries plotly.js
        foreach (var cell in new[] { 1, 2 })
        {
            var chart = Assert.Single(Outputs(path, cell), o => o!["data"]?["text/html"] is not null);
            var png = Text(chart!["data"]!["image/png"]);
            Assert.Contains($"src=\"data:image/png;base64,{png}\"", Text(chart["data"]!["text/html"]));
            var picture = Research.Tests.Charts.PngPixels.Decode(Convert.FromBase64String(png));
            Assert.Equal((720, 420), (picture.Width, picture.Height));   // MatmulThroughputCharts.GflopsBySize's size
        }
        Assert.DoesNotContain(Outputs(path, 3), o => o!["data"]?["image/png"] is not null);   // only charts get pictures
    }

    [Fact]
    public async Task Without_the_FSharp_Core_fix_the_kernel_cannot_load_Plotly_NET()
    {
        // The control: the same notebook with the kit's resolver turned off fails exactly as users saw it.
        var path = _folder.Write("nofix.ipynb", Code(UserChart));

        var result = await NotebookRunner.RunAsync(path,
            new NotebookRunOptions(Environment: new Dictionary<string, string> { ["RESEARCH_FSHARP_CORE_FIX"] = "0" }),
            TextWriter.Null, TestContext.Current.CancellationToken);

        // Which member fails first depends on the chart; every form names Plotly.NET and an FSharp.Core binding
        // (the missing assembly itself, or a member whose signature uses its FSharpFunc).
        Assert.NotNull(result.Failure);
        Assert.Contains("Plotly", result.Failure.Message);
        Assert.True(result.Failure.Message.Contains("FSharp.Core, Version=10.1.0.0", StringComparison.Ordinal) ||
                    result.Failure.Message.Contains("Microsoft.FSharp.Core.FSharpFunc", StringComparison.Ordinal), result.Failure.Message);
    }

    [Fact]
    public async Task Charts_carry_plotly_js_once_per_session_or_load_it_from_the_cdn()
    {
        string[] twoCharts = [.. UserChart[..^1], "display(MatmulThroughputCharts.GflopsBySize(points));", "MatmulThroughputCharts.GflopsBySize(points)"];
        var embedded = _folder.Write("embedded.ipynb", Code(twoCharts), Code("MatmulThroughputCharts.GflopsBySize(points)"));
        var cdn = _folder.Write("cdn.ipynb", Code(twoCharts));

        Assert.True((await Run(embedded, write: true)).Succeeded);
        Assert.True((await Run(cdn, write: true, plotly: PlotlySource.Cdn)).Succeeded);

        var charts = ChartOutputs(embedded);
        Assert.Equal(3, charts.Count);
        Assert.Single(charts, c => c.Contains(ChartHtmlStart, StringComparison.Ordinal));
        Assert.Contains(ChartHtmlStart, charts[0]);
        Assert.All(charts.Skip(1), c => Assert.Contains("typeof Plotly !== 'undefined'", c));
        var fromCdn = ChartOutputs(cdn);
        Assert.Equal(2, fromCdn.Count);
        Assert.All(fromCdn, c => Assert.DoesNotContain(ChartHtmlStart, c));
        Assert.All(fromCdn, c => Assert.Contains($"https://cdn.plot.ly/plotly-{Research.Charts.ChartHtml.PlotlyVersion}.min.js", c));
    }

    [Fact]
    public async Task A_kernel_that_cannot_start_is_bad_input_saying_so()
    {
        var path = _folder.Write("any.ipynb", Code("1"));
        var missing = new KernelTool([Path.Combine(_folder.Path, "no-such-dotnet-interactive")], _folder.Path, null);

        var e = await Assert.ThrowsAsync<NotebookException>(() =>
            NotebookRunner.RunAsync(path, new NotebookRunOptions(Kernel: missing), TextWriter.Null, TestContext.Current.CancellationToken));

        Assert.Contains("cannot start the .NET Interactive kernel", e.Message);
    }

    [Fact]
    public async Task The_pinned_kernel_is_found_and_reports_its_version()
    {
        var tool = KernelTool.Find(TestPaths.RepoRoot);
        var manifest = JsonNode.Parse(File.ReadAllText(Path.Combine(TestPaths.RepoRoot, ".config", "dotnet-tools.json")))!;

        var version = await tool.VersionAsync(TestContext.Current.CancellationToken);

        Assert.Equal((string?)manifest["tools"]![KernelTool.PackageId]!["version"], tool.PinnedVersion);
        Assert.StartsWith(tool.PinnedVersion + "+", version);
    }

    // The start of the kit's inline plotly.js (ChartHtml.InlinePlotly), so a test can tell which output carries it.
    private static readonly string ChartHtmlStart = Research.Charts.ChartHtml.InlinePlotly()[..200];

    private static List<string> ChartOutputs(string path) =>
        JsonNode.Parse(File.ReadAllText(path))!["cells"]!.AsArray()
            .SelectMany(c => c!["outputs"]!.AsArray())
            .Select(o => o!["data"]?["text/html"])
            .Where(h => h is not null).Select(Text)
            .Where(h => h.Contains("research-chart", StringComparison.Ordinal)).ToList();
}

using Research.Charts;
using Research.Notebooks;
using Xunit;
using static Research.Tests.Notebooks.NotebookFolder;

namespace Research.Tests.Notebooks;

public sealed class NotebookHtmlTests
{
    [Fact]
    public async Task Page_is_standalone_with_inline_plotly_markdown_as_html_code_and_outputs()
    {
        using var folder = new NotebookFolder();
        var path = folder.Write("training.ipynb",
            Markdown("# Training run", "", "Loss goes **down**; see `loss`.", "", "- one", "- two"),
            Code("var chart = Plotly.NET.CSharp.Chart.Line<int, int, string>(x: new[] { 1, 2 }, y: new[] { 2, 1 }, Name: \"val-loss\");",
                 "display(chart);", "Console.WriteLine(\"<tag> & co\");"));
        var htmlDir = Path.Combine(folder.Path, "site", "pages");

        var result = await Run(path, html: htmlDir);

        Assert.Null(result.Failure);
        Assert.Equal(Path.Combine(htmlDir, "training.html"), result.HtmlPath);
        var page = File.ReadAllText(result.HtmlPath!);
        Assert.Contains(ChartHtml.PlotlyJs, page);
        Assert.Contains("<h1>Training run</h1>", page);
        Assert.Contains("Loss goes <strong>down</strong>; see <code>loss</code>.", page);
        Assert.Contains("<li>one</li>", page);
        Assert.Contains("<pre class=\"code\"><code class=\"language-csharp\">var chart = ", page);
        Assert.Contains("val-loss", page);
        Assert.Contains("&lt;tag&gt; &amp; co", page);
        Assert.DoesNotContain("<tag>", page);
    }

    [Fact]
    public async Task Failed_notebook_gets_no_page()
    {
        using var folder = new NotebookFolder();
        var path = folder.Write("broken.ipynb", Markdown("# Broken"), Code("throw new Exception(\"stop\");"));
        var htmlDir = Path.Combine(folder.Path, "html");

        var result = await Run(path, html: htmlDir);

        Assert.NotNull(result.Failure);
        Assert.Null(result.HtmlPath);
        Assert.Empty(Directory.GetFileSystemEntries(htmlDir));
    }

    [Fact]
    public async Task Html_folder_below_a_regular_file_is_a_NotebookException_naming_it()
    {
        using var folder = new NotebookFolder();
        var path = folder.Write("ok.ipynb", Code("var a = 1;"));
        var blocker = Path.Combine(folder.Path, "a-file");
        File.WriteAllText(blocker, "");
        var htmlDir = Path.Combine(blocker, "html");

        var e = await Assert.ThrowsAsync<NotebookException>(() => Run(path, html: htmlDir));

        Assert.Contains(htmlDir, e.Message);
    }
}

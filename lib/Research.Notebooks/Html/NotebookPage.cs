using System.Net;
using Research.Charts;
using Research.Notebooks.Execution;
using Research.Notebooks.Ipynb;

namespace Research.Notebooks.Html;

/// <summary>
/// A notebook as one standalone page: markdown as HTML, code as <c>pre</c> blocks, each followed by the outputs
/// of this run. plotly.js is inline (<see cref="ChartHtml.Page(string, IEnumerable{string})"/>), so charts work offline.
/// </summary>
internal static class NotebookPage
{
    public static string Render(string title, NotebookDocument notebook, KernelNames kernels, IReadOnlyDictionary<int, CellRun> runs)
    {
        var parts = new List<string>();
        foreach (var cell in notebook.Cells)
        {
            switch (cell.CellType)
            {
                case "markdown":
                    parts.Add($"<section class=\"markdown\">\n{MarkdownHtml.ToHtml(cell.Source)}</section>");
                    break;
                case "code":
                    {
                        var language = kernels.LanguageOf(cell);
                        parts.Add($"<pre class=\"code\"><code class=\"language-{Escape(language)}\">{Escape(cell.Source)}</code></pre>");
                        if (runs.TryGetValue(cell.Number, out var run))
                        {
                            if (run.SkippedBecause is { } reason) parts.Add($"<p class=\"skipped\"><em>Not run: {Escape(reason)}.</em></p>");
                            parts.AddRange(run.Outputs.Select(Output));
                        }
                        break;
                    }
                default:
                    break; // raw cells hold text for other converters (LaTeX, reST), not for a page
            }
        }
        return ChartHtml.Page(title, parts);
    }

    private static string Output(CellOutput output) => output switch
    {
        StreamOutput stream => $"<pre class=\"output {stream.Name}\">{Escape(stream.Text.ToString())}</pre>",
        DisplayOutput { Value.MimeType: "text/html" } html => $"<div class=\"output\">\n{html.Value.Text}\n</div>",
        DisplayOutput text => $"<pre class=\"output\">{Escape(text.Value.Text)}</pre>",
        _ => "",
    };

    private static string Escape(string text) => WebUtility.HtmlEncode(text);
}

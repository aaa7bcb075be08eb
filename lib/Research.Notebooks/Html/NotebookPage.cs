using System.Net;
using Markdig;
using Microsoft.DotNet.Interactive.Documents;
using Research.Charts;

namespace Research.Notebooks.Html;

/// <summary>
/// A notebook as one standalone page: markdown as HTML (Markdig, with the extensions GitHub and VS Code render:
/// tables, task lists, autolinks), code as <c>pre</c> blocks, each followed by the outputs the kernel produced.
/// plotly.js is inline in the head (<see cref="ChartHtml.Page(string, IEnumerable{string})"/>), so charts work offline.
/// </summary>
internal static class NotebookPage
{
    private static readonly MarkdownPipeline Markdown = new MarkdownPipelineBuilder().UseAdvancedExtensions().Build();

    public static string Render(string title, InteractiveDocument document)
    {
        var parts = new List<string>();
        foreach (var cell in document.Elements)
        {
            if (cell.KernelName is "markdown" or "md")
            {
                parts.Add($"<section class=\"markdown\">\n{Markdig.Markdown.ToHtml(cell.Contents, Markdown)}</section>");
                continue;
            }
            if (!NotebookRunner.IsCode(cell)) continue;   // raw cells hold text for other converters, not for a page
            parts.Add($"<pre class=\"code\"><code class=\"language-{Escape(cell.KernelName!)}\">{Escape(cell.Contents)}</code></pre>");
            parts.AddRange(cell.Outputs.Select(Output));
        }
        return ChartHtml.Page(title, parts);
    }

    private static string Output(InteractiveDocumentOutputElement output) => output switch
    {
        TextElement text => $"<pre class=\"output {Escape(text.Name)}\">{Escape(text.Text)}</pre>",
        DisplayElement display => Rich(display.Data),
        ReturnValueElement value => Rich(value.Data),
        _ => "",
    };

    // The richest form the kernel gave: its HTML as is, else its plain text.
    private static string Rich(IDictionary<string, object> data) =>
        data.TryGetValue("text/html", out var html) ? $"<div class=\"output\">\n{html}\n</div>"
        : data.TryGetValue("text/plain", out var text) ? $"<pre class=\"output\">{Escape(text.ToString() ?? "")}</pre>"
        : "";

    private static string Escape(string text) => WebUtility.HtmlEncode(text);
}

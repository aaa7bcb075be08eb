using System.Net;
using Markdig;
using Research.Charts;

namespace Research.Interactive;

/// <summary>
/// The pieces of a notebook's standalone page: markdown as HTML (Markdig, with the extensions GitHub and VS Code
/// render: tables, task lists, autolinks), code as <c>pre</c> blocks, console text and formatted values, all on one
/// page with plotly.js inline in the head (<see cref="ChartHtml.Page(string, IEnumerable{string})"/>), so charts work
/// offline. One renderer for both routes: a notebook run in the kernel (<c>research notebooks run --html</c>) and a
/// notebook exported as an app, so their pages look alike.
/// </summary>
public static class NotebookHtml
{
    private static readonly MarkdownPipeline Pipeline = new MarkdownPipelineBuilder().UseAdvancedExtensions().Build();

    /// <summary>A markdown cell rendered as HTML.</summary>
    public static string Markdown(string markdown) =>
        $"<section class=\"markdown\">\n{Markdig.Markdown.ToHtml(markdown, Pipeline)}</section>";

    /// <summary>A code cell's source; <paramref name="language"/> is the kernel's name for it (<c>csharp</c>).</summary>
    public static string Code(string code, string language) =>
        $"<pre class=\"code\"><code class=\"language-{Escape(language)}\">{Escape(code)}</code></pre>";

    /// <summary>Text a cell wrote to a console stream (<c>stdout</c> or <c>stderr</c>).</summary>
    public static string Stream(string text, string stream) => $"<pre class=\"output {Escape(stream)}\">{Escape(text)}</pre>";

    /// <summary>
    /// A value the cell displayed, in the form <paramref name="mimeType"/> gave: HTML as is (tables, charts), any
    /// other form as text.
    /// </summary>
    public static string Displayed(string mimeType, string formatted) =>
        mimeType == "text/html" ? $"<div class=\"output\">\n{formatted}\n</div>" : $"<pre class=\"output\">{Escape(formatted)}</pre>";

    /// <summary>The whole page: <paramref name="parts"/> in order, plotly.js inline.</summary>
    public static string Page(string title, IEnumerable<string> parts) => ChartHtml.Page(title, parts);

    private static string Escape(string text) => WebUtility.HtmlEncode(text);
}

using Microsoft.DotNet.Interactive.Documents;
using Research.Interactive;

namespace Research.Notebooks.Html;

/// <summary>
/// A notebook run in the kernel as one standalone page (<see cref="NotebookHtml"/>): markdown, each code cell and
/// the outputs the kernel produced for it.
/// </summary>
internal static class NotebookPage
{
    public static string Render(string title, InteractiveDocument document)
    {
        var parts = new List<string>();
        foreach (var cell in document.Elements)
        {
            if (cell.KernelName is "markdown" or "md")
            {
                parts.Add(NotebookHtml.Markdown(cell.Contents));
                continue;
            }
            if (!NotebookRunner.IsCode(cell)) continue;   // raw cells hold text for other converters, not for a page
            parts.Add(NotebookHtml.Code(cell.Contents, cell.KernelName!));
            parts.AddRange(cell.Outputs.Select(Output));
        }
        return NotebookHtml.Page(title, parts);
    }

    private static string Output(InteractiveDocumentOutputElement output) => output switch
    {
        TextElement text => NotebookHtml.Stream(text.Text, text.Name),
        DisplayElement display => Richest(display.Data),
        ReturnValueElement value => Richest(value.Data),
        _ => "",
    };

    // The kernel stores a value in several forms; the page shows its HTML where it has one, else its plain text.
    private static string Richest(IDictionary<string, object> data) =>
        data.TryGetValue("text/html", out var html) ? NotebookHtml.Displayed("text/html", html.ToString() ?? "")
        : data.TryGetValue("text/plain", out var text) ? NotebookHtml.Displayed("text/plain", text.ToString() ?? "")
        : "";
}

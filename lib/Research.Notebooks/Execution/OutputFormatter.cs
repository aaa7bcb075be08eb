using System.Collections;
using System.Reflection;
using System.Text;
using Plotly.NET;
using Research.Charts;
using TorchSharp;

namespace Research.Notebooks.Execution;

/// <summary>
/// Turns a displayed value into one MIME representation, following what the Polyglot C# kernel shows:
/// charts as HTML (the CDN-loading fragment, so a saved notebook stays small), everything else as text.
/// </summary>
internal static class OutputFormatter
{
    private const int MaxItems = 100;

    public static FormattedValue Format(object? value) => value switch
    {
        null => Text("<null>"),
        string s => Text(s),
        GenericChart chart => new("text/html", ChartHtml.Fragment(chart)),
        HtmlContent html => new("text/html", html.Html),
        torch.Tensor tensor => Text(tensor.ToString(TensorStringStyle.Julia)),
        _ when HtmlOf(value) is { } html => new("text/html", html),
        IEnumerable items => Text(List(items)),
        _ => Text(value.ToString() ?? ""),
    };

    private static FormattedValue Text(string text) => new("text/plain", text);

    // Any type can opt into HTML with a public string ToHtml(), without referencing the runner.
    private static string? HtmlOf(object value)
    {
        var method = value.GetType().GetMethod("ToHtml", BindingFlags.Public | BindingFlags.Instance, Type.EmptyTypes);
        return method?.ReturnType == typeof(string) ? (string?)method.Invoke(value, null) : null;
    }

    // ToString() of a collection prints its type name; show the items instead, as the kernel's table view would.
    private static string List(IEnumerable items)
    {
        var text = new StringBuilder("[");
        int count = 0;
        foreach (var item in items)
        {
            if (count > 0) text.Append(", ");
            if (++count > MaxItems) { text.Append("..."); break; }
            text.Append(item is string s ? s : item?.ToString() ?? "<null>");
        }
        return text.Append(']').ToString();
    }
}

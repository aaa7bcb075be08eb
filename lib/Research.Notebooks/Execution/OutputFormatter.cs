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
    private const int MaxRows = 30;

    public static FormattedValue Format(object? value, Func<string> chartId) => value switch
    {
        null => Text("<null>"),
        string s => Text(s),
        GenericChart chart => new("text/html", ChartHtml.Fragment(chart, chartId())),
        HtmlContent html => new("text/html", html.Html),
        torch.Tensor tensor => Text(Rows(tensor.ToString(TensorStringStyle.Julia))),
        _ when HtmlOf(value) is { } html => new("text/html", html),
        IEnumerable items when !HasOwnToString(value) => Text(List(items)),
        _ => Text(value.ToString() ?? ""),
    };

    private static FormattedValue Text(string text) => new("text/plain", text);

    // Any type can opt into HTML with a public string ToHtml(), without referencing the runner.
    private static string? HtmlOf(object value)
    {
        var method = value.GetType().GetMethod("ToHtml", BindingFlags.Public | BindingFlags.Instance, Type.EmptyTypes);
        return method?.ReturnType == typeof(string) ? (string?)method.Invoke(value, null) : null;
    }

    // TorchSharp elides columns past the line width but prints every row; a 1000x1000 weight would add 100 kB to
    // the notebook. Keep the head and the tail, as PyTorch's summarised printing does.
    private static string Rows(string text)
    {
        var lines = text.TrimEnd('\n').Split('\n');
        if (lines.Length <= MaxRows) return text;
        return string.Join('\n', lines[..20].Append(" ...").Concat(lines[^5..])) + "\n";
    }

    // Collections that format themselves (MathNet vectors) know best; List<T> and arrays only print their type name.
    private static bool HasOwnToString(object value) =>
        value.GetType().GetMethod(nameof(ToString), Type.EmptyTypes)?.DeclaringType != typeof(object);

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

using System.Text;
using System.Text.Json.Nodes;

namespace Research.Notebooks.Ipynb;

/// <summary>nbformat's "multiline string": a string, or an array of lines each ending in <c>\n</c> but the last.</summary>
internal static class MultilineText
{
    public static string Read(JsonNode? node) => node switch
    {
        null => "",
        JsonArray lines => string.Concat(lines.Select(l => l?.GetValue<string>() ?? "")),
        _ => node.GetValue<string>(),
    };

    /// <summary>Splits <paramref name="text"/> into <c>\n</c>-terminated lines, the shape VS Code writes.</summary>
    public static JsonArray ToLines(string text)
    {
        var lines = new JsonArray();
        int start = 0;
        while (start < text.Length)
        {
            int end = text.IndexOf('\n', start);
            end = end < 0 ? text.Length : end + 1;
            lines.Add(JsonValue.Create(text[start..end]));
            start = end;
        }
        return lines;
    }

    /// <summary>Normalises Windows line ends, as notebook front ends do for outputs.</summary>
    public static string Normalize(string text) =>
        text.Contains('\r') ? new StringBuilder(text).Replace("\r\n", "\n").ToString() : text;
}

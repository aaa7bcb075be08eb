using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Research.Notebooks.Ipynb;

/// <summary>
/// Writes a JSON tree the way VS Code's notebook serializer does (JavaScript's <c>JSON.stringify(value, null, indent)</c>):
/// keys in their existing order, <c>{}</c>/<c>[]</c> for empty containers, only quotes, backslashes and control
/// characters escaped. System.Text.Json's writer escapes more (emoji, for one), which would rewrite untouched cells.
/// </summary>
internal static class JsonText
{
    public static string Write(JsonNode? root, string indentUnit, string newLine)
    {
        var text = new StringBuilder();
        Write(text, root, "", indentUnit, newLine);
        return text.ToString();
    }

    private static void Write(StringBuilder text, JsonNode? node, string indent, string unit, string newLine)
    {
        switch (node)
        {
            case null:
                text.Append("null");
                break;
            case JsonObject obj when obj.Count == 0:
                text.Append("{}");
                break;
            case JsonObject obj:
                {
                    text.Append('{').Append(newLine);
                    var inner = indent + unit;
                    int i = 0;
                    foreach (var (key, value) in obj)
                    {
                        text.Append(inner);
                        Quote(text, key);
                        text.Append(": ");
                        Write(text, value, inner, unit, newLine);
                        if (++i < obj.Count) text.Append(',');
                        text.Append(newLine);
                    }
                    text.Append(indent).Append('}');
                    break;
                }
            case JsonArray array when array.Count == 0:
                text.Append("[]");
                break;
            case JsonArray array:
                {
                    text.Append('[').Append(newLine);
                    var inner = indent + unit;
                    for (int i = 0; i < array.Count; i++)
                    {
                        text.Append(inner);
                        Write(text, array[i], inner, unit, newLine);
                        if (i + 1 < array.Count) text.Append(',');
                        text.Append(newLine);
                    }
                    text.Append(indent).Append(']');
                    break;
                }
            default:
                if (node.GetValueKind() == JsonValueKind.String) Quote(text, node.GetValue<string>());
                else text.Append(node.ToJsonString()); // numbers keep their source text; true/false/null as is
                break;
        }
    }

    private static void Quote(StringBuilder text, string value)
    {
        text.Append('"');
        for (int i = 0; i < value.Length; i++)
        {
            char c = value[i];
            switch (c)
            {
                case '"': text.Append("\\\""); break;
                case '\\': text.Append("\\\\"); break;
                case '\b': text.Append("\\b"); break;
                case '\f': text.Append("\\f"); break;
                case '\n': text.Append("\\n"); break;
                case '\r': text.Append("\\r"); break;
                case '\t': text.Append("\\t"); break;
                default:
                    bool loneSurrogate = char.IsSurrogate(c) &&
                        !(char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1])) &&
                        !(char.IsLowSurrogate(c) && i > 0 && char.IsHighSurrogate(value[i - 1]));
                    if (c < ' ' || loneSurrogate)
                        text.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else
                        text.Append(c);
                    break;
            }
        }
        text.Append('"');
    }
}

using System.Text.Json.Nodes;
using Microsoft.DotNet.Interactive.Documents;
using Research.Notebooks.Kernel;

namespace Research.Notebooks;

/// <summary>A cell's kernel events as the outputs Polyglot stores in an .ipynb (display, execute_result, stream).</summary>
internal static class CellOutputs
{
    public static List<InteractiveDocumentOutputElement> From(IReadOnlyList<KernelEvent> events, int executionOrder)
    {
        var outputs = new List<InteractiveDocumentOutputElement>();
        var byValueId = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var e in events)
        {
            switch (e.Type)
            {
                case "DisplayedValueProduced":
                    if ((string?)e.Body["valueId"] is { } id) byValueId[id] = outputs.Count;
                    outputs.Add(new DisplayElement(Data(e.Body)));
                    break;
                case "DisplayedValueUpdated":
                    // display(x) returned a handle whose Update replaces that output in place.
                    if ((string?)e.Body["valueId"] is { } updated && byValueId.TryGetValue(updated, out var at))
                        outputs[at] = new DisplayElement(Data(e.Body));
                    break;
                case "ReturnValueProduced":
                    var result = new ReturnValueElement { ExecutionOrder = executionOrder };
                    foreach (var (mime, value) in Data(e.Body)) result.Data[mime] = value;
                    outputs.Add(result);
                    break;
                case "StandardOutputValueProduced":
                    AddText(outputs, "stdout", Text(e.Body));
                    break;
                case "StandardErrorValueProduced":
                    AddText(outputs, "stderr", Text(e.Body));
                    break;
                default:
                    break;
            }
        }
        return outputs;
    }

    private static Dictionary<string, object> Data(JsonObject body)
    {
        var data = new Dictionary<string, object>(StringComparer.Ordinal);
        foreach (var value in body["formattedValues"]?.AsArray() ?? [])
            if ((string?)value?["mimeType"] is { } mime && (bool?)value["suppressDisplay"] != true)
                data[mime] = (string?)value["value"] ?? "";
        return data;
    }

    private static string Text(JsonObject body) =>
        string.Concat((body["formattedValues"]?.AsArray() ?? []).Select(v => (string?)v?["value"] ?? ""));

    // Consecutive writes to one stream are one output, as in the kernel's own notebooks.
    private static void AddText(List<InteractiveDocumentOutputElement> outputs, string name, string text)
    {
        if (outputs.Count > 0 && outputs[^1] is TextElement last && last.Name == name)
            outputs[^1] = new TextElement(last.Text + text, name);
        else
            outputs.Add(new TextElement(text, name));
    }
}

using System.Text.Json.Nodes;
using Research.Notebooks.Execution;

namespace Research.Notebooks.Ipynb;

/// <summary>Cell outputs in nbformat 4 form, keys in the sorted order VS Code writes.</summary>
internal static class OutputJson
{
    public static JsonArray ToJson(IEnumerable<CellOutput> outputs) => [.. outputs.Select(ToJson)];

    private static JsonObject ToJson(CellOutput output) => output switch
    {
        StreamOutput stream => new JsonObject
        {
            ["name"] = stream.Name,
            ["output_type"] = "stream",
            ["text"] = MultilineText.ToLines(MultilineText.Normalize(stream.Text.ToString())),
        },
        DisplayOutput { ExecutionCount: { } count } result => new JsonObject
        {
            ["data"] = Data(result.Value),
            ["execution_count"] = count,
            ["metadata"] = new JsonObject(),
            ["output_type"] = "execute_result",
        },
        DisplayOutput display => new JsonObject
        {
            ["data"] = Data(display.Value),
            ["metadata"] = new JsonObject(),
            ["output_type"] = "display_data",
        },
        _ => throw new ArgumentOutOfRangeException(nameof(output), output.GetType().Name, "unknown output kind"),
    };

    private static JsonObject Data(FormattedValue value) =>
        new() { [value.MimeType] = MultilineText.ToLines(MultilineText.Normalize(value.Text)) };
}

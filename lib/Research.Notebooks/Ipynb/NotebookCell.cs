using System.Text.Json;
using System.Text.Json.Nodes;

namespace Research.Notebooks.Ipynb;

/// <summary>One cell of a <see cref="NotebookDocument"/>; a view on its JSON object.</summary>
internal sealed class NotebookCell(int number, JsonObject node)
{
    /// <summary>1-based position in the file, counting every cell.</summary>
    public int Number { get; } = number;

    /// <summary><c>code</c>, <c>markdown</c> or <c>raw</c>.</summary>
    public string CellType => node["cell_type"]!.GetValue<string>();

    public string Source => MultilineText.Read(node["source"]);

    public JsonObject? Metadata => node["metadata"] as JsonObject;

    /// <summary>The kernel the cell's metadata names (Polyglot first, then the older .NET Interactive key).</summary>
    public string? KernelName =>
        StringAt(Metadata?["polyglot_notebook"]?["kernelName"]) ?? StringAt(Metadata?["dotnet_interactive"]?["language"]);

    /// <summary>Replaces the outputs and execution count, keeping the keys where they are in the file.</summary>
    public void SetOutputs(JsonArray outputs, int executionCount)
    {
        node["execution_count"] = executionCount;
        node["outputs"] = outputs;
    }

    internal static string? StringAt(JsonNode? value) =>
        value is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : null;
}

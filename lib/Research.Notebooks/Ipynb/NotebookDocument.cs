using System.Text.Json;
using System.Text.Json.Nodes;

namespace Research.Notebooks.Ipynb;

/// <summary>
/// An nbformat 4 notebook held as a JSON tree, so every field the runner does not touch (metadata, kernelspec,
/// cell ids, attachments) survives a round trip unchanged; only outputs and execution counts are replaced.
/// </summary>
internal sealed class NotebookDocument
{
    private readonly JsonObject _root;
    private readonly string _indent;
    private readonly string _newLine;
    private readonly bool _finalNewLine;

    private NotebookDocument(JsonObject root, IReadOnlyList<NotebookCell> cells, string indent, string newLine, bool finalNewLine)
    {
        _root = root;
        Cells = cells;
        _indent = indent;
        _newLine = newLine;
        _finalNewLine = finalNewLine;
    }

    public IReadOnlyList<NotebookCell> Cells { get; }

    /// <summary>Notebook-level metadata (kernelspec, polyglot_notebook, ...), or null.</summary>
    public JsonObject? Metadata => _root["metadata"] as JsonObject;

    /// <summary>Parses <paramref name="text"/>; <paramref name="name"/> is used in error messages.</summary>
    public static NotebookDocument Parse(string text, string name)
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(text, documentOptions: new JsonDocumentOptions { AllowTrailingCommas = false });
        }
        catch (JsonException e)
        {
            var where = e.LineNumber is { } line ? $"{name}:{line + 1}:{(e.BytePositionInLine ?? 0) + 1}" : name;
            throw new NotebookException($"{where}: malformed JSON: {FirstSentence(e.Message)}", e);
        }
        if (root is not JsonObject obj)
            throw new NotebookException($"{name}: not a notebook (the JSON root is not an object)");
        if (obj["nbformat"] is JsonValue format && format.TryGetValue<int>(out var version) && version != 4)
            throw new NotebookException($"{name}: nbformat {version} is not supported (nbformat 4 is)");
        if (obj["cells"] is not JsonArray cellArray)
            throw new NotebookException($"{name}: not a notebook (no \"cells\" array)");

        var cells = new List<NotebookCell>(cellArray.Count);
        for (int i = 0; i < cellArray.Count; i++)
        {
            if (cellArray[i] is not JsonObject cell || cell["cell_type"]?.GetValueKind() != JsonValueKind.String)
                throw new NotebookException($"{name}: cell {i + 1} is not a notebook cell (no \"cell_type\")");
            if (!IsMultilineText(cell["source"]))
                throw new NotebookException($"{name}: cell {i + 1} has a \"source\" that is neither a string nor a list of strings");
            cells.Add(new NotebookCell(i + 1, cell));
        }
        return new NotebookDocument(obj, cells, DetectIndent(text), text.Contains("\r\n") ? "\r\n" : "\n",
            text.EndsWith('\n'));
    }

    /// <summary>The notebook as text, in the indentation and line ends of the file it was read from.</summary>
    public string ToJson()
    {
        var json = JsonText.Write(_root, _indent, _newLine);
        return _finalNewLine ? json + _newLine : json;
    }

    private static bool IsMultilineText(JsonNode? node) => node switch
    {
        null => true,
        JsonArray lines => lines.All(l => l?.GetValueKind() == JsonValueKind.String),
        _ => node.GetValueKind() == JsonValueKind.String,
    };

    // VS Code keeps the indentation a file already has (1 space for files it created); so do we.
    private static string DetectIndent(string text)
    {
        int lineStart = text.IndexOf('\n') + 1;
        if (lineStart <= 0 || lineStart >= text.Length) return " ";
        int end = lineStart;
        while (end < text.Length && text[end] is ' ' or '\t') end++;
        return end > lineStart ? text[lineStart..end] : " ";
    }

    private static string FirstSentence(string message)
    {
        int cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        return cut > 0 ? message[..cut] : message;
    }
}

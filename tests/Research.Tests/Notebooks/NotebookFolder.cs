using System.Text.Json;
using System.Text.Json.Nodes;
using Research.Notebooks;
using Xunit;

namespace Research.Tests.Notebooks;

/// <summary>A temporary folder holding notebooks built by a test, in the shape VS Code's Polyglot extension saves.</summary>
internal sealed class NotebookFolder : IDisposable
{
    private static readonly JsonSerializerOptions Polyglot = new() { WriteIndented = true, IndentSize = 1 };

    public string Path { get; } = Directory.CreateTempSubdirectory("research-notebooks-").FullName;

    public string Write(string name, params JsonObject[] cells)
    {
        var notebook = new JsonObject
        {
            ["cells"] = new JsonArray([.. cells]),
            ["metadata"] = new JsonObject
            {
                ["kernelspec"] = new JsonObject { ["display_name"] = ".NET (C#)", ["language"] = "C#", ["name"] = ".net-csharp" },
                ["language_info"] = new JsonObject { ["name"] = "polyglot-notebook" },
                ["polyglot_notebook"] = new JsonObject
                {
                    ["kernelInfo"] = new JsonObject
                    {
                        ["defaultKernelName"] = "csharp",
                        ["items"] = new JsonArray(new JsonObject { ["aliases"] = new JsonArray(), ["name"] = "csharp" }),
                    },
                },
            },
            ["nbformat"] = 4,
            ["nbformat_minor"] = 2,
        };
        var path = System.IO.Path.Combine(Path, name);
        File.WriteAllText(path, notebook.ToJsonString(Polyglot));
        return path;
    }

    public static JsonObject Code(params string[] lines) => CodeIn("csharp", lines);

    public static JsonObject CodeIn(string kernel, params string[] lines) => new()
    {
        ["cell_type"] = "code",
        ["execution_count"] = null,
        ["id"] = Guid.NewGuid().ToString("N")[..8],
        ["metadata"] = new JsonObject
        {
            ["dotnet_interactive"] = new JsonObject { ["language"] = kernel },
            ["polyglot_notebook"] = new JsonObject { ["kernelName"] = kernel },
        },
        ["outputs"] = new JsonArray(),
        ["source"] = SourceLines(lines),
    };

    public static JsonObject Markdown(params string[] lines) => new()
    {
        ["cell_type"] = "markdown",
        ["id"] = Guid.NewGuid().ToString("N")[..8],
        ["metadata"] = new JsonObject(),
        ["source"] = SourceLines(lines),
    };

    public static Task<NotebookRunResult> Run(string path, bool write = false, string? html = null, TextWriter? log = null,
        Research.Interactive.PlotlySource? plotly = null) =>
        NotebookRunner.RunAsync(path, new NotebookRunOptions(write, html, Plotly: plotly), log ?? TextWriter.Null, TestContext.Current.CancellationToken);

    /// <summary>The setup line a user's notebook starts with: the built library, by absolute path.</summary>
    public static string ReferenceKit() => $"#r \"{TestPaths.Built("Research.Core", "Research.Core.dll")}\"";

    /// <summary>The outputs of cell <paramref name="cellNumber"/> (1-based) as stored in the file.</summary>
    public static JsonArray Outputs(string path, int cellNumber) =>
        JsonNode.Parse(File.ReadAllText(path))!["cells"]![cellNumber - 1]!["outputs"]!.AsArray();

    /// <summary>The text of an output's data or stream, lines joined.</summary>
    public static string Text(JsonNode? lines) => string.Concat(lines!.AsArray().Select(l => l!.GetValue<string>()));

    public void Dispose() => Directory.Delete(Path, recursive: true);

    private static JsonArray SourceLines(string[] lines) =>
        new([.. lines.Select((l, i) => (JsonNode)JsonValue.Create(i + 1 < lines.Length ? l + "\n" : l)!)]);
}

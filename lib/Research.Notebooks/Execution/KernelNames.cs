using System.Text.Json.Nodes;
using Research.Notebooks.Ipynb;

namespace Research.Notebooks.Execution;

/// <summary>Which kernel a cell belongs to, and which <c>#!name</c> lines switch kernels.</summary>
internal sealed class KernelNames
{
    public const string CSharp = "csharp";

    // The kernels a Polyglot notebook has out of the box, with their aliases.
    private static readonly string[] BuiltIn =
    [
        "csharp", "c#", "fsharp", "f#", "pwsh", "powershell", "javascript", "js", "html", "markdown", "md",
        "mermaid", "sql", "kql", "value", "http", "python", "r",
    ];

    private readonly HashSet<string> _names = new(BuiltIn, StringComparer.OrdinalIgnoreCase);

    private KernelNames(string defaultKernel) => Default = defaultKernel;

    /// <summary>The notebook's default kernel, normalised (<c>csharp</c> for C#).</summary>
    public string Default { get; }

    public static KernelNames For(NotebookDocument notebook)
    {
        var metadata = notebook.Metadata;
        var polyglot = metadata?["polyglot_notebook"];
        var declared = NotebookCell.StringAt(polyglot?["kernelInfo"]?["defaultKernelName"])
            ?? NotebookCell.StringAt(polyglot?["defaultKernelName"])
            ?? NotebookCell.StringAt(metadata?["kernelspec"]?["language"]);
        var names = new KernelNames(Normalize(declared ?? CSharp));
        // Kernels the notebook declares (connected kernels included) are kernel switches too, not unknown magic.
        if (polyglot?["kernelInfo"]?["items"] is JsonArray items)
        {
            foreach (var item in items.OfType<JsonObject>())
            {
                if (NotebookCell.StringAt(item["name"]) is { } name) names._names.Add(name);
                if (item["aliases"] is JsonArray aliases)
                    foreach (var alias in aliases) if (NotebookCell.StringAt(alias) is { } a) names._names.Add(a);
            }
        }
        return names;
    }

    public bool IsKernel(string name) => _names.Contains(name);

    public string LanguageOf(NotebookCell cell) => cell.KernelName is { } name ? Normalize(name) : Default;

    public static string Normalize(string name) => name.ToLowerInvariant() switch
    {
        "c#" or "csharp" or ".net-csharp" => CSharp,
        "f#" or "fsharp" or ".net-fsharp" => "fsharp",
        "powershell" or ".net-pwsh" => "pwsh",
        "md" => "markdown",
        "js" => "javascript",
        var other => other,
    };
}

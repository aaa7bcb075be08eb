using System.Reflection;
using System.Text.RegularExpressions;
using Research.Notebooks.Ipynb;

namespace Research.Notebooks.Execution;

/// <summary>
/// Handles the Polyglot directives of a cell (<c>#!kernel</c>, <c>#r</c>, <c>#i</c>) before Roslyn sees it. Each
/// handled line becomes an empty line, so compiler and stack-trace line numbers stay those of the cell.
/// </summary>
internal sealed partial class CellDirectives(KernelNames kernels, string notebookFolder)
{
    // Packages whose assemblies the host already has; a notebook asks for them so that it also runs in VS Code.
    private static readonly string[] ProvidedPackages =
        ["TorchSharp", "TorchSharp-cpu", "Plotly.NET", "Plotly.NET.CSharp", "Plotly.NET.Interactive", "MathNet.Numerics"];

    private static readonly string[] ProvidedPackagePrefixes = ["libtorch-cpu", "TorchSharp-cuda-", "libtorch-cuda-"];

    /// <summary>Prepares <paramref name="source"/>, a cell whose own kernel is <paramref name="language"/>.</summary>
    /// <exception cref="CellDirectiveException">A directive the runner cannot honour.</exception>
    public PreparedCell Prepare(string source, string language)
    {
        var lines = MultilineText.Normalize(source).Split('\n');
        var references = new List<string>();
        var notes = new List<string>();
        var current = language;
        // A cell is C# if C# code or an explicit #!csharp is in it, or if it is a C# cell no switch turned into another kernel's.
        bool csharpContent = false, switched = false;
        for (int i = 0; i < lines.Length; i++)
        {
            int lineNumber = i + 1;
            var text = lines[i].Trim();
            if (text.StartsWith("#!", StringComparison.Ordinal))
            {
                var name = text[2..].Split((char[]?)null, 2, StringSplitOptions.RemoveEmptyEntries).FirstOrDefault() ?? "";
                lines[i] = "";
                if (kernels.IsKernel(name))
                {
                    current = KernelNames.Normalize(name);
                    switched = true;
                    if (current == KernelNames.CSharp) csharpContent = true;
                    else notes.Add($"line {lineNumber}: #!{name} part skipped (only C# runs)");
                    continue;
                }
                // Other kernels' magic commands are theirs to interpret; #!time only times the cell, which the log does.
                if (current != KernelNames.CSharp || name == "time") continue;
                throw new CellDirectiveException(lineNumber,
                    $"magic command #!{name} is not supported by the kit runner (it runs C# cells only)");
            }
            if (current != KernelNames.CSharp)
            {
                lines[i] = "";
                continue;
            }
            if (text.Length > 0) csharpContent = true;
            if (Directive("r", text) is { } reference)
            {
                lines[i] = "";
                Reference(reference, lineNumber, references, notes);
            }
            else if (Directive("i", text) is not null)
            {
                lines[i] = "";
                notes.Add($"line {lineNumber}: #i package source ignored (packages come from the host)");
            }
        }
        bool hasCSharp = csharpContent || (language == KernelNames.CSharp && !switched);
        return new PreparedCell(string.Join('\n', lines), hasCSharp, references, notes);
    }

    private void Reference(string argument, int line, List<string> references, List<string> notes)
    {
        var nuget = NuGetReference().Match(argument);
        if (nuget.Success)
        {
            var package = nuget.Groups["name"].Value;
            if (!IsProvided(package))
                throw new CellDirectiveException(line,
                    $"package {package} is not provided by the kit runner; reference a built assembly with #r \"path\"");
            notes.Add($"line {line}: nuget package {package} is provided by the host");
            return;
        }
        if (argument.StartsWith("nuget:", StringComparison.OrdinalIgnoreCase))
            throw new CellDirectiveException(line, $"malformed package reference #r \"{argument}\"");

        var file = Path.GetFileName(argument);
        var simpleName = file.EndsWith(".dll", StringComparison.OrdinalIgnoreCase) || file.EndsWith(".exe", StringComparison.OrdinalIgnoreCase)
            ? file[..^4] : file;
        // A second copy of an assembly the host has (Research.Core, TorchSharp) would split every type in two,
        // so the host's copy wins, whatever build the path names and whether or not it exists.
        if (HostAssemblies.Find(simpleName) is { } hostCopy)
        {
            references.Add(hostCopy);
            notes.Add($"line {line}: #r \"{argument}\" uses the host's {simpleName}");
            return;
        }
        var path = Path.GetFullPath(Path.Combine(notebookFolder, argument));
        if (!File.Exists(path))
            throw new CellDirectiveException(line, $"assembly not found: {path} (from #r \"{argument}\")");
        try
        {
            _ = AssemblyName.GetAssemblyName(path);
        }
        catch (BadImageFormatException)
        {
            // Roslyn would report this without a source line; here it points at the #r.
            throw new CellDirectiveException(line, $"not a .NET assembly: {path} (from #r \"{argument}\")");
        }
        references.Add(path);
    }

    private static bool IsProvided(string package) =>
        ProvidedPackages.Contains(package, StringComparer.OrdinalIgnoreCase) ||
        ProvidedPackagePrefixes.Any(p => package.StartsWith(p, StringComparison.OrdinalIgnoreCase));

    /// <summary>The quoted argument of <c>#r "..."</c> / <c>#i "..."</c>, or null when the line is not that directive.</summary>
    private static string? Directive(string keyword, string line)
    {
        var match = QuotedDirective().Match(line);
        if (!match.Success || match.Groups["keyword"].Value != keyword) return null;
        return match.Groups["argument"].Value;
    }

    [GeneratedRegex("""^#(?<keyword>[ri])\s*"(?<argument>[^"]*)"\s*(//.*)?$""")]
    private static partial Regex QuotedDirective();

    [GeneratedRegex("""^nuget:\s*(?<name>[A-Za-z0-9_.\-]+)\s*(,\s*(?<version>[^,\s]+)\s*)?$""", RegexOptions.IgnoreCase)]
    private static partial Regex NuGetReference();
}

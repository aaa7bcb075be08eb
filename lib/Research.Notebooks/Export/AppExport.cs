using System.Text;
using Microsoft.CodeAnalysis.CSharp;

namespace Research.Notebooks.Export;

/// <summary>
/// Polyglot notebooks as C# file-based apps (.NET 10: <c>dotnet run app.cs</c>), a route to the kit's notebooks that
/// needs no .NET Interactive kernel. An app runs the notebook's C# cells in order as one program, calling the
/// <c>Research.Interactive.NotebookApp</c> runtime between them: markdown cells become comments the app prints, a
/// cell's trailing bare expression becomes a <c>Display</c> call, and the run ends with the notebook's page beside
/// the app.
/// </summary>
public static class AppExport
{
    /// <summary>What <c>research notebooks export --to</c> accepts.</summary>
    public static IReadOnlyList<string> Formats { get; } = ["app"];

    // Namespaces the kernel imports into every C# cell that an app's implicit usings (System, System.IO, System.Linq,
    // System.Collections.Generic, System.Net.Http, System.Threading, System.Threading.Tasks) lack.
    private static readonly string[] KernelUsings = ["using System.Collections;", "using System.Text;"];

    private const string Runtime = "using static Research.Interactive.NotebookApp;";

    /// <summary>
    /// Writes <c>&lt;outDirectory&gt;/&lt;notebook name&gt;.cs</c> for each notebook and returns their paths. Every
    /// notebook is converted before anything is written, and each file is written atomically: a notebook an app
    /// cannot hold means no file at all.
    /// </summary>
    /// <exception cref="NotebookException">
    /// A missing or malformed notebook, a cell an app cannot hold (naming notebook, cell and what), two notebooks of one
    /// name, or a folder that cannot be written.
    /// </exception>
    public static IReadOnlyList<string> Export(IReadOnlyList<string> notebooks, string outDirectory)
    {
        ArgumentNullException.ThrowIfNull(notebooks);
        ArgumentNullException.ThrowIfNull(outDirectory);
        var apps = notebooks.Select(n => Path.Combine(outDirectory, Path.GetFileNameWithoutExtension(n) + ".cs")).ToList();
        var clash = notebooks.Zip(apps).GroupBy(p => Path.GetFullPath(p.Second), StringComparer.OrdinalIgnoreCase).FirstOrDefault(g => g.Count() > 1);
        if (clash is not null)
            throw new NotebookException($"notebooks {string.Join(" and ", clash.Select(p => p.First))} would both be written as {clash.First().Second}; export them separately");

        var sources = notebooks.Zip(apps, ToApp).ToList();
        try { Directory.CreateDirectory(outDirectory); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            throw new NotebookException($"{outDirectory}: cannot write apps there: {e.Message}", e);
        }
        foreach (var (app, source) in apps.Zip(sources)) NotebookException.WriteAllText(app, source);
        return apps;
    }

    /// <summary>The app for <paramref name="notebookPath"/>, to be written at <paramref name="appPath"/> (its relative paths start there).</summary>
    /// <exception cref="NotebookException">As <see cref="Export"/>, for this notebook.</exception>
    public static string ToApp(string notebookPath, string appPath)
    {
        ArgumentNullException.ThrowIfNull(notebookPath);
        ArgumentNullException.ThrowIfNull(appPath);
        var document = NotebookRunner.Read(notebookPath);
        var notebookFolder = Path.GetDirectoryName(Path.GetFullPath(notebookPath))!;
        var appFolder = Path.GetDirectoryName(Path.GetFullPath(appPath))!;
        var directives = new List<string>();
        var usings = new List<string>(KernelUsings);
        var segments = new List<string>();
        var types = new List<string>();
        var firstDeclared = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < document.Elements.Count; i++)
        {
            var (cell, number) = (document.Elements[i], i + 1);
            var where = $"{notebookPath}:{number}";
            if (cell.KernelName is "markdown" or "md")
            {
                segments.Add(MarkdownSegment(cell.Contents));
                continue;
            }
            if (!NotebookRunner.IsCode(cell)) continue;   // raw and empty cells: the kernel runs nothing either
            var kernel = NotebookRunner.KnownKernels().FirstOrDefault(k => k.Name == cell.KernelName || k.Aliases.Contains(cell.KernelName!));
            if (kernel?.Name != "csharp")
                throw new NotebookException($"{where}: a cell in {kernel?.LanguageName ?? cell.KernelName} ({cell.KernelName}): an app runs C# cells only");

            var code = ScriptCell.Read(cell.Contents.ReplaceLineEndings("\n"), where);
            directives.AddRange(code.References.Select(r => Directive(r, where, notebookFolder, appFolder)));
            usings.AddRange(code.Usings);
            foreach (var declared in code.Declared)
                if (!firstDeclared.TryAdd(declared.Name, number))
                    throw new NotebookException($"{where}:{declared.Line}: {declared.Name} is declared again (first in cell " +
                                                $"{firstDeclared[declared.Name]}): a C# script allows that, a program does not; rename one of them");
            segments.Add(string.Join('\n', new[] { "Cell();" }.Concat(TrimBlankLines(code.Statements))));
            types.AddRange(code.Types);
        }

        // The app's runtime (NotebookApp) is in Research.Core, which a notebook without the kit's setup cell lacks.
        if (!directives.Any(d => d.StartsWith("#:project ", StringComparison.Ordinal) && Path.GetFileName(d) == "Research.Core.csproj"))
            directives.Insert(0, $"#:project {Relative(appFolder, OwnCore(notebookPath))}");

        var name = Path.GetFileNameWithoutExtension(appPath);
        var notebook = Relative(appFolder, notebookPath);
        var app = new StringBuilder();
        app.Append($$"""
            // {{name}}: the notebook {{notebook}} as a C# file-based app, written by `research notebooks export`.
            // `dotnet run {{name}}.cs` (.NET 10) runs its cells in order, prints its text and values, and writes {{name}}.html
            // beside this file. The notebook is the source: edit it and export again, rather than editing this file.
            //
            // File-based apps default to native AOT settings, which turn off the reflection-based System.Text.Json the kit's
            // configs need: PublishAot=false. The other properties let the cells build as the kernel ran them wherever the app
            // lives: inside a repository whose Directory.Build.props makes warnings errors, enforces code style and manages
            // package versions centrally (as the kit's does), they restore an app's defaults and let #:package lines name
            // their versions; elsewhere they change nothing.

            """);
        foreach (var directive in directives.Distinct()) app.Append(directive).Append('\n');
        app.Append("""
            #:property PublishAot=false
            #:property TreatWarningsAsErrors=false
            #:property EnforceCodeStyleInBuild=false
            #:property ManagePackageVersionsCentrally=false


            """);
        app.Append("// System.Collections and System.Text: the kernel imports them into every cell, an app's implicit usings do not.\n");
        foreach (var directive in usings.Append(Runtime).Distinct()) app.Append(directive).Append('\n');
        app.Append($"\nStart({SymbolDisplay.FormatLiteral(Path.GetFileNameWithoutExtension(notebookPath), quote: true)});\n\n");
        foreach (var segment in segments) app.Append(segment).Append("\n\n");
        app.Append("End();\n");
        foreach (var type in types) app.Append('\n').Append(type).Append('\n');
        return app.ToString();
    }

    // Each line a `//` comment, then the marker whose call prints it and puts it on the page.
    private static string MarkdownSegment(string markdown) =>
        string.Join('\n', TrimBlankLines(markdown).Select(l => l.Length == 0 ? "//" : "// " + l).Append("Markdown();"));

    // #r of the kernel → #: directive of a file-based app: a kit project's built DLL (<root>/artifacts/bin/<Name>/
    // <config>/<Name>.dll) becomes its project (<root>/lib/<Name>/<Name>.csproj), "nuget: Name, Version" a package.
    private static string Directive(CellReference reference, string where, string notebookFolder, string appFolder)
    {
        const string NuGet = "nuget:";
        if (reference.Target.StartsWith(NuGet, StringComparison.OrdinalIgnoreCase))
        {
            var package = reference.Target[NuGet.Length..].Split(',', StringSplitOptions.TrimEntries);
            return $"#:package {package[0]}@{(package.Length > 1 ? package[1] : "*")}";   // the kernel takes the latest without a version
        }
        var dll = new FileInfo(Path.GetFullPath(Path.Combine(notebookFolder, reference.Target)));
        var name = Path.GetFileNameWithoutExtension(dll.Name);
        var projectFolder = dll.Directory?.Parent;
        if (dll.Extension == ".dll" && projectFolder?.Name == name && projectFolder.Parent is { Name: "bin", Parent: { Name: "artifacts", Parent: { } root } })
        {
            var project = Path.Combine(root.FullName, "lib", name, name + ".csproj");
            if (File.Exists(project)) return $"#:project {Relative(appFolder, project)}";
        }
        throw new NotebookException($"{where}:{reference.Line}: #r \"{reference.Target}\" is neither a kit project's build " +
                                    "(artifacts/bin/<Name>/<config>/<Name>.dll of lib/<Name>/<Name>.csproj) nor a nuget: package");
    }

    // Research.Core of the kit this exporter was built from: <root>/artifacts/bin/<project>/<config>/ holds it.
    private static string OwnCore(string notebookPath)
    {
        var built = new FileInfo(typeof(AppExport).Assembly.Location).Directory;
        var project = built?.Parent?.Parent?.Parent is { Name: "artifacts", Parent: { } root } ? Path.Combine(root.FullName, "lib", "Research.Core", "Research.Core.csproj") : null;
        return project is not null && File.Exists(project) ? project
            : throw new NotebookException($"{notebookPath}: an app runs on the kit's Research.Core (its NotebookApp runtime), and this notebook " +
                                          "does not reference it: add the kit's setup cell, #r \"<kit>/artifacts/bin/Research.Core/debug/Research.Core.dll\"");
    }

    // Forward slashes: what #: directives and comments read the same on every OS.
    private static string Relative(string from, string path) => Path.GetRelativePath(from, Path.GetFullPath(path)).Replace('\\', '/');

    private static IEnumerable<string> TrimBlankLines(string text)
    {
        var lines = text.ReplaceLineEndings("\n").Split('\n');
        var first = Array.FindIndex(lines, l => l.Trim().Length > 0);
        return first < 0 ? [] : lines[first..(Array.FindLastIndex(lines, l => l.Trim().Length > 0) + 1)];
    }
}

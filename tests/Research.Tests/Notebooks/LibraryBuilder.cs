using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Research.Tests.Notebooks;

/// <summary>Compiles a small library for a notebook to <c>#r</c>, as a project's build output would be.</summary>
internal static class LibraryBuilder
{
    public static string Build(string folder, string name, string source, params Type[] uses)
    {
        var framework = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        var references = new[] { "System.Private.CoreLib.dll", "System.Runtime.dll", "System.Linq.dll" }
            .Select(f => Path.Combine(framework, f))
            .Concat(uses.Select(t => t.Assembly.Location))
            .Select(p => MetadataReference.CreateFromFile(p));
        var compilation = CSharpCompilation.Create(name, [CSharpSyntaxTree.ParseText(source)], references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary));
        Directory.CreateDirectory(folder);
        var path = Path.Combine(folder, name + ".dll");
        var emitted = compilation.Emit(path);
        if (!emitted.Success)
            throw new InvalidOperationException(string.Join("\n", emitted.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error)));
        return path;
    }
}

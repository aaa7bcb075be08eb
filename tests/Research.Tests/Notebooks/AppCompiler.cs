using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Xunit;

namespace Research.Tests.Notebooks;

/// <summary>
/// Compiles an exported app in this process as <c>dotnet build app.cs</c> would, in a fraction of its time (a real
/// build is about 6 s per app here): the same references (the framework, and Research.Core with its dependencies, all
/// among this process's trusted platform assemblies), the implicit global usings a file-based app gets, and the
/// compiler's file-based-program mode, which accepts the <c>#:</c> directives.
/// </summary>
internal static class AppCompiler
{
    // Microsoft.NET.Sdk's implicit usings (ImplicitUsings=enable), which file-based apps turn on.
    private static readonly string[] ImplicitUsings =
        ["System", "System.Collections.Generic", "System.IO", "System.Linq", "System.Net.Http", "System.Threading", "System.Threading.Tasks"];

    private static readonly CSharpParseOptions Program = new CSharpParseOptions(LanguageVersion.Latest)
        .WithFeatures([new("FileBasedProgram", "true")]);

    private static readonly Lazy<MetadataReference[]> References = new(() =>
    {
        var framework = Path.GetDirectoryName(typeof(object).Assembly.Location);
        // What a #:project of Research.Core brings: its build output (CopyLocalLockFileAssemblies puts every dependency there).
        var core = Directory.GetFiles(Path.GetDirectoryName(TestPaths.Built("Research.Core", "Research.Core.dll"))!, "*.dll")
            .Select(Path.GetFileName).ToHashSet(StringComparer.Ordinal);
        return ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(p => Path.GetDirectoryName(p) == framework || core.Contains(Path.GetFileName(p)))
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToArray();
    });

    /// <summary>The compile errors of the app at <paramref name="path"/>, each as <c>file(line,col): error ID: message</c>.</summary>
    public static IReadOnlyList<string> Errors(string path)
    {
        var app = CSharpSyntaxTree.ParseText(File.ReadAllText(path), Program, path);
        var usings = CSharpSyntaxTree.ParseText(string.Concat(ImplicitUsings.Select(n => $"global using global::{n};\n")), Program);
        var compilation = CSharpCompilation.Create(Path.GetFileNameWithoutExtension(path), [usings, app], References.Value,
            new CSharpCompilationOptions(OutputKind.ConsoleApplication, nullableContextOptions: NullableContextOptions.Enable));
        return compilation.GetDiagnostics(TestContext.Current.CancellationToken)
            .Where(d => d.Severity == DiagnosticSeverity.Error).Select(d => d.ToString()).ToList();
    }
}

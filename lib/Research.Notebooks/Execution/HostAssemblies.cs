using System.Collections.Concurrent;
using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.FSharp.Core;
using Plotly.NET;
using Research.Charts;
using TorchSharp;

namespace Research.Notebooks.Execution;

/// <summary>
/// The assemblies a notebook compiles against: the .NET framework plus everything the host has loaded, so that
/// cells see the very same TorchSharp and Plotly.NET types as the runner (a second copy would make a chart or a
/// tensor from a cell a stranger to the host).
/// </summary>
internal static class HostAssemblies
{
    private static readonly ConcurrentDictionary<string, MetadataReference> Cache = new(StringComparer.Ordinal);

    // The libraries the kit promises to notebooks; naming a type of each makes sure it is loaded.
    private static readonly Type[] Provided =
    [
        typeof(ChartHtml), typeof(torch), typeof(GenericChart), typeof(Plotly.NET.CSharp.Chart),
        typeof(MathNet.Numerics.Control), typeof(FSharpOption<>), typeof(NotebookGlobals),
    ];

    private static readonly Lazy<IReadOnlyList<string>> FrameworkAndApp = new(() =>
        (AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES") as string ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries));

    /// <summary>References for a new session: framework assemblies and every loaded assembly that has a file.</summary>
    public static IReadOnlyList<MetadataReference> References()
    {
        GC.KeepAlive(Provided);
        var runtimeDir = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        var byName = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var path in FrameworkAndApp.Value.Where(p => Path.GetDirectoryName(p) == runtimeDir))
            byName.TryAdd(Path.GetFileNameWithoutExtension(path), path);
        foreach (var assembly in Loaded())
            byName.TryAdd(assembly.GetName().Name!, assembly.Location);
        return [.. byName.Values.Select(Reference)];
    }

    public static MetadataReference Reference(string path) => Cache.GetOrAdd(path, p => MetadataReference.CreateFromFile(p));

    /// <summary>The file of the host's copy of the assembly named <paramref name="simpleName"/>, if it has one.</summary>
    public static string? Find(string simpleName)
    {
        GC.KeepAlive(Provided);
        var loaded = Loaded().FirstOrDefault(a => string.Equals(a.GetName().Name, simpleName, StringComparison.OrdinalIgnoreCase));
        if (loaded is not null) return loaded.Location;
        // Not loaded yet but part of the application: the runtime would load exactly this file by name.
        return FrameworkAndApp.Value.FirstOrDefault(p =>
            string.Equals(Path.GetFileNameWithoutExtension(p), simpleName, StringComparison.OrdinalIgnoreCase));
    }

    private static IEnumerable<Assembly> Loaded() =>
        AppDomain.CurrentDomain.GetAssemblies().Where(a => !a.IsDynamic && !string.IsNullOrEmpty(a.Location));
}

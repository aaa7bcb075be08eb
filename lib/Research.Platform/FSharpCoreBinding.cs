using System.Reflection;
using System.Runtime.Loader;

namespace Research.Platform;

/// <summary>
/// Lets Plotly.NET run inside a host that already loaded an older FSharp.Core of the same major version.
/// </summary>
/// <remarks>
/// The .NET Interactive kernel (1.0.712001) loads FSharp.Core 10.0.0.0 into the default load context at start-up,
/// for its F# kernel. Plotly.NET 6 and DynamicObj 8 are compiled against FSharp.Core 10.1.0.0. A load context
/// holds one assembly per name, and the runtime will not hand a 10.0 assembly to a reference that asks for 10.1,
/// so the first chart fails with "Could not load file or assembly 'FSharp.Core, Version=10.1.0.0'". FSharp.Core
/// keeps binary compatibility within a major version, and what Plotly.NET calls exists in 10.0 (every chart of
/// the kit is drawn this way in the tests), so the kit answers such a request with the FSharp.Core already loaded.
/// It answers only FSharp.Core, only when the runtime failed to bind it, and only with the same major version;
/// anywhere the right FSharp.Core is found first (the CLI, the tests) the handler is never asked.
/// <c>RESEARCH_FSHARP_CORE_FIX=0</c> turns it off.
/// </remarks>
public static class FSharpCoreBinding
{
    private const string Name = "FSharp.Core";
    private static int installed;

    /// <summary>The requested and the supplied version, once the handler has answered a request; else null.</summary>
    public static (Version Requested, Version Supplied)? LastRedirect { get; private set; }

    /// <summary>Whether the handler is installed (false when turned off by <c>RESEARCH_FSHARP_CORE_FIX=0</c>).</summary>
    public static bool IsInstalled => Volatile.Read(ref installed) == 1;

    /// <summary>Installs the handler once per process. The kit's module initializer calls this.</summary>
    public static void Install()
    {
        if (Environment.GetEnvironmentVariable("RESEARCH_FSHARP_CORE_FIX") == "0") return;
        if (Interlocked.Exchange(ref installed, 1) == 1) return;
        AssemblyLoadContext.Default.Resolving += Resolve;
    }

    /// <summary>The answer for one failed bind: a loaded FSharp.Core of the requested major version, or null.</summary>
    public static Assembly? Resolve(AssemblyLoadContext context, AssemblyName requested)
    {
        if (requested.Name != Name || requested.Version is not { } wanted) return null;
        var candidate = AppDomain.CurrentDomain.GetAssemblies()
            .Where(a => a.GetName().Name == Name && a.GetName().Version?.Major == wanted.Major)
            .MaxBy(a => a.GetName().Version);
        if (candidate is null) return null;
        LastRedirect = (wanted, candidate.GetName().Version!);
        return candidate;
    }
}

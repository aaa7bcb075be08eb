using System.Runtime.CompilerServices;
using Research.Interactive;
using Research.Platform;
using TorchSharp;

namespace Research;

/// <summary>Entry point for notebooks: one call that loads TorchSharp and picks the device.</summary>
public static class Kit
{
    // Any program that touches the kit gets TorchSharp's native fix (Research.Platform) before it can reach TorchSharp
    // through the kit: a notebook may `#r` this library and call torch before Setup.
#pragma warning disable CA2255 // a library module initializer is the point: the kit is unusable without torch
    [ModuleInitializer]
    internal static void LoadTorch() => TorchRuntime.EnsureLoaded();
#pragma warning restore CA2255

    /// <summary>
    /// Loads TorchSharp (with the Linux libstdc++ fix where needed) and returns the device named
    /// <paramref name="device"/>: "cpu" (default), "cuda" or "cuda:N" (needs a CUDA build; see environment/README.md).
    /// </summary>
    /// <remarks>In a .NET Interactive kernel it also registers the kit's chart formatter (<see cref="KernelIntegration"/>).</remarks>
    public static torch.Device Setup(string device = "cpu")
    {
        KernelIntegration.Attach();
        return Devices.Parse(device);   // Parse loads TorchSharp first
    }

    /// <summary>
    /// Where notebooks keep expensive intermediate results (a trained teacher) between runs: <c>artifacts/cache</c>
    /// of the repository whose build this library was loaded from, else <c>research-kit/cache</c> in the temp folder.
    /// Found from the library's own location, so it does not depend on the kernel's working directory.
    /// </summary>
    public static string CacheFolder()
    {
        // artifacts/bin/Research.Core/<configuration>/Research.Core.dll → artifacts/cache
        var library = new DirectoryInfo(AppContext.BaseDirectory);
        var location = typeof(Kit).Assembly.Location;
        if (location.Length > 0) library = new FileInfo(location).Directory!;
        var artifacts = library.Parent?.Parent?.Parent;
        return artifacts is { Name: "artifacts" }
            ? Path.Combine(artifacts.FullName, "cache")
            : Path.Combine(Path.GetTempPath(), "research-kit", "cache");
    }
}

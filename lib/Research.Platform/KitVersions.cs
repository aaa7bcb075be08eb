using System.Reflection;
using System.Runtime.InteropServices;
using TorchSharp;

namespace Research.Platform;

/// <summary>
/// The versions besides a config that decide a run's numbers: the kit's commit, TorchSharp, libtorch and .NET. The one
/// source for sweep hashes, cache keys and what <c>result.json</c> records.
/// </summary>
public sealed record KitVersions(string KitCommit, string TorchSharp, string LibTorch, string DotNet)
{
    /// <summary>This process's versions (loads TorchSharp).</summary>
    public static KitVersions Current()
    {
        TorchRuntime.EnsureLoaded();
        return new KitVersions(KitCommitOf(typeof(KitVersions).Assembly),
            typeof(torch).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "?",
            torch.__version__, RuntimeInformation.FrameworkDescription);
    }

    // The SDK stamps the commit into the informational version ("1.0.0+<sha>") when the build runs in a git clone.
    private static string KitCommitOf(Assembly assembly)
    {
        var version = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "";
        int plus = version.IndexOf('+');
        return plus >= 0 && plus < version.Length - 1 ? version[(plus + 1)..] : "unknown";
    }
}

/// <summary>Where a run ran, as <c>result.json</c> records it: libtorch's threads, the versions and the CPU.</summary>
public sealed record RunEnvironment(int Threads, KitVersions Versions, string Cpu, string Os)
{
    /// <summary>This process's environment (loads TorchSharp).</summary>
    public static RunEnvironment Current() =>
        new(torch.get_num_threads(), KitVersions.Current(), CpuModel(), RuntimeInformation.OSDescription);

    /// <summary>The CPU's name: /proc/cpuinfo's "model name" on Linux, else the architecture (.NET has no portable name).</summary>
    public static string CpuModel()
    {
        try
        {
            if (OperatingSystem.IsLinux() && File.Exists("/proc/cpuinfo"))
                foreach (var line in File.ReadLines("/proc/cpuinfo"))
                    if (line.StartsWith("model name", StringComparison.Ordinal) && line.IndexOf(':') is > 0 and var colon)
                        return line[(colon + 1)..].Trim();
        }
        catch (IOException) { /* fall through to the architecture */ }
        return $"{RuntimeInformation.ProcessArchitecture}, {Environment.ProcessorCount} logical cores";
    }
}

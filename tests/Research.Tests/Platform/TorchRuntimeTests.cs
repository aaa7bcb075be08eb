using System.Text.Json;
using Research.Platform;
using Xunit;

namespace Research.Tests.Platform;

/// <summary>
/// The native load as a user's program meets it: each test starts a fresh process (the probe), because a
/// process can load libtorch only once and the test host has already done so.
/// </summary>
public sealed class TorchRuntimeTests
{
    private static readonly string Probe = TestPaths.Built("Research.NativeProbe", "Research.NativeProbe.dll");

    private static (int Exit, string Out, string Err) RunProbe(string mode) => TestPaths.RunDotnet(Probe, [mode]);

    private static JsonElement Status(string output) => JsonDocument.Parse(output.Trim().Split('\n')[^1]).RootElement;

    [Fact]
    public void A_fresh_process_loads_TorchSharp_and_multiplies_correctly()
    {
        var (exit, output, error) = RunProbe("status");

        Assert.True(exit == 0, $"probe failed ({exit}): {error}");
        // [[1,2],[3,4]]² = [[7,10],[15,22]], by hand.
        Assert.Equal([7f, 10f, 15f, 22f], Status(output).GetProperty("product").EnumerateArray().Select(e => e.GetSingle()));
    }

    [Fact]
    public void The_fix_is_active_exactly_when_the_unpatched_library_cannot_load()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "the libstdc++ fix exists only on Linux");
        // Oracle independent of the fix's own check: ask the dynamic loader about the original file.
        var (originalExit, loaderAnswer, _) = RunProbe("load-original");
        var (_, output, _) = RunProbe("status");

        bool fixActive = Status(output).GetProperty("FixActive").GetBoolean();
        Assert.Equal(originalExit != 0, fixActive);
        if (fixActive) Assert.Contains(TorchRuntime.MissingVersion, loaderAnswer);
    }

    [Fact]
    public void Libtorch_warnings_still_reach_stderr()
    {
        // libtorch prints TORCH_WARN through std::cerr. With the patched copy the standard streams are set up by
        // libc10/libtorch_cpu, not by a GCC 13 libstdc++: if that were broken the warning would vanish or crash.
        var (exit, _, error) = RunProbe("warn");

        Assert.Equal(0, exit);
        Assert.Contains("Use of masked_fill_ on expanded tensors is deprecated", error);
    }

    [Fact]
    public void The_patched_copy_lives_outside_the_NuGet_cache_and_differs_only_in_the_weak_flag()
    {
        var (_, output, _) = RunProbe("status");
        var status = Status(output);
        Assert.SkipUnless(status.GetProperty("FixActive").GetBoolean(), "this machine's libstdc++ needs no fix");

        var patched = status.GetProperty("PatchedLibrary").GetString()!;
        var nugetRoot = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        Assert.False(Path.GetFullPath(patched).StartsWith(Path.GetFullPath(nugetRoot), StringComparison.Ordinal));

        var cached = Path.Combine(nugetRoot, "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        var original = File.ReadAllBytes(cached);
        var copy = File.ReadAllBytes(patched);
        Assert.Contains(ElfVersionNeeds.Read(original), n => n.Version == TorchRuntime.MissingVersion && !n.IsWeak);
        Assert.Contains(ElfVersionNeeds.Read(copy), n => n.Version == TorchRuntime.MissingVersion && n.IsWeak);
        Assert.Equal(original.Length, copy.Length);
        Assert.Equal(1, Enumerable.Range(0, original.Length).Count(i => original[i] != copy[i]));
    }

    [Fact]
    public void An_unwritable_cache_falls_back_to_the_temp_folder()
    {
        var blocker = Path.Combine(TestPaths.TempFolder(), "a-file");
        File.WriteAllText(blocker, "");   // nothing can be created below a regular file, not even by root
        var unwritable = new Dictionary<string, string>
        {
            ["RESEARCH_NATIVE_CACHE"] = Path.Combine(blocker, "cache"),
            ["XDG_CACHE_HOME"] = Path.Combine(blocker, "xdg"),
            ["HOME"] = blocker,
        };

        var (exit, output, error) = TestPaths.RunDotnet(Probe, ["status"], unwritable);

        Assert.True(exit == 0, error);
        var status = Status(output);
        if (status.GetProperty("FixActive").GetBoolean())
            Assert.StartsWith(Path.GetFullPath(Path.GetTempPath()), status.GetProperty("PatchedLibrary").GetString());
    }
}

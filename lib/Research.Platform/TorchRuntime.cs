using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using TorchSharp;

namespace Research.Platform;

/// <summary>What <see cref="TorchRuntime.EnsureLoaded"/> found and did.</summary>
/// <param name="FixActive">True when the kit loaded its patched copy of libLibTorchSharp.so.</param>
/// <param name="Detail">One sentence saying why the fix is or is not active.</param>
/// <param name="OriginalLibrary">The libLibTorchSharp.so TorchSharp would load, when found.</param>
/// <param name="PatchedLibrary">The patched copy that was loaded instead, when the fix is active.</param>
public sealed record TorchRuntimeStatus(bool FixActive, string Detail, string? OriginalLibrary, string? PatchedLibrary);

/// <summary>
/// Makes TorchSharp's native library load on Linux systems whose libstdc++ is older than the one it was built with.
/// </summary>
/// <remarks>
/// TorchSharp 0.107's libLibTorchSharp.so was compiled with GCC 13 headers. Their &lt;iostream&gt; adds a reference
/// to <c>std::ios_base_library_init()</c> at version GLIBCXX_3.4.32, which only tells the linker to use a libstdc++
/// that initialises the standard streams itself. No relocation uses that symbol, so nothing calls it. On an older
/// libstdc++ (Debian 12 stops at GLIBCXX_3.4.30) the loader still refuses the file because the version is missing.
/// libtorch's own libraries (libc10, libtorch_cpu) are built with older headers and construct
/// <c>std::ios_base::Init</c> themselves, so std::cerr works before libLibTorchSharp runs.
/// The fix: write a copy of the file whose need for that version is marked weak (one byte), to a cache folder of the
/// kit's own (never the NuGet cache), preload its libtorch dependencies from the original folder, load the copy, and
/// point TorchSharp's P/Invokes at it. Where libstdc++ has the version, or on macOS and Windows, nothing changes.
/// Set RESEARCH_NATIVE_FIX=0 to turn the fix off.
/// </remarks>
public static class TorchRuntime
{
    /// <summary>The libstdc++ symbol version GCC 13 introduced (std::ios_base_library_init).</summary>
    public const string MissingVersion = "GLIBCXX_3.4.32";

    private const string LibraryFile = "libLibTorchSharp.so";
    private static readonly Lazy<TorchRuntimeStatus> Loaded = new(Load, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>Applies the fix once per process if it is needed. Call before the first TorchSharp call.</summary>
    public static TorchRuntimeStatus EnsureLoaded() => Loaded.Value;

    // Whatever touches this assembly gets the fix before it can reach TorchSharp (Research.Core touches it from its own initializer).
#pragma warning disable CA2255 // a library module initializer is the point: the kit is unusable without torch
    [ModuleInitializer]
    internal static void OnLoad()
    {
        NativeAllocator.Tune();
        _ = Loaded.Value;
    }
#pragma warning restore CA2255

    private static TorchRuntimeStatus Load()
    {
        try { return LoadCore(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException or DllNotFoundException or BadImageFormatException)
        {
            return new TorchRuntimeStatus(false, $"compatibility fix failed: {e.Message}", null, null);
        }
    }

    private static TorchRuntimeStatus LoadCore()
    {
        if (!OperatingSystem.IsLinux())
            return new(false, "not needed: not Linux", null, null);
        if (Environment.GetEnvironmentVariable("RESEARCH_NATIVE_FIX") == "0")
            return new(false, "disabled by RESEARCH_NATIVE_FIX=0", null, null);
        var original = FindTorchSharpLibrary();
        if (original is null)
            return new(false, $"not needed: {LibraryFile} not found beside TorchSharp (a CUDA or custom install?)", null, null);

        var bytes = File.ReadAllBytes(original);
        var need = ElfVersionNeeds.Read(bytes).FirstOrDefault(n => n.Version == MissingVersion && !n.IsWeak);
        if (need is null)
            return new(false, $"not needed: {LibraryFile} does not require {MissingVersion}", original, null);
        var symbols = ElfVersionNeeds.SymbolsOfVersion(bytes, need.Index);
        if (symbols.All(s => SystemLibStdCxxHas(s, MissingVersion)))
            return new(false, $"not needed: the system libstdc++ provides {MissingVersion}", original, null);
        int relocations = ElfVersionNeeds.RelocationsAgainstVersion(bytes, need.Index);
        if (relocations > 0)
            return new(false, $"cannot fix: {relocations} relocation(s) use {MissingVersion} symbols ({string.Join(", ", symbols)}); " +
                              "install a libstdc++ from GCC 13 or newer", original, null);

        var patched = WritePatchedCopy(bytes, original);
        var folder = Path.GetDirectoryName(original)!;
        // The copy lives elsewhere, so its $ORIGIN run path no longer finds libtorch: load the dependencies
        // by full path first; the loader then matches the copy's DT_NEEDED entries by soname.
        foreach (var dependency in new[] { "libc10.so", "libtorch_cpu.so", "libtorch.so" })
        {
            var path = Path.Combine(folder, dependency);
            if (File.Exists(path)) NativeLibrary.Load(path);
        }
        var handle = NativeLibrary.Load(patched);
        try
        {
            NativeLibrary.SetDllImportResolver(typeof(torch).Assembly,
                (name, _, _) => name == "LibTorchSharp" ? handle : IntPtr.Zero);
        }
        catch (InvalidOperationException)
        {
            // Someone set a resolver already; by-name loads still find the copy through its soname.
        }
        return new(true, $"active: {LibraryFile} needs {MissingVersion} only for {string.Join(", ", symbols)} (no relocations); " +
                         "loaded a copy with that need marked weak", original, patched);
    }

    private static string? FindTorchSharpLibrary()
    {
        var candidates = new List<string>();
        if (AppContext.GetData("NATIVE_DLL_SEARCH_DIRECTORIES") is string dirs)
            candidates.AddRange(dirs.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries));
        var torchSharpDir = Path.GetDirectoryName(typeof(torch).Assembly.Location);
        if (!string.IsNullOrEmpty(torchSharpDir))
        {
            candidates.Add(torchSharpDir);
            candidates.Add(Path.Combine(torchSharpDir, "runtimes", "linux-x64", "native"));
            // Loaded straight from the NuGet cache (a notebook's #r "nuget: ..."): <pkg>/lib/net8.0/TorchSharp.dll.
            candidates.Add(Path.Combine(torchSharpDir, "..", "..", "runtimes", "linux-x64", "native"));
        }
        return candidates.Select(d => Path.GetFullPath(Path.Combine(d, LibraryFile))).FirstOrDefault(File.Exists);
    }

    private static string WritePatchedCopy(byte[] original, string originalPath)
    {
        var hash = Convert.ToHexString(SHA256.HashData(original))[..16].ToLowerInvariant();
        var patched = ElfVersionNeeds.WithWeakNeed(original, MissingVersion);
        var failures = new List<string>();
        // A read-only home (some CI runners, shared machines) must not stop the kit: try each cache root in turn.
        foreach (var root in CacheRoots())
        {
            var folder = Path.Combine(root, "research-kit", "native", hash);
            var target = Path.Combine(folder, LibraryFile);
            try
            {
                if (File.Exists(target) && new FileInfo(target).Length == patched.Length) return target;
                Directory.CreateDirectory(folder);
                // Write then rename, so a concurrent process never loads a half-written file.
                var temp = Path.Combine(folder, $".{LibraryFile}.{Environment.ProcessId}.tmp");
                File.WriteAllBytes(temp, patched);
                File.Move(temp, target, overwrite: true);
                File.WriteAllText(Path.Combine(folder, "SOURCE.txt"),
                    $"Copy of {originalPath} with its {MissingVersion} need marked weak (see Research.Platform.TorchRuntime).\n");
                return target;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                failures.Add($"{folder}: {e.Message}");
            }
        }
        throw new IOException($"no writable cache folder for the patched {LibraryFile}: {string.Join("; ", failures)}");
    }

    // RESEARCH_NATIVE_CACHE, then XDG_CACHE_HOME, then ~/.cache, then the temp folder.
    private static IEnumerable<string> CacheRoots()
    {
        foreach (var variable in new[] { "RESEARCH_NATIVE_CACHE", "XDG_CACHE_HOME" })
            if (Environment.GetEnvironmentVariable(variable) is { Length: > 0 } dir) yield return dir;
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        if (!string.IsNullOrEmpty(home)) yield return Path.Combine(home, ".cache");
        yield return Path.GetTempPath();
    }

    /// <summary>Whether the libstdc++.so.6 this process would load defines <paramref name="symbol"/> at <paramref name="version"/>.</summary>
    public static bool SystemLibStdCxxHas(string symbol, string version)
    {
        if (!NativeLibrary.TryLoad("libstdc++.so.6", out var lib)) return false;
        try { return dlvsym(lib, symbol, version) != IntPtr.Zero; }
        catch (EntryPointNotFoundException) { return false; }
    }

    [DllImport("libc.so.6", CharSet = CharSet.Ansi, BestFitMapping = false)]
    private static extern IntPtr dlvsym(IntPtr handle, string symbol, string version);
}

using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Research.Notebooks.Kernel;

/// <summary>
/// The .NET Interactive kernel the kit runs notebooks in: the <c>Microsoft.dotnet-interactive</c> tool pinned by the
/// kit's local tool manifest (<c>.config/dotnet-tools.json</c>), restored on first use, else a global install.
/// </summary>
/// <param name="Command">The program and the arguments that come before the kernel's own (<c>stdio</c>, <c>jupyter</c>).</param>
/// <param name="WorkingDirectory">Where the command must start for <c>dotnet tool run</c> to find the manifest.</param>
/// <param name="PinnedVersion">The version the manifest pins, or null for a global install.</param>
public sealed record KernelTool(IReadOnlyList<string> Command, string WorkingDirectory, string? PinnedVersion)
{
    /// <summary>The tool's package id, as in the manifest.</summary>
    public const string PackageId = "microsoft.dotnet-interactive";

    private static readonly SemaphoreSlim RestoreOnce = new(1, 1);
    private static readonly HashSet<string> Restored = new(StringComparer.Ordinal);

    /// <summary>
    /// Finds the kernel: the first manifest naming the tool above <paramref name="startFolders"/> (in order), then above
    /// the kit's own build output, then <c>dotnet-interactive</c> on the PATH.
    /// </summary>
    /// <exception cref="NotebookException">No kernel: the message says how to install it.</exception>
    public static KernelTool Find(params string[] startFolders)
    {
        var kitFolder = Path.GetDirectoryName(typeof(KernelTool).Assembly.Location);
        foreach (var start in startFolders.Append(Environment.CurrentDirectory).Append(kitFolder))
        {
            if (string.IsNullOrEmpty(start)) continue;
            for (var dir = new DirectoryInfo(Path.GetFullPath(start)); dir is not null; dir = dir.Parent)
            {
                var manifest = Path.Combine(dir.FullName, ".config", "dotnet-tools.json");
                if (File.Exists(manifest) && PinnedIn(manifest) is { } version)
                    return new KernelTool(["dotnet", "tool", "run", "dotnet-interactive", "--"], dir.FullName, version);
            }
        }
        if (OnPath("dotnet-interactive") is { } global)
            return new KernelTool([global], Environment.CurrentDirectory, null);
        throw new NotebookException(
            "the .NET Interactive kernel is not installed: run `dotnet tool restore` in the kit's folder " +
            "(its .config/dotnet-tools.json pins Microsoft.dotnet-interactive), or `dotnet tool install -g Microsoft.dotnet-interactive`");
    }

    /// <summary>
    /// Runs <c>dotnet tool restore</c> once per process for a manifest-pinned kernel (a no-op when it is already
    /// restored), so a fresh clone needs no separate install step.
    /// </summary>
    /// <exception cref="NotebookException">The restore failed; the message carries its output.</exception>
    public async Task EnsureRestoredAsync(CancellationToken ct)
    {
        if (PinnedVersion is null) return;
        await RestoreOnce.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (Restored.Contains(WorkingDirectory)) return;
            var (exit, output) = await RunAsync(["dotnet", "tool", "restore"], ct).ConfigureAwait(false);
            if (exit != 0)
                throw new NotebookException($"the .NET Interactive kernel could not be restored (`dotnet tool restore` in {WorkingDirectory} exited {exit}): {output.Trim()}");
            Restored.Add(WorkingDirectory);
        }
        finally { RestoreOnce.Release(); }
    }

    /// <summary>The kernel's version (<c>--version</c>), restoring it first if needed.</summary>
    public async Task<string> VersionAsync(CancellationToken ct = default)
    {
        await EnsureRestoredAsync(ct).ConfigureAwait(false);
        var (exit, output) = await RunAsync([.. Command, "--version"], ct).ConfigureAwait(false);
        if (exit != 0) throw new NotebookException($"the .NET Interactive kernel did not start (`--version` exited {exit}): {output.Trim()}");
        return output.Trim().Split('\n')[^1].Trim();
    }

    /// <summary>A start description for the kernel with <paramref name="arguments"/> after <see cref="Command"/>.</summary>
    public ProcessStartInfo StartInfo(IEnumerable<string> arguments) => Describe(Command.Concat(arguments), stdin: true);

    // One place for how the kit starts the kernel and its helpers: in the manifest's folder, output captured.
    private ProcessStartInfo Describe(IEnumerable<string> command, bool stdin)
    {
        var parts = command.ToList();
        var info = new ProcessStartInfo(parts[0])
        {
            WorkingDirectory = WorkingDirectory,
            RedirectStandardInput = stdin,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in parts.Skip(1)) info.ArgumentList.Add(a);
        // No first-run banner and no telemetry from a headless run.
        info.Environment["DOTNET_INTERACTIVE_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        return info;
    }

    private async Task<(int Exit, string Output)> RunAsync(IReadOnlyList<string> command, CancellationToken ct)
    {
        using var process = Process.Start(Describe(command, stdin: false)) ?? throw new NotebookException($"cannot start {command[0]}");
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct).ConfigureAwait(false);
        return (process.ExitCode, await stdout.ConfigureAwait(false) + await stderr.ConfigureAwait(false));
    }

    private static string? PinnedIn(string manifest)
    {
        try
        {
            var tools = JsonNode.Parse(File.ReadAllText(manifest))?["tools"]?.AsObject();
            var entry = tools?.FirstOrDefault(t => string.Equals(t.Key, PackageId, StringComparison.OrdinalIgnoreCase)).Value;
            return entry?["version"]?.GetValue<string>();
        }
        catch (Exception e) when (e is IOException or System.Text.Json.JsonException or InvalidOperationException)
        {
            return null;   // someone else's malformed manifest is not ours to report; keep looking
        }
    }

    private static string? OnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .SelectMany(d => new[] { Path.Combine(d, program), Path.Combine(d, program + ".exe") })
            .FirstOrDefault(File.Exists);
}

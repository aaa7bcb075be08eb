using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Research.Notebooks.Kernel;

/// <summary>One of the ways to run the kit's notebooks, and whether it works on this machine.</summary>
/// <param name="Name">polyglot, jupyter or app.</param>
/// <param name="Works">Whether what the route needs is here.</param>
/// <param name="Detail">What was found, what is missing, or what to watch out for.</param>
public sealed record NotebookRoute(string Name, bool Works, string Detail);

/// <summary>
/// The three routes to the notebooks (README, "Which route?"): VS Code Polyglot on the pinned kernel over stdio,
/// Jupyter with the kit's kernelspec, and C# file-based apps exported from the notebooks, which need no kernel.
/// </summary>
public static partial class NotebookRoutes
{
    /// <summary>The kernelspec <c>environment/install-kernel.sh</c> registers; the kit's notebooks name it.</summary>
    public const string KitKernelspec = ".net-csharp-research";

    /// <summary>Microsoft's deprecation of the kernel and its VS Code extension, as the kit reports it.</summary>
    public const string Deprecation =
        "deprecated by Microsoft: Polyglot Notebooks on 2026-03-27, .NET Interactive on 2026-04-24; no fixes, security fixes included, " +
        "for anything reported after those dates (https://github.com/dotnet/interactive/issues/4163)";

    /// <summary>Checks each route; <paramref name="kernel"/> is the stdio probe's report (<see cref="KernelProbe"/>).</summary>
    public static async Task<IReadOnlyList<NotebookRoute>> CheckAsync(KernelReport kernel, CancellationToken ct = default) =>
    [
        new("polyglot", kernel.Starts, kernel.Starts
            ? $"the pinned kernel starts over stdio, as the deprecated VS Code extension starts it ({kernel.Detail})"
            : $"the kernel does not start: {kernel.Detail}"),
        await JupyterAsync(ct).ConfigureAwait(false),
        await AppsAsync(ct).ConfigureAwait(false),
    ];

    private static async Task<NotebookRoute> JupyterAsync(CancellationToken ct)
    {
        var (exit, output) = await RunAsync("jupyter", ["kernelspec", "list", "--json"], ct).ConfigureAwait(false);
        if (exit is null) return new("jupyter", false, "jupyter not found (Debian/Ubuntu: apt-get install jupyter-nbconvert python3-nbclient jupyter-client; then environment/install-kernel.sh)");
        if (exit != 0 || JsonNode.Parse(output)?["kernelspecs"] is not JsonObject specs)
            return new("jupyter", false, $"`jupyter kernelspec list` failed: {output.Trim()}");
        // Kernelspecs `dotnet interactive jupyter install` wrote: they serve the kernel's HTTP API on every interface.
        var stock = specs.Select(s => s.Key).Where(n => n.StartsWith(".net-", StringComparison.Ordinal) && n != KitKernelspec).Order().ToList();
        var warning = stock.Count == 0 ? "" :
            $"; also installed: {string.Join(", ", stock)}, which serve the kernel's HTTP API (code execution, no authentication) on every " +
            $"network interface: `jupyter kernelspec remove {string.Join(' ', stock)}` unless you need them";
        if (specs[KitKernelspec]?["resource_dir"]?.GetValue<string>() is not { } folder)
            return new("jupyter", false, $"the kit's kernelspec {KitKernelspec} is not installed: run environment/install-kernel.sh{warning}");
        var missing = KernelOf(folder, specs[KitKernelspec]!["spec"]?["argv"]?.AsArray());
        return missing is null
            ? new("jupyter", true, $"{KitKernelspec} in {folder} starts the pinned kernel with its HTTP API off the network{warning}")
            : new("jupyter", false, $"{KitKernelspec} points to {missing}, which is gone: run environment/install-kernel.sh again{warning}");
    }

    // The kernel DLL the kernelspec starts, if it no longer exists (a cleared NuGet cache); else null.
    private static string? KernelOf(string folder, JsonArray? argv)
    {
        var launcher = Path.Combine(folder, "launch.sh");
        var kernel = File.Exists(launcher)
            ? KernelLine().Match(File.ReadAllText(launcher)) is { Success: true } m ? m.Groups[1].Value : null
            : argv?.Select(a => a?.GetValue<string>()).FirstOrDefault(a => a?.EndsWith(".dll", StringComparison.OrdinalIgnoreCase) == true);
        return kernel is null || File.Exists(kernel) ? null : kernel;
    }

    private static async Task<NotebookRoute> AppsAsync(CancellationToken ct)
    {
        var (exit, output) = await RunAsync("dotnet", ["--version"], ct).ConfigureAwait(false);
        var version = output.Trim();
        if (exit != 0 || !int.TryParse(version.Split('.')[0], out var major))
            return new("app", false, $"the .NET SDK did not answer `dotnet --version`: {version}");
        return major >= 10
            ? new("app", true, $".NET SDK {version} runs file-based apps: research notebooks export notebooks --to app --out apps, then dotnet run apps/<notebook>.cs")
            : new("app", false, $".NET SDK {version}: file-based apps (dotnet run app.cs) need .NET 10 or newer");
    }

    // Exit code and output (with standard error when it failed), or a null exit code when the program is not installed.
    private static async Task<(int? Exit, string Output)> RunAsync(string program, IEnumerable<string> arguments, CancellationToken ct)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in arguments) start.ArgumentList.Add(a);
        start.Environment["DOTNET_NOLOGO"] = "1";
        try
        {
            using var process = Process.Start(start)!;
            var stdout = process.StandardOutput.ReadToEndAsync(ct);
            var stderr = process.StandardError.ReadToEndAsync(ct);
            await process.WaitForExitAsync(ct).ConfigureAwait(false);
            var (output, errors) = (await stdout.ConfigureAwait(false), await stderr.ConfigureAwait(false));
            // Jupyter warns on standard error about kernels of other languages; only a failure's message matters.
            return (process.ExitCode, process.ExitCode == 0 ? output : output + errors);
        }
        catch (System.ComponentModel.Win32Exception) { return (null, ""); }
    }

    [GeneratedRegex(@"^kernel='([^']*)'", RegexOptions.Multiline)]
    private static partial Regex KernelLine();
}

using System.CommandLine;
using System.Text.Json;
using Research.Experiments;
using Research.Notebooks.Kernel;
using Research.Platform;

namespace Research.Cli;

/// <summary><c>research doctor [--json]</c>.</summary>
public static class DoctorCommand
{
    public static Command Create(TextWriter stdout)
    {
        var json = new Option<bool>("--json") { Description = "Print the report as JSON." };
        var command = new Command("doctor",
            "Check the installation: versions, backend, devices, the libstdc++ fix, numerical self-checks, the notebook kernel and which routes to the notebooks work here.") { json };
        command.SetAction(async (parse, ct) =>
        {
            var report = Doctor.Run();
            var kernel = await KernelProbe.CheckAsync(ct);
            var routes = await NotebookRoutes.CheckAsync(kernel, ct);
            if (parse.GetValue(json))
                stdout.WriteLine(JsonSerializer.Serialize(new { report.Os, report.Architecture, report.DotNet, report.TorchSharp, report.LibTorch,
                    report.Backend, report.Devices, report.Threads, report.InteropThreads, report.CompatibilityFix, report.Checks,
                    report.Healthy, Kernel = new { kernel.Version, kernel.PinnedVersion, kernel.Starts, kernel.Seconds, kernel.Detail, Deprecated = NotebookRoutes.Deprecation },
                    NotebookRoutes = routes }, ExperimentConfigs.Json));
            else
                Print(report, kernel, routes, stdout);
            // The kernel is for notebooks only: the library and the CLI work without it, so it does not make the kit unhealthy.
            return report.Healthy ? ExitCodes.Ok : ExitCodes.Failed;
        });
        return command;
    }

    private static readonly Dictionary<string, string> RouteNames = new()
    {
        ["polyglot"] = "VS Code Polyglot (deprecated)",
        ["jupyter"] = "Jupyter",
        ["app"] = "file-based apps",
    };

    private static void Print(DoctorReport r, KernelReport k, IReadOnlyList<NotebookRoute> routes, TextWriter o)
    {
        o.WriteLine($"OS            {r.Os} ({r.Architecture})");
        o.WriteLine($".NET          {r.DotNet}");
        o.WriteLine($"TorchSharp    {r.TorchSharp}");
        o.WriteLine($"libtorch      {r.LibTorch}");
        o.WriteLine($"backend       {r.Backend}");
        o.WriteLine($"devices       {string.Join(", ", r.Devices)}");
        o.WriteLine($"threads       {r.Threads} intra-op, {r.InteropThreads} inter-op");
        o.WriteLine($"libstdc++ fix {(r.CompatibilityFix.FixActive ? "ACTIVE" : "off")}: {r.CompatibilityFix.Detail}");
        if (r.CompatibilityFix.PatchedLibrary is { } p) o.WriteLine($"              patched copy: {p}");
        foreach (var c in r.Checks)
            o.WriteLine($"{(c.Passed ? "ok  " : "FAIL")}          {c.Name}: {c.Detail}");
        var pin = k.PinnedVersion is { } v ? $"pinned {v} by .config/dotnet-tools.json" : "global install";
        o.WriteLine(k.Version is null
            ? $"kernel        NOT FOUND: {k.Detail}"
            : $"kernel        .NET Interactive {k.Version} ({pin}); {(k.Starts ? $"starts: {k.Detail}, {k.Seconds:F1} s" : $"DOES NOT START: {k.Detail}")}");
        o.WriteLine($"              {NotebookRoutes.Deprecation}");
        foreach (var route in routes)
            o.WriteLine($"{(route.Works ? "ok  " : "no  ")}          notebooks via {RouteNames[route.Name]}: {route.Detail}");
        o.WriteLine(r.Healthy ? "healthy: TorchSharp works on this machine." : "NOT healthy: see the failed checks above.");
    }
}

using System.CommandLine;
using System.Text.Json;
using Research.Experiments;
using Research.Platform;

namespace Research.Cli;

/// <summary><c>research doctor [--json]</c>.</summary>
public static class DoctorCommand
{
    public static Command Create(TextWriter stdout)
    {
        var json = new Option<bool>("--json") { Description = "Print the report as JSON." };
        var command = new Command("doctor", "Check the installation: versions, backend, devices, the libstdc++ fix and numerical self-checks.") { json };
        command.SetAction(parse =>
        {
            var report = Doctor.Run();
            if (parse.GetValue(json))
                stdout.WriteLine(JsonSerializer.Serialize(report, ExperimentConfigs.Json));
            else
                Print(report, stdout);
            return report.Healthy ? ExitCodes.Ok : ExitCodes.Failed;
        });
        return command;
    }

    private static void Print(DoctorReport r, TextWriter o)
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
        o.WriteLine(r.Healthy ? "healthy: TorchSharp works on this machine." : "NOT healthy: see the failed checks above.");
    }
}

using System.Diagnostics;
using System.Net;
using System.Runtime.Versioning;
using System.Text.Json.Nodes;
using Research.Notebooks;
using Xunit;

namespace Research.Tests.Notebooks;

/// <summary>
/// What a notebook kernel listens on while a notebook runs, read from /proc while a cell holds the kernel open. The
/// kit's Jupyter kernelspec keeps the kernel's HTTP API (a hub that runs submitted code, without authentication) off
/// TCP; the stock kernelspec of <c>dotnet interactive jupyter install</c> puts it on every interface; the stdio kernel
/// (VS Code Polyglot, <c>research notebooks run</c>) listens on no TCP port.
/// </summary>
[SupportedOSPlatform("linux")]   // /proc; elsewhere each test skips
public sealed class KernelNetworkTests : IDisposable
{
    private readonly NotebookFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void Kit_kernelspec_listens_on_loopback_only_and_keeps_the_http_api_off_tcp()
    {
        ListeningSockets.RequireProc();
        JupyterCli.RequireKitKernelspec();
        // Outside the kit's folder on purpose: the kernelspec starts the pinned kernel from anywhere.
        var held = WhileRunningInJupyter(_folder.Path, JupyterCli.KitKernelspec);
        var listeners = held.Listeners;

        var tcp = listeners.Where(l => l.IsTcp).ToList();
        Assert.All(tcp, l => Assert.True(ListeningSockets.IsLoopback(l.Address!), $"listens beyond loopback: {l}"));
        // Jupyter's five ZeroMQ channels are the only TCP ports: no HTTP port on any address, loopback included.
        Assert.Equal(held.ConnectionPorts.Order(), tcp.Select(l => l.Port).Distinct().Order());
        // The API itself sits on a Unix socket in a folder only this user can enter.
        var api = Assert.Single(listeners, l => l.Path?.EndsWith("/http.sock", StringComparison.Ordinal) == true);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute,
            File.GetUnixFileMode(Path.GetDirectoryName(api.Path)!));
    }

    [Fact]
    public void Stock_kernelspec_serves_the_http_api_on_the_machines_network_address()
    {
        // Documents why the kit installs its own kernelspec: this is what `dotnet interactive jupyter install` gives.
        ListeningSockets.RequireProc();
        JupyterCli.RequireKitKernelspec();
        var address = ListeningSockets.NetworkAddress();
        if (address is null) Assert.Skip("this machine has no network address besides loopback");
        var specs = Path.Combine(_folder.Path, "kernels");
        Directory.CreateDirectory(specs);
        var install = Process.Start(new ProcessStartInfo("dotnet", ["tool", "run", "dotnet-interactive", "--", "jupyter", "install", "--path", specs])
        { WorkingDirectory = TestPaths.RepoRoot, RedirectStandardOutput = true, RedirectStandardError = true })!;
        Assert.True(install.WaitForExit(TimeSpan.FromMinutes(2)) && install.ExitCode == 0, install.StandardError.ReadToEnd());
        Directory.Move(Path.Combine(specs, ".net-csharp"), Path.Combine(specs, "stock-csharp"));   // a name no user has
        Assert.Contains("--http-port-range", File.ReadAllText(Path.Combine(specs, "stock-csharp", "kernel.json")));
        // Its argv is `dotnet interactive`, which finds the pinned tool only from inside the kit: run the notebook there.
        var inKit = Directory.CreateDirectory(Path.Combine(TestPaths.RepoRoot, "artifacts", "tests", Guid.NewGuid().ToString("N")[..12])).FullName;
        try
        {
            var held = WhileRunningInJupyter(inKit, "stock-csharp", new Dictionary<string, string> { ["JUPYTER_PATH"] = _folder.Path });

            var exposed = held.Listeners.Where(l => l.IsTcp && !ListeningSockets.IsLoopback(l.Address!)).ToList();
            Assert.Contains(exposed, l => l.Address!.Equals(address) || ListeningSockets.IsAny(l.Address));
            Assert.All(exposed, l => Assert.InRange(l.Port, 2048, 3000));   // the HTTP API's default port range
        }
        finally { Directory.Delete(inKit, recursive: true); }
    }

    [Fact]
    public async Task Stdio_kernel_listens_on_no_tcp_port()
    {
        ListeningSockets.RequireProc();
        var (ready, go) = (Path.Combine(_folder.Path, "ready"), Path.Combine(_folder.Path, "go"));
        var path = _folder.Write("hold.ipynb", NotebookFolder.Code(HoldCell(ready, go)));

        var run = NotebookRunner.RunAsync(path, new NotebookRunOptions(), TextWriter.Null, TestContext.Current.CancellationToken);
        var kernel = AwaitReady(ready, run);
        var listeners = ListeningSockets.Of(ListeningSockets.Tree(kernel));
        File.WriteAllText(go, "");
        var result = await run;

        Assert.True(result.Succeeded, result.Failure?.ToString());
        Assert.DoesNotContain(listeners, l => l.IsTcp);
    }

    /// <summary>
    /// Runs a one-cell notebook through <c>jupyter nbconvert --execute</c> with <paramref name="kernelspec"/>; while its
    /// cell waits, reads what the kernel process and its children listen on, and the ports Jupyter gave the kernel.
    /// </summary>
    private static Held WhileRunningInJupyter(string folder, string kernelspec,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var (ready, go) = (Path.Combine(folder, "ready"), Path.Combine(folder, "go"));
        var notebook = Path.Combine(folder, "hold.ipynb");
        File.WriteAllText(notebook, new JsonObject
        {
            ["cells"] = new JsonArray(NotebookFolder.Code(HoldCell(ready, go))),
            ["metadata"] = new JsonObject { ["kernelspec"] = new JsonObject { ["name"] = kernelspec, ["display_name"] = kernelspec, ["language"] = "C#" } },
            ["nbformat"] = 4,
            ["nbformat_minor"] = 5,
        }.ToJsonString());
        using var jupyter = JupyterCli.Start(["nbconvert", "--to", "notebook", "--execute", notebook, "--output-dir", folder, "--output", "held",
            $"--ExecutePreprocessor.kernel_name={kernelspec}"], environment);
        Held held;
        try
        {
            var kernel = AwaitReady(ready, jupyter);
            held = new Held(kernel, ListeningSockets.Of(ListeningSockets.Tree(jupyter.Id).Where(p => p != jupyter.Id)), ConnectionPorts(kernel));
        }
        finally { File.WriteAllText(go, ""); }
        var (exit, _, err) = JupyterCli.Finish(jupyter, TimeSpan.FromMinutes(3));
        Assert.True(exit == 0, err);
        Assert.Contains(held.Listeners, l => l.Pid == held.Kernel);   // the scan saw the kernel itself
        return held;
    }

    private sealed record Held(int Kernel, IReadOnlyList<Listener> Listeners, IReadOnlyList<int> ConnectionPorts);

    // The cell writes the kernel's process id, then holds the kernel open until the test has looked.
    private static string HoldCell(string ready, string go) =>
        $"System.IO.File.WriteAllText(@\"{ready}.tmp\", System.Environment.ProcessId.ToString());\n" +
        $"System.IO.File.Move(@\"{ready}.tmp\", @\"{ready}\");\n" +
        $"for (var until = System.DateTime.UtcNow.AddMinutes(3); !System.IO.File.Exists(@\"{go}\") && System.DateTime.UtcNow < until;)\n" +
        "    System.Threading.Thread.Sleep(50);";

    private static int AwaitReady(string ready, object running)
    {
        var until = DateTime.UtcNow.AddMinutes(3);
        while (!File.Exists(ready))
        {
            var ended = running switch { Process p => p.HasExited, Task t => t.IsCompleted, _ => false };
            if (ended || DateTime.UtcNow > until) Assert.Fail($"the notebook's cell never started ({(ended ? "the run ended" : "timed out")})");
            Thread.Sleep(50);
        }
        return int.Parse(File.ReadAllText(ready), System.Globalization.CultureInfo.InvariantCulture);
    }

    // The ports of the connection file Jupyter handed the kernel (the last .json argument of its command line).
    private static IReadOnlyList<int> ConnectionPorts(int kernel)
    {
        var file = ListeningSockets.CommandLine(kernel).Last(a => a.EndsWith(".json", StringComparison.Ordinal));
        var connection = JsonNode.Parse(File.ReadAllText(file))!;
        Assert.Equal(IPAddress.Loopback.ToString(), (string?)connection["ip"]);
        return [.. new[] { "shell_port", "iopub_port", "stdin_port", "control_port", "hb_port" }.Select(k => (int)connection[k]!)];
    }
}

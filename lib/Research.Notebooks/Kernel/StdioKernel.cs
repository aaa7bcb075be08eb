using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;

namespace Research.Notebooks.Kernel;

/// <summary>
/// One .NET Interactive kernel process driven over standard I/O, the protocol VS Code Polyglot Notebooks speaks:
/// one JSON command envelope per line in (<c>SubmitCode</c>), one JSON event envelope per line out.
/// </summary>
public sealed class StdioKernel : IAsyncDisposable
{
    private readonly Process process;
    private readonly Channel<JsonObject> events = Channel.CreateUnbounded<JsonObject>();
    private readonly TextWriter log;
    private readonly Task reader;
    private readonly Task errorReader;
    private int commands;

    private StdioKernel(Process process, TextWriter log)
    {
        this.process = process;
        this.log = log;
        reader = Task.Run(ReadEventsAsync);
        errorReader = Task.Run(ForwardStandardErrorAsync);
    }

    /// <summary>
    /// Starts the kernel (C# by default) with <paramref name="workingDirectory"/> as the notebooks' current folder,
    /// and waits until it says it is ready. The kernel's own standard error goes to <paramref name="log"/>;
    /// <paramref name="environment"/> adds variables to the kernel's environment.
    /// </summary>
    /// <exception cref="NotebookException">The kernel could not be started or exited before it was ready.</exception>
    public static async Task<StdioKernel> StartAsync(KernelTool tool, string workingDirectory, TextWriter log, CancellationToken ct,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        await tool.EnsureRestoredAsync(ct).ConfigureAwait(false);
        var info = tool.StartInfo(["stdio", "--default-kernel", "csharp", "--working-dir", workingDirectory]);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) info.Environment[name] = value;
        Process process;
        try { process = Process.Start(info) ?? throw new NotebookException($"cannot start the kernel ({string.Join(' ', tool.Command)})"); }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new NotebookException($"cannot start the .NET Interactive kernel ({string.Join(' ', tool.Command)}): {e.Message}", e);
        }
        var kernel = new StdioKernel(process, log);
        try
        {
            while (true)
            {
                var e = await kernel.NextEventAsync(ct).ConfigureAwait(false)
                    ?? throw new NotebookException($"the .NET Interactive kernel exited with code {kernel.ExitCode()} before it was ready; run `research doctor`");
                if ((string?)e["eventType"] == "KernelReady") return kernel;
            }
        }
        catch
        {
            await kernel.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Submits <paramref name="code"/> to the kernel named <paramref name="kernelName"/> and returns the events it
    /// caused, up to and including <c>CommandSucceeded</c> or <c>CommandFailed</c>.
    /// </summary>
    /// <exception cref="NotebookException">The kernel exited while the code ran.</exception>
    public async Task<IReadOnlyList<KernelEvent>> SubmitCodeAsync(string code, string kernelName, CancellationToken ct)
    {
        var token = $"research-{Interlocked.Increment(ref commands)}";
        var envelope = new JsonObject
        {
            ["token"] = token,
            ["commandType"] = "SubmitCode",
            ["command"] = new JsonObject { ["code"] = code, ["targetKernelName"] = kernelName },
        };
        await process.StandardInput.WriteLineAsync(envelope.ToJsonString().AsMemory(), ct).ConfigureAwait(false);
        await process.StandardInput.FlushAsync(ct).ConfigureAwait(false);

        var produced = new List<KernelEvent>();
        while (true)
        {
            var e = await NextEventAsync(ct).ConfigureAwait(false)
                ?? throw new NotebookException($"the .NET Interactive kernel exited with code {ExitCode()} while a cell ran");
            var commandToken = (string?)e["command"]?["token"];
            // Commands the kernel issues on the cell's behalf carry child tokens ("research-3.1").
            if (commandToken is null || !(commandToken == token || commandToken.StartsWith(token + ".", StringComparison.Ordinal))) continue;
            var kernelEvent = new KernelEvent((string?)e["eventType"] ?? "", e["event"] as JsonObject ?? new JsonObject());
            produced.Add(kernelEvent);
            if (commandToken == token && kernelEvent.Type is "CommandSucceeded" or "CommandFailed") return produced;
        }
    }

    private async Task<JsonObject?> NextEventAsync(CancellationToken ct)
    {
        try { return await events.Reader.ReadAsync(ct).ConfigureAwait(false); }
        catch (ChannelClosedException) { return null; }
    }

    private async Task ReadEventsAsync()
    {
        try
        {
            while (await process.StandardOutput.ReadLineAsync().ConfigureAwait(false) is { } line)
            {
                // The kernel prints a banner and host logs as plain text before and between envelopes.
                if (!line.StartsWith('{')) continue;
                JsonObject? envelope;
                try { envelope = JsonNode.Parse(line) as JsonObject; }
                catch (JsonException) { continue; }
                if (envelope is not null) await events.Writer.WriteAsync(envelope).ConfigureAwait(false);
            }
        }
        finally { events.Writer.TryComplete(); }
    }

    private async Task ForwardStandardErrorAsync()
    {
        // Native code in the kernel (libtorch warnings) writes here, not into cell outputs.
        while (await process.StandardError.ReadLineAsync().ConfigureAwait(false) is { } line)
            lock (log) log.WriteLine($"kernel: {line}");
    }

    private string ExitCode()
    {
        try { return process.WaitForExit(5000) ? process.ExitCode.ToString(System.Globalization.CultureInfo.InvariantCulture) : "(still running)"; }
        catch (InvalidOperationException) { return "(unknown)"; }
    }

    /// <summary>Ends the kernel and its children: a notebook run keeps no kernel state worth a graceful exit.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException or System.ComponentModel.Win32Exception) { /* gone already */ }
        await Task.WhenAny(Task.WhenAll(reader, errorReader), Task.Delay(5000)).ConfigureAwait(false);
        process.Dispose();
    }
}

/// <summary>One event of the kernel's protocol: its type (<c>DisplayedValueProduced</c>, ...) and its body.</summary>
public sealed record KernelEvent(string Type, JsonObject Body);

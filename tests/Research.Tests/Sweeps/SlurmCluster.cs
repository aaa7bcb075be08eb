using System.Diagnostics;
using Xunit;

namespace Research.Tests.Sweeps;

/// <summary>
/// A one-node Slurm cluster on this machine for tests, started by <c>environment/slurm/local-cluster.sh</c> in a
/// temporary folder of its own (config, MUNGE key and socket, state, logs, pid files) and stopped by
/// <see cref="Dispose"/>. Child processes that use it need <see cref="Environment"/> (SLURM_CONF); <see cref="Run"/>
/// adds it. Tests that share one cluster per test run join <see cref="SlurmClusterCollection"/>.
/// </summary>
public sealed class SlurmCluster : IDisposable
{
    /// <summary>The script that starts and stops the cluster.</summary>
    public static string Script => Path.Combine(TestPaths.RepoRoot, "environment", "slurm", "local-cluster.sh");

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);   // the script itself gives up after 30 s
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(60);
    private static readonly string[] Daemons = ["slurmctld", "slurmd", "munged"];

    private readonly EventHandler _onExit;
    private bool _disposed;

    private SlurmCluster(string directory, IReadOnlyDictionary<string, string> environment, IReadOnlyDictionary<string, int> pids)
    {
        Directory = directory;
        Environment = environment;
        DaemonPids = pids;
        // Belt and braces: a test run that ends without disposing its fixtures still stops the daemons.
        _onExit = (_, _) =>
        {
            try { Dispose(); }
            catch (Exception) { }      // nothing can report it this late
        };
        AppDomain.CurrentDomain.ProcessExit += _onExit;
    }

    /// <summary>The cluster's folder: slurm.conf, munge/, state/, spool/, log/ and the daemons' pid files.</summary>
    public string Directory { get; }

    /// <summary>The cluster's slurm.conf.</summary>
    public string ConfigFile => Path.Combine(Directory, "slurm.conf");

    /// <summary>What a child process needs to use this cluster: SLURM_CONF, which the Slurm commands and the jobs read.</summary>
    public IReadOnlyDictionary<string, string> Environment { get; }

    /// <summary>The pids of slurmctld, slurmd and munged, as the script wrote them when the cluster came up.</summary>
    public IReadOnlyDictionary<string, int> DaemonPids { get; }

    /// <summary>
    /// Starts a cluster, or skips the calling test with the reason when Slurm cannot be started here (not Linux, slurm-wlm
    /// or munge missing, the daemons failing). Under CI (<c>CI=true</c>) it fails the test instead, since .ci/run installs
    /// them.
    /// </summary>
    public static SlurmCluster Start()
    {
        var cluster = TryStart(out var reason);
        if (cluster is not null) return cluster;
        SkipOrFail(reason!);
        throw new UnreachableException();
    }

    /// <summary>Skips the calling test because Slurm could not be started; fails it under CI.</summary>
    public static void SkipOrFail(string reason)
    {
        if (string.Equals(System.Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
            Assert.Fail($"Slurm cluster did not start: {reason} (CI=true: .ci/run installs slurm-wlm and munge)");
        Assert.Skip($"Slurm cluster did not start: {reason}");
    }

    /// <summary>Starts a cluster, or returns null and why not; never skips or fails by itself.</summary>
    public static SlurmCluster? TryStart(out string? reason)
    {
        reason = null;
        if (!OperatingSystem.IsLinux())
        {
            reason = "the local Slurm cluster needs Linux";
            return null;
        }
        var directory = NewPrivateFolder();
        (int Exit, string Out, string Err) started;
        try
        {
            started = RunScript("start", directory, StartTimeout);
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or TimeoutException)
        {
            RunScriptQuietly("stop", directory);
            TryDelete(directory);
            reason = e.Message;
            return null;
        }
        if (started.Exit != 0)
        {
            // The script stops what it started when it fails; its last error line is the reason, the rest context.
            TryDelete(directory);
            var errors = started.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            var last = errors.LastOrDefault(l => l.Contains("error:", StringComparison.Ordinal)) ?? errors.LastOrDefault();
            reason = last ?? $"local-cluster.sh exited {started.Exit}";
            if (errors.Length > 1) reason += "\n" + started.Err.Trim();
            return null;
        }

        var environment = new Dictionary<string, string>();
        foreach (var line in started.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            if (line.StartsWith("export ", StringComparison.Ordinal) && line.IndexOf('=') is var eq and > 7)
                environment[line[7..eq]] = line[(eq + 1)..];
        var pids = new Dictionary<string, int>();
        foreach (var daemon in Daemons)
            if (int.TryParse(ReadOrEmpty(Path.Combine(directory, daemon + ".pid")).Trim(), out var pid)) pids[daemon] = pid;
        if (!environment.ContainsKey("SLURM_CONF") || pids.Count != Daemons.Length)
        {
            RunScriptQuietly("stop", directory);
            TryDelete(directory);
            reason = $"local-cluster.sh start printed no SLURM_CONF or left no pid files:\n{started.Out}{started.Err}";
            return null;
        }
        return new SlurmCluster(directory, environment, pids);
    }

    /// <summary>Runs <paramref name="program"/> with this cluster's environment (two minutes at most) and returns its exit
    /// code and output.</summary>
    public (int Exit, string Out, string Err) Run(string program, params string[] args) =>
        RunProcess(program, args, Environment, TimeSpan.FromMinutes(2));

    /// <summary>The last lines of slurmctld's and slurmd's logs, for the message of a failed assertion.</summary>
    public string LogTail(int lines = 20) => string.Join("\n", new[] { "slurmctld", "slurmd" }.Select(daemon =>
    {
        var log = Path.Combine(Directory, "log", daemon + ".log");
        var tail = File.Exists(log) ? File.ReadLines(log).TakeLast(lines) : ["(no log)"];
        return $"--- {log}:\n{string.Join("\n", tail)}";
    }));

    /// <summary>Whether <paramref name="pid"/> is a live process (a zombie that no one has reaped yet is not).</summary>
    public static bool IsAlive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var state = stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[0];
            return state is not ("Z" or "X");
        }
        catch (IOException) { return false; }              // no such process
        catch (UnauthorizedAccessException) { return true; }
    }

    /// <summary>
    /// Stops the cluster (jobs cancelled, then the three daemons ended) and deletes its folder. Throws when a daemon is
    /// still alive afterwards, so that a leak shows up as a failure rather than as a stray process.
    /// </summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        AppDomain.CurrentDomain.ProcessExit -= _onExit;
        var stopped = RunScript("stop", Directory, StopTimeout);
        var left = DaemonPids.Where(d => IsAlive(d.Value)).Select(d => $"{d.Key} ({d.Value})").ToList();
        if (stopped.Exit != 0 || left.Count > 0)
            throw new InvalidOperationException(
                $"local-cluster.sh stop {Directory} exited {stopped.Exit}; still running: {(left.Count > 0 ? string.Join(", ", left) : "none")}\n{stopped.Out}{stopped.Err}");
        TryDelete(Directory);
    }

    private static (int Exit, string Out, string Err) RunScript(string command, string directory, TimeSpan timeout) =>
        RunProcess("bash", [Script, command, directory], null, timeout);

    private static void RunScriptQuietly(string command, string directory)
    {
        try { RunScript(command, directory, StopTimeout); }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or TimeoutException) { }
    }

    private static (int Exit, string Out, string Err) RunProcess(string program, IEnumerable<string> args,
        IReadOnlyDictionary<string, string>? environment, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) start.ArgumentList.Add(a);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) start.Environment[name] = value;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', args)} did not finish in {timeout.TotalSeconds:F0} s");
        }
        return (process.ExitCode, stdout.Result, stderr.Result);
    }

    // Short and private: munged's socket path inside it must fit in 108 bytes, and it holds the MUNGE key. A long TMPDIR
    // gives way to /tmp.
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static string NewPrivateFolder()
    {
        var parent = Path.GetTempPath();
        if (parent.Length > 48 && System.IO.Directory.Exists("/tmp")) parent = "/tmp";
        var directory = Path.Combine(parent, "research-slurm-" + Guid.NewGuid().ToString("N")[..8]);
        System.IO.Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return directory;
    }

    private static string ReadOrEmpty(string path) => File.Exists(path) ? File.ReadAllText(path) : "";

    private static void TryDelete(string directory)
    {
        try { System.IO.Directory.Delete(directory, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}

/// <summary>
/// One cluster for every test in <see cref="SlurmClusterCollection"/>, started on first use, so that without Slurm each
/// test skips (or, under CI, fails) with the reason instead of the fixture breaking the collection. A start that failed
/// is not retried: the later tests get the same reason at once.
/// </summary>
public sealed class SharedSlurmCluster : IDisposable
{
    private readonly Lock _gate = new();
    private SlurmCluster? _cluster;
    private string? _failure;

    public SlurmCluster Cluster
    {
        get
        {
            lock (_gate)
            {
                if (_cluster is null && _failure is null) _cluster = SlurmCluster.TryStart(out _failure);
                if (_cluster is not null) return _cluster;
            }
            SlurmCluster.SkipOrFail(_failure!);
            throw new UnreachableException();
        }
    }

    public void Dispose() => _cluster?.Dispose();
}

/// <summary>
/// The tests that use the shared local Slurm cluster: <c>[Collection(SlurmClusterCollection.Name)]</c> on the class and a
/// <see cref="SharedSlurmCluster"/> constructor parameter. Its tests run one at a time.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SlurmClusterCollection : ICollectionFixture<SharedSlurmCluster>
{
    public const string Name = "Slurm cluster";
}

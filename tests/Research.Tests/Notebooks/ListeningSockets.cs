using System.Globalization;
using System.Net;
using System.Net.NetworkInformation;
using Xunit;

namespace Research.Tests.Notebooks;

/// <summary>A socket a process listens on: TCP with its address and port, or a Unix socket with its path.</summary>
internal sealed record Listener(int Pid, string Protocol, IPAddress? Address, int Port, string? Path)
{
    public bool IsTcp => Protocol is "tcp" or "tcp6";

    public override string ToString() => IsTcp ? $"{Protocol} {Address}:{Port} (pid {Pid})" : $"unix {Path} (pid {Pid})";
}

/// <summary>
/// What a process tree listens on, read from Linux's /proc as <c>ss -ltnp</c> does: each process's file descriptors
/// name socket inodes, and /proc/net/tcp, tcp6 and unix list the listening sockets by inode.
/// </summary>
internal static class ListeningSockets
{
    /// <summary>Skips the test where there is no /proc (macOS, Windows): the check is Linux's.</summary>
    public static void RequireProc()
    {
        if (!File.Exists("/proc/net/tcp")) Assert.Skip("needs Linux's /proc to read what processes listen on");
    }

    /// <summary><paramref name="root"/> and every process below it.</summary>
    public static IReadOnlyList<int> Tree(int root)
    {
        var children = new Dictionary<int, List<int>>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid) || ParentOf(pid) is not { } parent) continue;
            if (!children.TryGetValue(parent, out var list)) children[parent] = list = [];
            list.Add(pid);
        }
        var tree = new List<int>();
        var pending = new Stack<int>([root]);
        while (pending.TryPop(out var pid))
        {
            tree.Add(pid);
            foreach (var child in children.GetValueOrDefault(pid) ?? []) pending.Push(child);
        }
        return tree;
    }

    /// <summary>The command line of <paramref name="pid"/>, one string per argument (empty once it has ended).</summary>
    public static IReadOnlyList<string> CommandLine(int pid) =>
        Read($"/proc/{pid}/cmdline") is { } text ? text.Split('\0', StringSplitOptions.RemoveEmptyEntries) : [];

    /// <summary>Every TCP and Unix socket the processes <paramref name="pids"/> listen on.</summary>
    public static IReadOnlyList<Listener> Of(IEnumerable<int> pids)
    {
        var owner = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var pid in pids)
        {
            string[] fds;
            try { fds = Directory.GetFileSystemEntries($"/proc/{pid}/fd"); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; }   // ended meanwhile
            foreach (var fd in fds)
            {
                string? target;
                try { target = new FileInfo(fd).LinkTarget; }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; }
                if (target is not null && target.StartsWith("socket:[", StringComparison.Ordinal)) owner[target[8..^1]] = pid;
            }
        }
        var listeners = new List<Listener>();
        foreach (var protocol in new[] { "tcp", "tcp6" })
            foreach (var fields in Table($"/proc/net/{protocol}"))
            {
                // sl local_address rem_address st ... inode: st 0A is LISTEN; the inode is the tenth field.
                if (fields.Length < 10 || fields[3] != "0A" || !owner.TryGetValue(fields[9], out var pid)) continue;
                var (address, port) = Endpoint(fields[1]);
                listeners.Add(new Listener(pid, protocol, address, port, null));
            }
        foreach (var fields in Table("/proc/net/unix"))
        {
            // Num RefCount Protocol Flags Type St Inode Path: flag 00010000 is a listening (accepting) socket.
            if (fields.Length < 8 || fields[3] != "00010000" || !owner.TryGetValue(fields[6], out var pid)) continue;
            listeners.Add(new Listener(pid, "unix", null, 0, fields[7]));
        }
        return listeners;
    }

    /// <summary>Whether this machine has an address other than loopback on an interface that is up.</summary>
    public static IPAddress? NetworkAddress() =>
        NetworkInterface.GetAllNetworkInterfaces()
            .Where(i => i.OperationalStatus == OperationalStatus.Up && i.NetworkInterfaceType != NetworkInterfaceType.Loopback)
            .SelectMany(i => i.GetIPProperties().UnicastAddresses).Select(a => a.Address)
            .FirstOrDefault(a => !IPAddress.IsLoopback(a));

    private static int? ParentOf(int pid)
    {
        // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces and parentheses, so read after the last ')'.
        var stat = Read($"/proc/{pid}/stat");
        if (stat is null) return null;
        var after = stat[(stat.LastIndexOf(')') + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return after.Length > 1 && int.TryParse(after[1], CultureInfo.InvariantCulture, out var parent) ? parent : null;
    }

    private static IEnumerable<string[]> Table(string path) =>
        (Read(path) ?? "").Split('\n').Skip(1).Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries));

    // "0100007F:0800": the address as the kernel stores it (32-bit words in host order, little-endian here), then the port.
    private static (IPAddress, int) Endpoint(string field)
    {
        var (hex, port) = (field[..field.IndexOf(':')], int.Parse(field[(field.IndexOf(':') + 1)..], NumberStyles.HexNumber, CultureInfo.InvariantCulture));
        var bytes = new byte[hex.Length / 2];
        for (var word = 0; word < bytes.Length / 4; word++)
            for (var i = 0; i < 4; i++)
                bytes[word * 4 + i] = byte.Parse(hex.AsSpan(word * 8 + (3 - i) * 2, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        return (new IPAddress(bytes), port);
    }

    private static string? Read(string path)
    {
        try { return File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    /// <summary>Whether <paramref name="address"/> is loopback (127.0.0.0/8, ::1, or IPv4 loopback mapped to IPv6).</summary>
    public static bool IsLoopback(IPAddress address) =>
        IPAddress.IsLoopback(address) || (address.IsIPv4MappedToIPv6 && IPAddress.IsLoopback(address.MapToIPv4()));

    /// <summary>Whether <paramref name="address"/> listens on every interface (0.0.0.0 or ::).</summary>
    public static bool IsAny(IPAddress address) => address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any);
}

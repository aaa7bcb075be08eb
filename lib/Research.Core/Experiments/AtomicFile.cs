using System.Runtime.InteropServices;

namespace Research.Experiments;

/// <summary>Files that appear whole or not at all.</summary>
public static class AtomicFile
{
    /// <summary>
    /// Calls <paramref name="write"/> with a temporary path beside <paramref name="path"/>, then renames the result into
    /// place: a crash or an exception leaves the previous file (or none), never a half-written one.
    /// </summary>
    public static void Write(string path, Action<string> write)
    {
        var partial = path + $".partial-{Guid.NewGuid():N}";
        try
        {
            write(partial);
            File.Move(partial, path, overwrite: true);
        }
        catch
        {
            File.Delete(partial);
            throw;
        }
    }

    /// <summary><paramref name="text"/> as UTF-8 without a byte-order mark, written as <see cref="Write"/> does.</summary>
    public static void WriteAllText(string path, string text) => Write(path, partial => File.WriteAllText(partial, text));
}

/// <summary>Folders that appear whole or not at all.</summary>
public static class AtomicFolder
{
    /// <summary>
    /// Calls <paramref name="fill"/> with a new folder beside <paramref name="final"/>, then renames it into place; a
    /// previous folder stays intact until it is replaced, and a failure leaves it (or nothing), never a half-written one.
    /// </summary>
    public static void Write(string final, Action<string> fill)
    {
        var partial = Path.Combine(Path.GetDirectoryName(final)!, $".{Path.GetFileName(final)}.partial-{Guid.NewGuid():N}");
        try
        {
            Directory.CreateDirectory(partial);
            fill(partial);
            Replace(final, partial);
        }
        catch
        {
            TryDelete(partial);
            throw;
        }
    }

    private static void Replace(string final, string partial)
    {
        if (Directory.Exists(final) && Exchange(final, partial))
        {
            TryDelete(partial);   // now holds the previous folder
            return;
        }
        // Elsewhere two renames: between them neither folder is at `final`, for the moment a rename takes.
        string? old = null;
        if (Directory.Exists(final))
        {
            old = final + $".old-{Guid.NewGuid():N}";
            Directory.Move(final, old);
        }
        Directory.Move(partial, final);
        if (old is not null) TryDelete(old);
    }

    /// <summary>
    /// Swaps two existing paths in one step with Linux's renameat2(RENAME_EXCHANGE), so a reader sees the old folder
    /// or the new one and never neither. False where that is not available (another OS, a C library before glibc 2.28,
    /// a file system without it); nothing has moved then.
    /// </summary>
    public static bool Exchange(string a, string b)
    {
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            return Native.renameat2(Native.AtFdCwd, a, Native.AtFdCwd, b, Native.RenameExchange) == 0;
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            return false;
        }
    }

    private static class Native
    {
        public const int AtFdCwd = -100;          // <fcntl.h>: paths relative to the working directory
        public const uint RenameExchange = 2;     // <linux/fs.h>: RENAME_EXCHANGE

        [DllImport("libc", SetLastError = true)]
        public static extern int renameat2(int oldDirFd, [MarshalAs(UnmanagedType.LPUTF8Str)] string oldPath,
            int newDirFd, [MarshalAs(UnmanagedType.LPUTF8Str)] string newPath, uint flags);
    }

    private static void TryDelete(string dir)
    {
        try { if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { /* best effort: a stale temp folder is harmless */ }
    }
}

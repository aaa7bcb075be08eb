using System.Globalization;

namespace Research.Experiments;

/// <summary>
/// Holds <c>&lt;folder&gt;/.lock</c> open exclusively for the length of a run, so a second run into the same folder stops
/// before it starts instead of replacing the first one's results under it. The lock is the open file itself (an
/// advisory lock on Linux and macOS, a share lock on Windows): it ends with the process, so a crashed run leaves no
/// stale lock behind, only a harmless file.
/// </summary>
public sealed class OutputLock : IDisposable
{
    public const string FileName = ".lock";

    /// <summary>The holder's process id and start time, written beside the lock.</summary>
    public const string OwnerFileName = ".lock.owner";

    private readonly FileStream _file;

    private OutputLock(FileStream file) => _file = file;

    /// <summary>Takes the lock of <paramref name="folder"/> (which must exist) or throws <see cref="OutputInUseException"/>
    /// naming the holder's process id.</summary>
    public static OutputLock Acquire(string folder)
    {
        var path = Path.Combine(folder, FileName);
        FileStream file;
        try
        {
            file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e) when (File.Exists(path))
        {
            throw new OutputInUseException($"{folder} is in use by another run ({Holder(folder)}); wait for it to finish or choose another --out", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new OutputException($"cannot lock output folder '{folder}': {e.Message}", e);
        }
        // Who holds it, for the message the next run prints: beside the lock, since a locked file cannot be read on
        // every OS (.NET's FileShare.None is an exclusive flock on Unix, which a reader's shared flock also hits).
        try
        {
            AtomicFile.Write(Path.Combine(folder, OwnerFileName), p => File.WriteAllText(p,
                string.Create(CultureInfo.InvariantCulture, $"pid {Environment.ProcessId}, since {DateTime.UtcNow:yyyy-MM-dd HH:mm:ss} UTC")));
        }
        catch
        {
            file.Dispose();
            throw;
        }
        return new OutputLock(file);
    }

    public void Dispose() => _file.Dispose();

    // The owner file's text; "process unknown" when the holder has not written it yet.
    private static string Holder(string folder)
    {
        try
        {
            var text = File.ReadAllText(Path.Combine(folder, OwnerFileName)).Trim();
            return text.Length > 0 ? text : "process unknown";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "process unknown";
        }
    }
}

/// <summary>An output folder another run is writing; not bad input, the same command works once that run ends.</summary>
public sealed class OutputInUseException(string message, Exception? inner = null) : Exception(message, inner);

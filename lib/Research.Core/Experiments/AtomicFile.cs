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
}

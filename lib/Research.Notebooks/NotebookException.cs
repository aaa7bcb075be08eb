using Research.Experiments;

namespace Research.Notebooks;

/// <summary>
/// Input the runner cannot work with: a missing file or folder, malformed JSON, a file that is not an nbformat 4
/// notebook, or an output folder that cannot be written. Failures inside cells are not exceptions; they are
/// reported as <see cref="NotebookFailure"/>.
/// </summary>
public sealed class NotebookException : Exception
{
    /// <summary>Creates the exception; <paramref name="message"/> names the offending path.</summary>
    public NotebookException(string message) : base(message) { }

    /// <summary>Creates the exception with the I/O or parse error that caused it.</summary>
    public NotebookException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>Writes <paramref name="text"/> whole or not at all; an I/O failure becomes bad input naming <paramref name="path"/>.</summary>
    internal static void WriteAllText(string path, string text)
    {
        try { AtomicFile.WriteAllText(Path.GetFullPath(path), text); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new NotebookException($"{path}: cannot write: {e.Message}", e);
        }
    }
}

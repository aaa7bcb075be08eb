namespace Research.Notebooks.Execution;

/// <summary>A directive the runner rejects, at a 1-based line of its cell.</summary>
internal sealed class CellDirectiveException(int line, string message) : Exception(message)
{
    public int Line { get; } = line;
}

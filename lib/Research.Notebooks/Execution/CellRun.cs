namespace Research.Notebooks.Execution;

/// <summary>What happened to one cell: run with outputs, or skipped with the reason.</summary>
internal sealed record CellRun(int Cell, int? ExecutionCount, IReadOnlyList<CellOutput> Outputs, string? SkippedBecause)
{
    public bool Ran => ExecutionCount is not null;
}

namespace Research.Notebooks;

/// <summary>The outcome of running one notebook.</summary>
/// <param name="Path">The notebook path as it was given.</param>
/// <param name="CellsRun">Code cells that ran to completion.</param>
/// <param name="Elapsed">Wall-clock time of the run, the kernel's start-up included.</param>
/// <param name="Failure">The first failing cell, or null when every code cell succeeded.</param>
/// <param name="HtmlPath">The page written for <see cref="NotebookRunOptions.HtmlDirectory"/>, if any.</param>
/// <param name="Cells">Each code cell that was submitted (the failing one included) and how long it took.</param>
public sealed record NotebookRunResult(string Path, int CellsRun, TimeSpan Elapsed, NotebookFailure? Failure, string? HtmlPath,
    IReadOnlyList<CellTiming> Cells)
{
    /// <summary>True when every code cell ran without error.</summary>
    public bool Succeeded => Failure is null;
}

/// <summary>How long one code cell took in the kernel.</summary>
/// <param name="Cell">1-based cell number, counting every cell of the file.</param>
/// <param name="Elapsed">From submitting the cell to the kernel's success or failure event.</param>
public sealed record CellTiming(int Cell, TimeSpan Elapsed);

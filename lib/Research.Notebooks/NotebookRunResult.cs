namespace Research.Notebooks;

/// <summary>The outcome of running one notebook.</summary>
/// <param name="Path">The notebook path as it was given.</param>
/// <param name="CellsRun">C# cells that ran to completion.</param>
/// <param name="Elapsed">Wall-clock time of the run, start-up of the C# scripting engine included.</param>
/// <param name="Failure">The first failing cell, or null when every C# cell succeeded.</param>
/// <param name="HtmlPath">The page written for <see cref="NotebookRunOptions.HtmlDirectory"/>, if any.</param>
public sealed record NotebookRunResult(string Path, int CellsRun, TimeSpan Elapsed, NotebookFailure? Failure, string? HtmlPath)
{
    /// <summary>True when every C# cell ran without error.</summary>
    public bool Succeeded => Failure is null;
}

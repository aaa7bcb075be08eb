namespace Research.Notebooks;

/// <summary>
/// Where a notebook failed: a compile error, an exception (a failed assertion included) or a rejected directive.
/// </summary>
/// <param name="Notebook">The notebook path as it was given.</param>
/// <param name="Cell">1-based cell number, counting every cell of the file (markdown included) as it appears.</param>
/// <param name="Line">
/// 1-based line within that cell; 0 when no line is known (an exception thrown with no script frame on its stack).
/// </param>
/// <param name="Message">For exceptions, the exception type and message; for compile errors, the diagnostic id and message.</param>
public sealed record NotebookFailure(string Notebook, int Cell, int Line, string Message)
{
    /// <summary>The compiler-style form <c>notebook:cell:line: message</c>; without a line (a runtime error) <c>notebook:cell: message</c>.</summary>
    public override string ToString() => Line > 0 ? $"{Notebook}:{Cell}:{Line}: {Message}" : $"{Notebook}:{Cell}: {Message}";
}

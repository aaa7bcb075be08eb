namespace Research.Notebooks.Execution;

/// <summary>A cell ready for the C# session.</summary>
/// <param name="Code">The C# code, directive lines and other kernels' lines blanked so line numbers still match the cell.</param>
/// <param name="HasCSharp">False when no line of the cell belongs to the C# kernel (the cell is skipped).</param>
/// <param name="References">Assembly files the cell's <c>#r</c> lines add.</param>
/// <param name="Notes">What the directives did, for the log.</param>
internal sealed record PreparedCell(string Code, bool HasCSharp, IReadOnlyList<string> References, IReadOnlyList<string> Notes);

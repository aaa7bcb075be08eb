namespace Research.Notebooks;

/// <summary>What <see cref="NotebookRunner.RunAsync"/> does besides running the cells.</summary>
/// <param name="Write">
/// Store the new outputs and execution counts back into the .ipynb (atomically), only when every cell succeeded.
/// </param>
/// <param name="HtmlDirectory">
/// When set, write a standalone page <c>&lt;name&gt;.html</c> (plotly.js inline, works offline) into this folder,
/// only when every cell succeeded. The folder is created if needed.
/// </param>
public sealed record NotebookRunOptions(bool Write = false, string? HtmlDirectory = null);

using Research.Interactive;
using Research.Notebooks.Kernel;

namespace Research.Notebooks;

/// <summary>What <see cref="NotebookRunner.RunAsync"/> does besides running the cells.</summary>
/// <param name="Write">
/// Store the kernel's outputs and execution counts back into the .ipynb (atomically, in the layout Polyglot writes),
/// only when every cell succeeded.
/// </param>
/// <param name="HtmlDirectory">
/// When set, write a standalone page <c>&lt;name&gt;.html</c> (plotly.js inline, works offline) into this folder,
/// only when every cell succeeded. The folder is created if needed.
/// </param>
/// <param name="Kernel">The kernel to run in; null finds the kit's pinned one (<see cref="KernelTool.Find"/>).</param>
/// <param name="Plotly">
/// Where the kit's charts get plotly.js in this run (<c>RESEARCH_PLOTLY_JS</c> for the kernel); null keeps the
/// kit's default, the embedded copy.
/// </param>
/// <param name="Environment">More variables for the kernel's environment (e.g. a kit switch such as <c>RESEARCH_FSHARP_CORE_FIX</c>).</param>
/// <param name="Pictures">
/// Give every chart a static picture (<see cref="NotebookCharts.Pictures"/>): an <c>image/png</c> output and the same
/// picture in its HTML, drawn in headless Chromium, so stored outputs show on GitHub and in exports without
/// JavaScript. The CLI's <c>--write</c> turns it on.
/// </param>
public sealed record NotebookRunOptions(bool Write = false, string? HtmlDirectory = null, KernelTool? Kernel = null, PlotlySource? Plotly = null,
    IReadOnlyDictionary<string, string>? Environment = null, bool Pictures = false);

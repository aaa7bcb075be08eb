using System.Runtime.CompilerServices;
using Microsoft.DotNet.Interactive.Formatting;
using Plotly.NET;
using Research.Charts;
using Research.Experiments;
using Research.Platform;

namespace Research.Interactive;

/// <summary>
/// What the kit does when it is loaded into a .NET Interactive kernel (VS Code Polyglot Notebooks, Jupyter):
/// it makes Plotly.NET loadable next to the kernel's FSharp.Core, and it registers the HTML formatters for charts
/// (<see cref="NotebookCharts"/>) and result tables (<see cref="ResultTable.ToHtml"/>). Nothing here runs outside a kernel.
/// </summary>
public static class KernelIntegration
{
    private static int registered;

    /// <summary>Whether this process is a .NET Interactive kernel (its core assembly is loaded).</summary>
    public static bool InKernel =>
        AppDomain.CurrentDomain.GetAssemblies().Any(a => a.GetName().Name == "Microsoft.DotNet.Interactive");

    /// <summary>Whether the kit's chart formatter is registered with the kernel.</summary>
    public static bool ChartFormatterRegistered => Volatile.Read(ref registered) == 1;

    // A user's notebook may call a chart builder before Kit.Setup: the first touch of any kit type sets this up.
#pragma warning disable CA2255 // a library module initializer is the point: charts must draw whatever is called first
    [ModuleInitializer]
    internal static void OnLoad() => Attach();
#pragma warning restore CA2255

    /// <summary>Sets up the kernel integration once; a no-op outside a kernel. <see cref="Kit.Setup"/> calls it.</summary>
    public static void Attach()
    {
        FSharpCoreBinding.Install();   // first: the formatter below already names Plotly.NET's types
        if (InKernel && Interlocked.Exchange(ref registered, 1) == 0) RegisterFormatter();
    }

    // Kept out of Attach's body so the Formatting assembly is only touched inside a kernel.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void RegisterFormatter()
    {
        // Registered last, so it takes precedence over Plotly.NET.Interactive's CDN-only formatter if that was loaded first.
        Formatter.Register<GenericChart>((chart, writer) => writer.Write(NotebookCharts.Html(chart)), HtmlFormatter.MimeType);
        Formatter.Register<GenericChart>((chart, writer) => writer.Write(NotebookCharts.Png(chart)), PngMimeType);
        Formatter.Register<ResultTable>((table, writer) => writer.Write(table.ToHtml()), HtmlFormatter.MimeType);
        SetMimeTypes();
    }

    /// <summary>Applies a change of <see cref="NotebookCharts.Pictures"/> to the kernel's formatters (a no-op outside a kernel).</summary>
    internal static void Refresh()
    {
        if (ChartFormatterRegistered) SetMimeTypes();
    }

    // The kernel formats a displayed value once per preferred MIME type: the picture is a second output of the chart.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void SetMimeTypes() =>
        Formatter.SetPreferredMimeTypesFor(typeof(GenericChart), NotebookCharts.Pictures ? [HtmlFormatter.MimeType, PngMimeType] : [HtmlFormatter.MimeType]);

    private const string PngMimeType = "image/png";
}

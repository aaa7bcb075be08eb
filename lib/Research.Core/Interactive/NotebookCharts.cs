using Plotly.NET;
using Research.Charts;

namespace Research.Interactive;

/// <summary>Where a notebook's charts get plotly.js from.</summary>
public enum PlotlySource
{
    /// <summary>The kit's own copy (the one Plotly.NET embeds), sent once per kernel session: charts draw offline.</summary>
    Embedded,

    /// <summary>plotly.js from its CDN, as Plotly.NET.Interactive does: smaller outputs, but blank charts offline.</summary>
    Cdn,
}

/// <summary>The names users type for a <see cref="PlotlySource"/> (<c>--plotly-js</c>, <c>RESEARCH_PLOTLY_JS</c>).</summary>
public static class PlotlySourceNames
{
    /// <summary>Every accepted name, in the order help text lists them.</summary>
    public static IReadOnlyList<string> All { get; } = [Name(PlotlySource.Embedded), Name(PlotlySource.Cdn)];

    /// <summary>The lower-case name of <paramref name="source"/>.</summary>
    public static string Name(PlotlySource source) => source switch
    {
        PlotlySource.Embedded => "embedded",
        PlotlySource.Cdn => "cdn",
        _ => throw new ArgumentOutOfRangeException(nameof(source), source, "PlotlySource: Embedded or Cdn"),
    };

    /// <summary>Parses a name, ignoring case and surrounding blanks; false for anything else.</summary>
    public static bool TryParse(string? text, out PlotlySource source)
    {
        var name = text?.Trim();
        foreach (var candidate in Enum.GetValues<PlotlySource>())
            if (string.Equals(name, Name(candidate), StringComparison.OrdinalIgnoreCase)) { source = candidate; return true; }
        source = default;
        return false;
    }
}

/// <summary>
/// How charts look in a notebook kernel. The first chart of a session carries plotly.js (about 3.6 MB) and defines
/// the page's <c>Plotly</c>; later charts wait for it. Both Polyglot (VS Code) and Jupyter show a notebook's outputs
/// in one page, so one copy serves every chart, and an executed notebook exported to HTML needs no network.
/// </summary>
public static class NotebookCharts
{
    /// <summary>The environment variable that sets the default <see cref="Source"/> in a fresh kernel.</summary>
    public const string EnvironmentVariable = "RESEARCH_PLOTLY_JS";

    /// <summary>The environment variable that turns on <see cref="Pictures"/> in a fresh kernel (value <c>png</c>).</summary>
    public const string PicturesVariable = "RESEARCH_CHART_PICTURES";

    private static readonly object Gate = new();
    private static bool plotlySent;
    private static PlotlySource source = FromEnvironment();
    private static bool pictures = string.Equals(Environment.GetEnvironmentVariable(PicturesVariable), "png", StringComparison.OrdinalIgnoreCase);
    private static (GenericChart? Chart, byte[]? Picture) lastDrawn;

    /// <summary>
    /// Embedded (default) or Cdn; <c>RESEARCH_PLOTLY_JS=cdn</c> sets the default. Switching to Embedded sends
    /// plotly.js again with the next chart.
    /// </summary>
    public static PlotlySource Source
    {
        get { lock (Gate) return source; }
        set
        {
            if (!Enum.IsDefined(value)) throw new ArgumentOutOfRangeException(nameof(value), value, "PlotlySource: Embedded or Cdn");
            lock (Gate) { if (value != source) plotlySent = false; source = value; }
        }
    }

    /// <summary>
    /// Sends plotly.js again with the next chart, e.g. after clearing the output that held it. (A page that already
    /// has <c>Plotly</c> does not run the second copy.)
    /// </summary>
    public static void ResendPlotly() { lock (Gate) plotlySent = false; }

    /// <summary>
    /// Whether each chart also carries a static picture: an <c>image/png</c> output beside its <c>text/html</c>, and
    /// the same picture inside the HTML until the interactive chart replaces it. Viewers that run no JavaScript
    /// (GitHub's notebook view, nbconvert's markdown and PDF exports, a sanitised page) then show the chart too.
    /// Off by default: pictures are drawn by headless Chromium (<see cref="ChartImages"/>: about 3 s to start once,
    /// then about 0.3 s a chart), which a live session need not pay. <c>research notebooks run --write</c> turns it on
    /// (<c>RESEARCH_CHART_PICTURES=png</c> in the kernel's environment); set it in a cell before saving a notebook of
    /// your own to get the same.
    /// </summary>
    public static bool Pictures
    {
        get { lock (Gate) return pictures; }
        set
        {
            lock (Gate) pictures = value;
            KernelIntegration.Refresh();
        }
    }

    /// <summary>The <c>text/html</c> the kernel shows for <paramref name="chart"/> (with its picture when <see cref="Pictures"/>).</summary>
    public static string Html(GenericChart chart)
    {
        ArgumentNullException.ThrowIfNull(chart);
        PlotlyLoader loader;
        lock (Gate)
        {
            loader = source == PlotlySource.Cdn ? PlotlyLoader.Cdn : plotlySent ? PlotlyLoader.WaitForPage : PlotlyLoader.Inline;
            if (loader == PlotlyLoader.Inline) plotlySent = true;
        }
        byte[]? picture = null;
        if (Pictures)
        {
            picture = Draw(chart);
            lock (Gate) lastDrawn = (chart, picture);   // the image/png output of the same display reuses it
        }
        return ChartHtml.Fragment(chart, loader: loader, picture: picture);
    }

    /// <summary>The <c>image/png</c> output the kernel stores for <paramref name="chart"/>: its picture, base64.</summary>
    public static string Png(GenericChart chart)
    {
        ArgumentNullException.ThrowIfNull(chart);
        byte[]? picture = null;
        lock (Gate)
        {
            if (ReferenceEquals(lastDrawn.Chart, chart)) picture = lastDrawn.Picture;
            lastDrawn = default;
        }
        return Convert.ToBase64String(picture ?? Draw(chart));
    }

    // One browser per kernel, started at the first picture and closed when the kernel ends. Formatters are
    // synchronous; the browser's protocol is not: waited for off the caller's context, so nothing deadlocks.
    private static byte[] Draw(GenericChart chart) => Task.Run(() => ChartImages.Shared.PngAsync(chart)).GetAwaiter().GetResult();

    // Anything but a known name keeps the offline default: a typo must not blank every chart.
    private static PlotlySource FromEnvironment() =>
        PlotlySourceNames.TryParse(Environment.GetEnvironmentVariable(EnvironmentVariable), out var parsed) ? parsed : PlotlySource.Embedded;
}

using System.Net;
using System.Text;
using System.Text.Json;
using Plotly.NET;

namespace Research.Charts;

/// <summary>
/// Turns Plotly.NET charts into HTML: a fragment per chart, and standalone pages with plotly.js inline so they
/// work offline. Chart builders stay free of HTML; only the CLI, the notebook runner and reports call this.
/// </summary>
public static class ChartHtml
{
    /// <summary>The plotly.js version Plotly.NET embeds (and the one fragments fetch when no Plotly is loaded).</summary>
    public static string PlotlyVersion => Embedded.Value.Version;

    /// <summary>The minified plotly.js source shipped inside Plotly.NET (about 3.6 MB).</summary>
    public static string PlotlyJs => Embedded.Value.Source;

    private static readonly Lazy<(string Version, string Source)> Embedded = new(LoadPlotlyJs);

    /// <summary>
    /// A <c>div</c> and a script that draws <paramref name="chart"/> into it. Where plotly.js is already on the page
    /// (pages from <c>Page</c>) it draws at once; elsewhere <paramref name="loader"/> says where plotly.js comes from.
    /// With <paramref name="picture"/> (a PNG of the chart, <see cref="ChartImages"/>) the <c>div</c> holds that picture
    /// until the interactive chart replaces it, so a viewer that runs no JavaScript (GitHub, a sanitised export) shows
    /// the picture, and one that cannot load plotly.js keeps it with a note.
    /// </summary>
    public static string Fragment(GenericChart chart, string? id = null, PlotlyLoader loader = PlotlyLoader.Cdn, byte[]? picture = null)
    {
        id ??= "chart-" + Guid.NewGuid().ToString("N")[..12];
        var json = GenericChart.toFigureJson(chart);
        // "</" inside a <script> ends it wherever it appears (a trace named "</script>" would); "<\/" is the same JSON.
        var figure = json.Replace("</", "<\\/");
        var prelude = loader == PlotlyLoader.Inline ? InlinePlotly() : "";
        var still = picture is null ? "" : Picture(json, picture);
        var fallback = loader switch
        {
            PlotlyLoader.Cdn =>
                $"var s = document.createElement('script'); s.src = 'https://cdn.plot.ly/plotly-{PlotlyVersion}.min.js'; " +
                "s.onload = draw; " +
                // Offline, a CDN chart would stay blank without a word; say why and how to get an offline one.
                "s.onerror = function () { fail('plotly.js could not be loaded from its CDN (offline?): use embedded plotly.js (research notebooks run --plotly-js embedded, " +
                "or NotebookCharts.Source = PlotlySource.Embedded)'); }; " +
                "document.head.appendChild(s);",
            // An earlier output of the same page carries plotly.js; outputs can arrive before it has run.
            _ => "var tries = 0; var wait = setInterval(function () { if (typeof Plotly !== 'undefined') { clearInterval(wait); draw(); } " +
                 "else if (++tries > 100) { clearInterval(wait); " +
                 "fail('plotly.js is not on this page: run the notebook from its first chart, or call NotebookCharts.ResendPlotly()'); } }, 100);",
        };
        return $$"""
            {{prelude}}<div id="{{id}}" class="research-chart">{{still}}</div>
            <script type="text/javascript">
            (function () {
              var id = '{{id}}';
              var figure = {{figure}};
              var draw = function () {
                Plotly.newPlot(id, figure.data, figure.layout, { responsive: true }).then(function () {
                  var still = document.getElementById(id).querySelector('.research-chart-picture');
                  if (still) still.remove();
                });
              };
              // Where the chart cannot be drawn, a picture stays with a note under it; without one the note is all.
              var fail = function (message) {
                var div = document.getElementById(id);
                if (!div.querySelector('.research-chart-picture')) { div.textContent = message; return; }
                var note = document.createElement('p'); note.textContent = message; div.appendChild(note);
              };
              if (typeof Plotly !== 'undefined') { draw(); return; }
              {{fallback}}
            })();
            </script>
            """;
    }

    // The picture at the chart's own size, scaled down to fit narrower outputs; its title as the alternative text.
    private static string Picture(string figureJson, byte[] png)
    {
        using var figure = JsonDocument.Parse(figureJson);
        var title = figure.RootElement.TryGetProperty("layout", out var layout) && layout.TryGetProperty("title", out var t)
            ? t.ValueKind == JsonValueKind.String ? t.GetString() : t.TryGetProperty("text", out var text) ? text.GetString() : null
            : null;
        return $"<img class=\"research-chart-picture\" src=\"data:image/png;base64,{Convert.ToBase64String(png)}\" " +
               $"alt=\"{WebUtility.HtmlEncode(title ?? "chart")}\" style=\"max-width:100%;height:auto\">";
    }

    /// <summary>
    /// plotly.js as a script that defines the page's <c>Plotly</c> unless it already exists. The source is run with
    /// <c>define</c>, <c>module</c> and <c>exports</c> hidden, so that under require.js (classic Jupyter) it still
    /// sets the global instead of registering an anonymous AMD module.
    /// </summary>
    public static string InlinePlotly() =>
        "<script type=\"text/javascript\">if (typeof Plotly === 'undefined') { (function (define, module, exports) {\n" +
        PlotlyJs + "\n}).call(window); }</script>\n";

    /// <summary>A standalone HTML page: plotly.js inline in the head, then <paramref name="bodyParts"/> in order.</summary>
    public static string Page(string title, IEnumerable<string> bodyParts)
    {
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
            .Append("<title>").Append(WebUtility.HtmlEncode(title)).Append("</title>\n")
            .Append("<style>").Append(Style).Append("</style>\n")
            .Append("<script type=\"text/javascript\">").Append(PlotlyJs).Append("</script>\n")
            .Append("</head>\n<body>\n<main>\n");
        foreach (var part in bodyParts) html.Append(part).Append('\n');
        html.Append("</main>\n</body>\n</html>\n");
        return html.ToString();
    }

    /// <summary>A page holding the given charts under a heading.</summary>
    public static string Page(string title, IEnumerable<GenericChart> charts) =>
        Page(title, new[] { $"<h1>{WebUtility.HtmlEncode(title)}</h1>" }.Concat(charts.Select(c => Fragment(c))));

    private const string Style =
        "body{font-family:system-ui,sans-serif;margin:2rem;color:#1f2933}main{max-width:1000px;margin:auto}" +
        "pre{background:#f5f7fa;padding:.75rem;overflow-x:auto}.research-chart{margin:1rem 0}" +
        "table{border-collapse:collapse}td,th{border:1px solid #cbd2d9;padding:.25rem .5rem}";

    private static (string, string) LoadPlotlyJs()
    {
        var assembly = typeof(GenericChart).Assembly;
        var name = assembly.GetManifestResourceNames()
            .Single(n => n.StartsWith("Plotly.NET.plotly-", StringComparison.Ordinal) && n.EndsWith(".min.js", StringComparison.Ordinal));
        using var stream = assembly.GetManifestResourceStream(name)!;
        using var reader = new StreamReader(stream);
        var version = name["Plotly.NET.plotly-".Length..^".min.js".Length];
        return (version, reader.ReadToEnd());
    }
}

/// <summary>Where a chart fragment gets plotly.js when the page has none.</summary>
public enum PlotlyLoader
{
    /// <summary>Loads the same plotly.js version from its CDN.</summary>
    Cdn,

    /// <summary>Carries plotly.js itself (about 3.6 MB), for the first chart of a notebook session.</summary>
    Inline,

    /// <summary>Waits for an earlier output of the same page to define <c>Plotly</c>.</summary>
    WaitForPage,
}

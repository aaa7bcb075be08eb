using System.Globalization;
using System.Net;
using System.Text.Json;
using Plotly.NET;
using Research.Charts;

namespace Research.Experiments;

/// <summary>The JSON document of one run: what <c>--json</c> prints and <c>result.json</c> holds.</summary>
/// <param name="Environment">Threads, versions and CPU the numbers came from (timings and float results depend on them).</param>
public sealed record ExperimentDocument(
    string Id, string Title, IReadOnlyList<int> Seeds, string Device, double ElapsedSeconds, DateTime CreatedUtc, object Config, object Result,
    Platform.RunEnvironment? Environment = null);

/// <summary>An output folder or file that cannot be written; the message names it.</summary>
public sealed class OutputException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Writes a run into <c>&lt;out&gt;/&lt;id&gt;/</c>: result.json, one CSV per table, index.html with the charts
/// (plotly.js inline, so the folder works offline) and each chart's figure in charts/&lt;name&gt;.json. The folder is built beside its final place and renamed into
/// it, so a failed run never leaves half-written output and a previous run stays intact until replaced.
/// </summary>
public static class ExperimentWriter
{
    /// <summary>Writes the run and returns the experiment's folder.</summary>
    public static string Write(string outDir, ExperimentDefinition definition, ExperimentOutput output, ExperimentDocument document)
    {
        var root = PrepareFolder(outDir);
        var final = Path.Combine(root, definition.Id);
        try
        {
            AtomicFolder.Write(final, partial =>
            {
                File.WriteAllText(Path.Combine(partial, "result.json"), ToJson(document));
                foreach (var table in output.Tables)
                    File.WriteAllText(Path.Combine(partial, table.Name + ".csv"), table.ToCsv());
                // Each chart's figure (plotly.js's data and layout) as JSON, for pictures made later from this run (research gallery).
                Directory.CreateDirectory(Path.Combine(partial, ChartsFolder));
                foreach (var chart in output.Charts)
                    File.WriteAllText(FigurePath(partial, chart.Name), GenericChart.toFigureJson(chart.Chart));
                File.WriteAllText(Path.Combine(partial, "index.html"), Page(definition, output, document));
            });
            return final;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new OutputException($"cannot write results to '{final}': {e.Message}", e);
        }
    }

    /// <summary>The folder of an experiment's output that holds its charts' figures.</summary>
    public const string ChartsFolder = "charts";

    /// <summary>Where the figure JSON of chart <paramref name="chartName"/> is in the experiment folder <paramref name="experimentFolder"/>.</summary>
    public static string FigurePath(string experimentFolder, string chartName) => Path.Combine(experimentFolder, ChartsFolder, chartName + ".json");

    /// <summary>Creates <paramref name="outDir"/> if needed and checks it can be written; returns its full path.
    /// <paramref name="role"/> names the folder in the error ("output", "cache").</summary>
    public static string PrepareFolder(string outDir, string role = "output")
    {
        var full = Path.GetFullPath(outDir);
        try
        {
            Directory.CreateDirectory(full);
            var probe = Path.Combine(full, $".write-test-{Guid.NewGuid():N}");
            File.WriteAllText(probe, "");
            File.Delete(probe);
            return full;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new OutputException($"{role} folder '{full}' is not writable: {e.Message}", e);
        }
    }

    /// <summary>The document as indented camelCase JSON.</summary>
    public static string ToJson(ExperimentDocument document) => JsonSerializer.Serialize(document, ExperimentConfigs.Json);

    private static string Page(ExperimentDefinition definition, ExperimentOutput output, ExperimentDocument document)
    {
        var parts = new List<string>
        {
            $"<h1>{Html(definition.Title)}</h1>",
            $"<p>{Html(definition.Description)}</p>",
            string.Create(CultureInfo.InvariantCulture, $"<p>Experiment <code>{Html(definition.Id)}</code>, {SeedsText(document.Seeds)}, device {Html(document.Device)}, ") +
            string.Create(CultureInfo.InvariantCulture, $"{document.ElapsedSeconds:F1} s, {document.CreatedUtc:yyyy-MM-dd HH:mm} UTC.</p>"),
            $"<pre>{Html(string.Join('\n', output.Summary))}</pre>",
        };
        parts.AddRange(output.Tables.Where(t => t.Display).Select(t => t.ToHtml()));
        foreach (var chart in output.Charts)
            parts.Add($"<h2 id=\"{Html(chart.Name)}\">{Html(chart.Title)}</h2>\n" + ChartHtml.Fragment(chart.Chart, "chart-" + chart.Name));
        parts.Add("<h2>Data</h2><ul>" + string.Concat(output.Tables.Select(t => $"<li><a href=\"{Html(t.Name)}.csv\">{Html(t.Name)}.csv</a></li>")) +
                  "<li><a href=\"result.json\">result.json</a></li></ul>");
        return ChartHtml.Page(definition.Title, parts);
    }

    private static string Html(string s) => WebUtility.HtmlEncode(s);

    private static string SeedsText(IReadOnlyList<int> seeds) => seeds.Count switch
    {
        0 => "no seed (nothing drawn at random)",
        1 => $"seed {seeds[0]}",
        _ => $"seeds {string.Join(", ", seeds)}",
    };
}

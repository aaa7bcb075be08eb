using System.Globalization;
using System.Net;
using System.Text;

namespace Research.Experiments;

/// <summary>One experiment in a reproduction, as the index page lists it.</summary>
public sealed record ReportEntry(string Id, string Title, double ElapsedSeconds, IReadOnlyList<NamedChart> Charts, string? Error = null);

/// <summary>The <c>index.html</c> of <c>research reproduce</c>: every experiment and a link to every chart.</summary>
public static class ReportIndex
{
    /// <summary>Writes <c>&lt;outDir&gt;/index.html</c> (atomically) and returns its path.</summary>
    public static string Write(string outDir, IReadOnlyList<ReportEntry> entries, string heading)
    {
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>")
            .Append(Html(heading)).Append("</title>\n")
            .Append("<style>body{font-family:system-ui,sans-serif;margin:2rem;color:#1f2933}main{max-width:900px;margin:auto}" +
                    ".failed{color:#b00020}</style>\n</head>\n<body>\n<main>\n")
            .Append("<h1>").Append(Html(heading)).Append("</h1>\n<ul>\n");
        foreach (var e in entries)
        {
            html.Append(CultureInfo.InvariantCulture, $"<li><a href=\"{Html(e.Id)}/index.html\">{Html(e.Title)}</a> (<code>{Html(e.Id)}</code>, {e.ElapsedSeconds:F1} s)");
            if (e.Error is not null) html.Append($" <span class=\"failed\">failed: {Html(e.Error)}</span>");
            if (e.Charts.Count > 0)
            {
                html.Append("\n<ul>");
                foreach (var c in e.Charts)
                    html.Append($"<li><a href=\"{Html(e.Id)}/index.html#{Html(c.Name)}\">{Html(c.Title)}</a></li>");
                html.Append("</ul>");
            }
            html.Append("</li>\n");
        }
        html.Append("</ul>\n</main>\n</body>\n</html>\n");

        var root = ExperimentWriter.PrepareFolder(outDir);
        var path = Path.Combine(root, "index.html");
        var temp = path + $".{Guid.NewGuid():N}.tmp";
        File.WriteAllText(temp, html.ToString());
        File.Move(temp, path, overwrite: true);
        return path;
    }

    private static string Html(string s) => WebUtility.HtmlEncode(s);
}

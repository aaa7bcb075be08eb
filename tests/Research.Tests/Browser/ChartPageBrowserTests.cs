using Plotly.NET;
using Research.Charts;
using Xunit;

namespace Research.Tests.Browser;

/// <summary>
/// Chart pages opened in real headless Chromium. The HTML-string tests cannot tell whether plotly.js actually
/// runs and draws; these can. Negative controls show each check (drawn, errors, network) is able to fail.
/// </summary>
public sealed class ChartPageBrowserTests(SharedChromium chromium) : IClassFixture<SharedChromium>, IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("research-browser-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static GenericChart Line(string name, double slope) =>
        Plotly.NET.CSharp.Chart.Line<double, double, string>(
            x: [0, 1, 2, 3], y: [0, slope, 2 * slope, 3 * slope], Name: name);

    private string Write(string html)
    {
        var path = Path.Combine(_dir, Guid.NewGuid().ToString("N") + ".html");
        File.WriteAllText(path, html);
        return path;
    }

    [Fact]
    public void Page_with_two_charts_draws_both_offline_without_errors()
    {
        var file = Write(ChartHtml.Page("Two charts", [Line("loss", 1), Line("lr", -0.5)]));

        var report = chromium.Browser.Open(file);

        Assert.Equal(2, report.Charts);
        Assert.Equal(2, report.ChartsDrawn);
        Assert.Empty(report.SevereLogs);
        Assert.Empty(report.NetworkResources);
    }

    [Fact]
    public void Negative_control_a_script_error_is_reported()
    {
        var file = Write(ChartHtml.Page("Broken script",
            [ChartHtml.Fragment(Line("loss", 1)), "<script>throw new Error('deliberate-failure-42');</script>"]));

        var report = chromium.Browser.Open(file, TimeSpan.FromSeconds(5));

        Assert.Equal(1, report.ChartsDrawn);   // the chart before the error still draws
        Assert.Contains(report.SevereLogs, m => m.Contains("deliberate-failure-42", StringComparison.Ordinal));
    }

    [Fact]
    public void Negative_control_a_fragment_without_plotly_draws_nothing_and_is_caught_fetching()
    {
        // A bare fragment (no inline plotly.js) falls back to loading plotly.js from its CDN. Point that at loopback
        // port 9 instead: Chromium blocks it as an unsafe port, so the load fails at once without any connection.
        var fragment = ChartHtml.Fragment(Line("loss", 1));
        var cdn = $"https://cdn.plot.ly/plotly-{ChartHtml.PlotlyVersion}.min.js";
        Assert.Contains(cdn, fragment, StringComparison.Ordinal);
        const string Refused = "http://127.0.0.1:9/plotly.min.js";
        var file = Write($"<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body>{fragment.Replace(cdn, Refused, StringComparison.Ordinal)}</body></html>");

        var report = chromium.Browser.Open(file, TimeSpan.FromSeconds(3));

        Assert.Equal(1, report.Charts);
        Assert.Equal(0, report.ChartsDrawn);
        Assert.Contains(Refused, report.NetworkResources);
        Assert.NotEmpty(report.SevereLogs);
        // The blank chart says why instead of staying silent.
        var text = Assert.Single(report.ChartTexts);
        Assert.Contains("plotly.js could not be loaded", text, StringComparison.Ordinal);
        Assert.Contains("--plotly-js embedded", text, StringComparison.Ordinal);
    }

    [Fact]
    public void A_trace_name_holding_a_closing_script_tag_cannot_break_out_of_the_chart_script()
    {
        var file = Write(ChartHtml.Page("Hostile name", [Line("</script><script>console.error('escaped')</script>", 1)]));

        var report = chromium.Browser.Open(file);

        Assert.Equal(1, report.ChartsDrawn);
        Assert.Empty(report.SevereLogs);
    }

    // A real picture of the line chart, drawn once for the tests below by the process's one drawing browser.
    private static readonly Lazy<byte[]> LinePicture = new(() => ChartImages.Shared.PngAsync(Line("loss", 1)).GetAwaiter().GetResult());

    [Fact]
    public void A_picture_shows_where_scripts_are_stripped_as_by_a_sanitiser()
    {
        // GitHub's notebook view and sanitised exports drop every script: the chart's picture is what remains.
        var fragment = ChartHtml.Fragment(Line("loss", 1), picture: LinePicture.Value);
        var stripped = System.Text.RegularExpressions.Regex.Replace(fragment, "<script[^>]*>.*?</script>", "", System.Text.RegularExpressions.RegexOptions.Singleline);
        Assert.DoesNotContain("<script", stripped);
        var file = Write($"<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body>{stripped}</body></html>");

        var report = chromium.Browser.Open(file, TimeSpan.FromSeconds(3));

        Assert.Equal(1, report.PicturesShown);
        Assert.Equal(0, report.ChartsDrawn);
        Assert.Empty(report.NetworkResources);
    }

    [Fact]
    public void A_picture_stays_with_a_note_when_plotly_js_cannot_be_loaded()
    {
        var fragment = ChartHtml.Fragment(Line("loss", 1), picture: LinePicture.Value);
        var cdn = $"https://cdn.plot.ly/plotly-{ChartHtml.PlotlyVersion}.min.js";
        var file = Write($"<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body>{fragment.Replace(cdn, "http://127.0.0.1:9/plotly.min.js", StringComparison.Ordinal)}</body></html>");

        var report = chromium.Browser.Open(file, TimeSpan.FromSeconds(3));

        Assert.Equal(0, report.ChartsDrawn);
        Assert.Equal(1, report.PicturesShown);
        Assert.Contains("plotly.js could not be loaded", Assert.Single(report.ChartTexts), StringComparison.Ordinal);
    }

    [Fact]
    public void Where_plotly_js_draws_the_picture_gives_way_to_the_interactive_chart()
    {
        var file = Write(ChartHtml.Page("Pictured", [ChartHtml.Fragment(Line("loss", 1), picture: LinePicture.Value)]));

        var report = chromium.Browser.Open(file);

        Assert.Equal(1, report.ChartsDrawn);
        Assert.Equal(0, report.PicturesShown);
        Assert.Empty(report.SevereLogs);
    }
}

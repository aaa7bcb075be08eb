using Plotly.NET;
using Plotly.NET.CSharp;
using Research.Charts;
using Research.Tests.Browser;
using Xunit;

namespace Research.Tests.Charts;

/// <summary>
/// Static chart pictures drawn by plotly.js in headless Chromium, looked at pixel by pixel: the picture has the chart's
/// size and shows its trace in the trace's colour (a control chart in another colour shows none of it).
/// </summary>
public sealed class ChartImagesTests
{
    // One bar covering most of a 400 × 300 plot, in one pure colour.
    private static GenericChart Bar(string colour) =>
        Plotly.NET.CSharp.Chart.Column<double, string, string>(values: [10], Keys: new[] { "only" }, MarkerColor: Color.fromHex(colour))
            .WithSize(400, 300);

    [Fact]
    public async Task A_picture_has_the_charts_size_and_shows_its_trace_in_its_colour()
    {
        HeadlessChromium.RequireChromium();
        var images = ChartImages.Shared;   // the process's one drawing browser, as the kernel's formatter uses it

        var red = PngPixels.Decode(await images.PngAsync(Bar("#FF0000"), TestContext.Current.CancellationToken));
        var blue = PngPixels.Decode(await images.PngAsync(Bar("#0000FF"), TestContext.Current.CancellationToken));

        Assert.Equal((400, 300), (red.Width, red.Height));
        Assert.Equal((400, 300), (blue.Width, blue.Height));
        // The bar fills a good part of the plot area (about 300 × 170 of 400 × 300 pixels), and only in its own colour.
        Assert.InRange(red.Share(255, 0, 0), 0.15, 0.8);
        Assert.Equal(0, blue.Share(255, 0, 0));
        Assert.InRange(blue.Share(0, 0, 255), 0.15, 0.8);
    }

    [Fact]
    public async Task A_browser_setting_that_names_no_file_is_an_error_naming_the_setting()
    {
        var before = Environment.GetEnvironmentVariable(ChartImages.BrowserVariable);
        Environment.SetEnvironmentVariable(ChartImages.BrowserVariable, "/nonexistent/chromium");
        try
        {
            var error = await Assert.ThrowsAsync<ChartImageException>(() => ChartImages.StartAsync(TestContext.Current.CancellationToken));
            Assert.Contains(ChartImages.BrowserVariable, error.Message);
        }
        finally { Environment.SetEnvironmentVariable(ChartImages.BrowserVariable, before); }
    }
}

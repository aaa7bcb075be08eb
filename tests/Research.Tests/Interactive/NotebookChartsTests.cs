using System.Reflection;
using System.Runtime.Loader;
using Research.Charts;
using Research.Interactive;
using Research.Platform;
using Research.Tests.Browser;
using Xunit;

namespace Research.Tests.Interactive;

public sealed class NotebookChartsTests : IDisposable
{
    private readonly PlotlySource _before = NotebookCharts.Source;

    public void Dispose() { NotebookCharts.Source = _before; NotebookCharts.ResendPlotly(); NotebookCharts.Pictures = false; }

    private static Plotly.NET.GenericChart Line() =>
        Plotly.NET.CSharp.Chart.Line<double, double, string>(x: [0, 1, 2], y: [0, 1, 4], Name: "y");

    [Fact]
    public void Embedded_sends_plotly_js_with_the_first_chart_only_and_again_after_a_switch()
    {
        NotebookCharts.Source = PlotlySource.Embedded;
        NotebookCharts.ResendPlotly();

        var first = NotebookCharts.Html(Line());
        var second = NotebookCharts.Html(Line());
        NotebookCharts.Source = PlotlySource.Cdn;
        var cdn = NotebookCharts.Html(Line());
        NotebookCharts.Source = PlotlySource.Embedded;
        var again = NotebookCharts.Html(Line());

        Assert.Contains(ChartHtml.PlotlyJs, first);
        Assert.DoesNotContain(ChartHtml.PlotlyJs[..2000], second);
        Assert.DoesNotContain("cdn.plot.ly", second);       // offline: waits for the page's copy, never fetches
        Assert.Contains("cdn.plot.ly", cdn);
        Assert.DoesNotContain(ChartHtml.PlotlyJs[..2000], cdn);
        Assert.Contains(ChartHtml.PlotlyJs, again);
    }

    [Fact]
    public void With_pictures_the_html_holds_the_same_picture_as_the_png_output()
    {
        HeadlessChromium.RequireChromium();
        var chart = Line();

        NotebookCharts.Pictures = true;
        var html = NotebookCharts.Html(chart);
        var png = NotebookCharts.Png(chart);
        NotebookCharts.Pictures = false;
        var plain = NotebookCharts.Html(chart);

        Assert.Contains($"<img class=\"research-chart-picture\" src=\"data:image/png;base64,{png}\"", html);
        var picture = Research.Tests.Charts.PngPixels.Decode(Convert.FromBase64String(png));
        Assert.Equal(ChartImages.SizeOf(chart), (picture.Width, picture.Height));
        Assert.DoesNotContain("<img", plain);
    }

    [Fact]
    public void A_fragment_carries_the_given_picture_with_the_charts_title_as_its_text()
    {
        var chart = Line().WithTitle("loss <by> step");
        byte[] png = [0x89, 0x50, 0x4E, 0x47, 1, 2, 3];

        var fragment = ChartHtml.Fragment(chart, picture: png);

        Assert.Contains($"src=\"data:image/png;base64,{Convert.ToBase64String(png)}\"", fragment);
        Assert.Contains("alt=\"loss &lt;by&gt; step\"", fragment);
        Assert.DoesNotContain("<img", ChartHtml.Fragment(chart));
    }

    [Fact]
    public void Inline_plotly_cannot_end_its_script_early()
    {
        // The source goes inside one <script>; a "</script" in it would cut the page's copy short.
        Assert.DoesNotContain("</script", ChartHtml.PlotlyJs, StringComparison.OrdinalIgnoreCase);
        Assert.StartsWith("<script", ChartHtml.InlinePlotly());
    }

    [Fact]
    public void An_undefined_source_is_refused_naming_the_values()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => NotebookCharts.Source = (PlotlySource)7);
        Assert.Contains("Embedded or Cdn", e.Message);
    }

    [Fact]
    public void Every_source_has_one_name_that_parses_back_and_nothing_else_parses()
    {
        var sources = Enum.GetValues<PlotlySource>();
        Assert.Equal(sources.Length, PlotlySourceNames.All.Distinct().Count());
        foreach (var source in sources)
        {
            var name = PlotlySourceNames.Name(source);
            Assert.Equal(name.ToLowerInvariant(), name);
            Assert.True(PlotlySourceNames.TryParse($" {name.ToUpperInvariant()} ", out var parsed));
            Assert.Equal(source, parsed);
        }
        foreach (var bad in new[] { null, "", "cdnx", "embed", "0", "1" })
            Assert.False(PlotlySourceNames.TryParse(bad, out _), bad);
    }

    [Fact]
    public void The_FSharp_Core_resolver_answers_only_FSharp_Core_of_the_loaded_major_version()
    {
        var loaded = typeof(Microsoft.FSharp.Core.FSharpOption<>).Assembly;
        var version = loaded.GetName().Version!;

        var newerMinor = FSharpCoreBinding.Resolve(AssemblyLoadContext.Default, new AssemblyName($"FSharp.Core, Version={version.Major}.{version.Minor + 1}.0.0"));
        var nextMajor = FSharpCoreBinding.Resolve(AssemblyLoadContext.Default, new AssemblyName($"FSharp.Core, Version={version.Major + 1}.0.0.0"));
        var other = FSharpCoreBinding.Resolve(AssemblyLoadContext.Default, new AssemblyName($"Plotly.NET, Version={version}"));

        Assert.Same(loaded, newerMinor);
        Assert.Equal((new Version(version.Major, version.Minor + 1, 0, 0), version), FSharpCoreBinding.LastRedirect);
        Assert.Null(nextMajor);
        Assert.Null(other);
    }

    [Fact]
    public void Outside_a_kernel_no_formatter_is_registered()
    {
        KernelIntegration.Attach();

        Assert.False(KernelIntegration.InKernel);
        Assert.False(KernelIntegration.ChartFormatterRegistered);
        Assert.True(FSharpCoreBinding.IsInstalled);
    }
}

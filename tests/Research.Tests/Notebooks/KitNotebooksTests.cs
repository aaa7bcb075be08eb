using Research.Notebooks;
using Research.Tests.Browser;
using Xunit;

namespace Research.Tests.Notebooks;

/// <summary>Every notebook in notebooks/ runs through the runner, one test case each; its last cell asserts its claims.</summary>
public sealed class KitNotebooksTests
{
    public static TheoryData<string> Notebooks() =>
        new(Directory.GetFiles(Path.Combine(TestPaths.RepoRoot, "notebooks"), "*.ipynb").Select(Path.GetFileName).Order()!);

    [Theory]
    [MemberData(nameof(Notebooks))]
    public async Task Notebook_runs_and_its_claims_hold(string notebook)
    {
        var path = Path.Combine(TestPaths.RepoRoot, "notebooks", notebook);
        var before = await File.ReadAllBytesAsync(path, TestContext.Current.CancellationToken);

        var result = await NotebookRunner.RunAsync(path, new NotebookRunOptions(), TextWriter.Null, TestContext.Current.CancellationToken);

        Assert.True(result.Failure is null, result.Failure?.ToString());
        Assert.True(result.CellsRun > 0);
        // Without --write a run never touches the committed file.
        Assert.Equal(before, await File.ReadAllBytesAsync(path, TestContext.Current.CancellationToken));
    }

    [Fact]
    public void Committed_notebooks_stay_small_and_keep_plotly_js_out()
    {
        foreach (var path in Directory.GetFiles(Path.Combine(TestPaths.RepoRoot, "notebooks"), "*.ipynb"))
        {
            Assert.True(new FileInfo(path).Length < 1_000_000, $"{path} is {new FileInfo(path).Length} bytes");
            Assert.DoesNotContain(Research.Charts.ChartHtml.PlotlyJs[..2000], File.ReadAllText(path));   // no inlined plotly.js
        }
    }
}

/// <summary>The welcome notebook's --html export opened in a real browser: the chart draws, offline, without errors.</summary>
public sealed class WelcomeNotebookBrowserTests(SharedChromium chromium) : IClassFixture<SharedChromium>
{
    [Fact]
    public async Task Html_export_of_00_welcome_draws_its_chart_offline_without_errors()
    {
        var folder = TestPaths.TempFolder();
        var result = await NotebookRunner.RunAsync(Path.Combine(TestPaths.RepoRoot, "notebooks", "00-welcome.ipynb"),
            new NotebookRunOptions(HtmlDirectory: folder), TextWriter.Null, TestContext.Current.CancellationToken);
        Assert.True(result.Failure is null, result.Failure?.ToString());

        var report = chromium.Browser.Open(result.HtmlPath!);

        Assert.Equal(1, report.Charts);
        Assert.Equal(1, report.ChartsDrawn);
        Assert.Empty(report.SevereLogs);
        Assert.Empty(report.NetworkResources);
        Assert.Contains(Research.Charts.ChartHtml.PlotlyJs[..2000], await File.ReadAllTextAsync(result.HtmlPath!, TestContext.Current.CancellationToken));
    }
}

using System.Net;
using System.Text.Json.Nodes;
using Research.Tests.Cli;
using Xunit;

namespace Research.Tests.Notebooks;

/// <summary>
/// The kit's notebooks as C# file-based apps (<c>research notebooks export --to app</c>), written where a user
/// following the README would have them, inside the repository (under artifacts/, which git ignores), so that the
/// repository's Directory.Build.props applies to them as it will to the user's.
/// </summary>
public sealed class KitNotebookAppsTests : IDisposable
{
    // One folder for every run: dotnet run keeps an app's build by the app's path (~/.local/share/dotnet/runfile), so
    // a fixed path reuses it instead of leaving one more behind per test run.
    private readonly string _apps = Path.Combine(TestPaths.RepoRoot, "artifacts", "test-apps", "kit");

    public KitNotebookAppsTests() => Dispose();

    public void Dispose()
    {
        if (Directory.Exists(_apps)) Directory.Delete(_apps, recursive: true);
    }

    [Fact]
    public void Every_kit_notebook_exports_in_one_call_and_every_app_compiles()
    {
        var notebooks = Directory.GetFiles(Path.Combine(TestPaths.RepoRoot, "notebooks"), "*.ipynb");

        var (exit, _, error) = InProcessCli.Run("notebooks", "export", Path.Combine(TestPaths.RepoRoot, "notebooks"), "--to", "app", "--out", _apps);

        Assert.True(exit == 0, error);
        Assert.Equal(notebooks.Select(n => Path.GetFileNameWithoutExtension(n) + ".cs").Order(),
                     Directory.GetFiles(_apps).Select(Path.GetFileName).Order());
        foreach (var app in Directory.GetFiles(_apps, "*.cs"))
        {
            var errors = AppCompiler.Errors(app);
            Assert.True(errors.Count == 0, string.Join('\n', errors));
        }
    }

    [Theory]
    [InlineData("00-welcome")]
    [InlineData("04-fp8-training")]
    public void The_app_runs_to_completion_prints_its_markdown_proves_its_claims_and_writes_its_page(string name)
    {
        var notebook = Path.Combine(TestPaths.RepoRoot, "notebooks", name + ".ipynb");
        Assert.Equal(0, InProcessCli.Run("notebooks", "export", notebook, "--to", "app", "--out", _apps).Exit);
        var app = Path.Combine(_apps, name + ".cs");

        var (exit, output, error) = TestPaths.RunDotnet("run", [app], timeout: TimeSpan.FromMinutes(10));

        Assert.True(exit == 0, $"exit {exit}\n{output}\n{error}");
        // The notebook's own text, read from the .ipynb as Jupyter stores it, not through the exporter.
        var cells = JsonNode.Parse(File.ReadAllText(notebook))!["cells"]!.AsArray();
        var heading = NotebookFolder.Text(cells.First(c => (string?)c!["cell_type"] == "markdown")!["source"]).Split('\n')[0];   // "# Title"
        Assert.Contains(heading, output);
        Assert.Contains("all claims hold", output);
        var page = File.ReadAllText(Path.ChangeExtension(app, ".html"));
        Assert.Contains($">{WebUtility.HtmlEncode(heading.TrimStart('#', ' '))}</h1>", page);
        foreach (var code in cells.Where(c => (string?)c!["cell_type"] == "code").Select(c => NotebookFolder.Text(c!["source"])))
        {
            // A line of each cell that an app keeps as it is (not its #r or usings, which move to the top of the file).
            var line = code.Split('\n').First(l => l.Trim().Length > 0 && !l.StartsWith("#r", StringComparison.Ordinal) && !l.StartsWith("using ", StringComparison.Ordinal));
            Assert.Contains(WebUtility.HtmlEncode(line), page);
        }
        Assert.Contains("class=\"research-chart\"", page);
    }
}

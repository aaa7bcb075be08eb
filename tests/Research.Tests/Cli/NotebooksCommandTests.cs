using Research.Charts;
using Research.Cli;
using Xunit;

namespace Research.Tests.Cli;

public sealed class NotebooksCommandTests
{
    private static (int Exit, string Out, string Err) Research(params string[] args) => InProcessCli.Run(args);

    private static string Notebook(string folder, string name, params string[] cells)
    {
        var notebook = new
        {
            cells = cells.Select(c => new { cell_type = "code", execution_count = (int?)null, metadata = new { }, outputs = Array.Empty<object>(), source = new[] { c } }),
            metadata = new { kernelspec = new { name = ".net-csharp", language = "C#", display_name = ".NET (C#)" } },
            nbformat = 4,
            nbformat_minor = 5,
        };
        var path = Path.Combine(folder, name);
        File.WriteAllText(path, System.Text.Json.JsonSerializer.Serialize(notebook));
        return path;
    }

    [Fact]
    public void A_failing_cell_is_reported_as_notebook_and_cell_with_the_kernels_message_and_exit_code_1()
    {
        var folder = TestPaths.TempFolder();
        var path = Notebook(folder, "fails.ipynb", "var a = 1;", "var b = 2;\nthrow new InvalidOperationException(\"boom\");");
        var before = File.ReadAllBytes(path);

        var (exit, output, error) = Research("notebooks", "run", path, "--write");

        Assert.Equal(ExitCodes.Failed, exit);
        Assert.Contains($"research: {path}:2:", error);
        Assert.Contains("boom", error);
        Assert.Contains("FAIL", output);
        Assert.Equal(before, File.ReadAllBytes(path));
    }

    [Fact]
    public void Passing_notebooks_exit_0_and_their_pages_are_written()
    {
        var folder = TestPaths.TempFolder();
        Notebook(folder, "one.ipynb", "1 + 1");
        var html = Path.Combine(folder, "pages");

        var (exit, output, error) = Research("notebooks", "run", folder, "--html", html);

        Assert.True(exit == ExitCodes.Ok, error);
        Assert.Contains("ok   ", output);
        Assert.True(File.Exists(Path.Combine(html, "one.html")));
    }

    [Fact]
    public void Missing_and_malformed_notebooks_are_bad_input_naming_the_file()
    {
        var folder = TestPaths.TempFolder();
        var broken = Path.Combine(folder, "broken.ipynb");
        File.WriteAllText(broken, "{ \"cells\": [ ");

        var missing = Research("notebooks", "run", Path.Combine(folder, "nope.ipynb"));
        var malformed = Research("notebooks", "run", broken);

        Assert.Equal(ExitCodes.BadInput, missing.Exit);
        Assert.Contains("nope.ipynb", missing.Err);
        Assert.Equal(ExitCodes.BadInput, malformed.Exit);
        Assert.Contains("broken.ipynb", malformed.Err);
        Assert.Single(malformed.Err.Trim().Split('\n'), l => l.StartsWith("research: ", StringComparison.Ordinal));
    }

    [Fact]
    public void Json_that_is_not_a_notebook_is_bad_input_saying_what_is_missing()
    {
        var folder = TestPaths.TempFolder();
        var path = Path.Combine(folder, "data.ipynb");
        File.WriteAllText(path, "{ \"rows\": [1, 2] }");

        var (exit, _, error) = Research("notebooks", "run", path);

        Assert.Equal(ExitCodes.BadInput, exit);
        Assert.Contains("data.ipynb: not an nbformat 4 notebook", error);
    }

    [Fact]
    public void An_unknown_plotly_source_is_refused_naming_the_allowed_values()
    {
        var folder = TestPaths.TempFolder();
        var path = Notebook(folder, "one.ipynb", "1");

        var (exit, _, error) = Research("notebooks", "run", path, "--plotly-js", "local");

        Assert.Equal(ExitCodes.BadInput, exit);
        Assert.Contains("--plotly-js", error);
        Assert.Contains("embedded", error);
    }

    [Fact]
    public void Two_notebooks_with_one_page_name_are_refused_before_running()
    {
        var folder = TestPaths.TempFolder();
        Directory.CreateDirectory(Path.Combine(folder, "a"));
        Directory.CreateDirectory(Path.Combine(folder, "b"));
        Notebook(Path.Combine(folder, "a"), "same.ipynb", "File.WriteAllText(\"ran-a\", \"\");");
        Notebook(Path.Combine(folder, "b"), "same.ipynb", "1");

        var (exit, _, error) = Research("notebooks", "run", folder, "--html", Path.Combine(folder, "pages"));

        Assert.Equal(ExitCodes.BadInput, exit);
        Assert.Contains("same.html", error);
        Assert.False(File.Exists(Path.Combine(folder, "a", "ran-a")));
    }

    [Fact]
    public void Write_without_a_browser_for_the_pictures_is_refused_before_running_naming_the_way_out()
    {
        var folder = TestPaths.TempFolder();
        var path = Notebook(folder, "one.ipynb", "File.WriteAllText(\"ran\", \"\");");
        var before = File.ReadAllBytes(path);
        var setting = Environment.GetEnvironmentVariable(ChartImages.BrowserVariable);
        Environment.SetEnvironmentVariable(ChartImages.BrowserVariable, "/nonexistent/chromium");
        try
        {
            InProcessCli.AssertBadInput(Research("notebooks", "run", path, "--write"), "--no-pictures");
        }
        finally { Environment.SetEnvironmentVariable(ChartImages.BrowserVariable, setting); }
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.False(File.Exists(Path.Combine(folder, "ran")));
    }
}

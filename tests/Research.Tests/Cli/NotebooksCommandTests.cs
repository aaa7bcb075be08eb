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
    public void A_failing_cell_is_reported_as_notebook_cell_line_with_exit_code_1()
    {
        var folder = TestPaths.TempFolder();
        var path = Notebook(folder, "fails.ipynb", "var a = 1;", "var b = 2;\nthrow new InvalidOperationException(\"boom\");");
        var before = File.ReadAllBytes(path);

        var (exit, output, error) = Research("notebooks", "run", path, "--write");

        Assert.Equal(ExitCodes.Failed, exit);
        Assert.Contains($"research: {path}:2:2: ", error);
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
}

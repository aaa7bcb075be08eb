using Research.Notebooks;
using Xunit;
using static Research.Tests.Notebooks.NotebookFolder;

namespace Research.Tests.Notebooks;

public sealed class NotebookInputTests
{
    [Fact]
    public async Task Malformed_json_is_a_NotebookException_naming_the_file_and_line()
    {
        using var folder = new NotebookFolder();
        var path = Path.Combine(folder.Path, "broken.ipynb");
        File.WriteAllText(path, "{\n \"cells\": [\n  {,\n");

        var e = await Assert.ThrowsAsync<NotebookException>(() => Run(path));

        Assert.StartsWith($"{path}:3:", e.Message);
        Assert.Contains("malformed JSON", e.Message);
    }

    [Fact]
    public async Task Json_that_is_not_a_notebook_is_a_NotebookException_naming_the_file()
    {
        using var folder = new NotebookFolder();
        var path = Path.Combine(folder.Path, "data.ipynb");
        File.WriteAllText(path, "{ \"rows\": [1, 2, 3] }");

        var e = await Assert.ThrowsAsync<NotebookException>(() => Run(path));

        Assert.Contains(path, e.Message);
        Assert.Contains("not a notebook", e.Message);
    }

    [Theory]
    [InlineData("{ \"cells\": [], \"nbformat\": 3 }", "nbformat 3")]
    [InlineData("{ \"cells\": [{ \"source\": \"x\" }] }", "cell 1")]
    [InlineData("{ \"cells\": [{ \"cell_type\": \"code\", \"source\": 42 }] }", "cell 1")]
    public async Task Notebook_of_another_format_or_with_broken_cells_is_a_NotebookException_naming_the_problem(string json, string problem)
    {
        using var folder = new NotebookFolder();
        var path = Path.Combine(folder.Path, "odd.ipynb");
        File.WriteAllText(path, json);

        var e = await Assert.ThrowsAsync<NotebookException>(() => Run(path));

        Assert.StartsWith(path, e.Message);
        Assert.Contains(problem, e.Message);
    }

    [Fact]
    public async Task Missing_notebook_is_a_NotebookException_naming_it()
    {
        var path = Path.Combine(Path.GetTempPath(), $"absent-{Guid.NewGuid():N}.ipynb");

        var e = await Assert.ThrowsAsync<NotebookException>(() => Run(path));

        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void Expanding_a_missing_path_is_a_NotebookException_naming_it()
    {
        using var folder = new NotebookFolder();
        var missing = Path.Combine(folder.Path, "nowhere");

        var e = Assert.Throws<NotebookException>(() => NotebookRunner.Expand([folder.Path, missing]));

        Assert.Contains(missing, e.Message);
    }

    [Fact]
    public void Expanding_folders_lists_their_notebooks_sorted_without_hidden_folders_or_duplicates()
    {
        using var folder = new NotebookFolder();
        var b = folder.Write("b.ipynb");
        var a = folder.Write("a.ipynb");
        Directory.CreateDirectory(Path.Combine(folder.Path, "sub"));
        var c = folder.Write(Path.Combine("sub", "c.ipynb"));
        Directory.CreateDirectory(Path.Combine(folder.Path, ".ipynb_checkpoints"));
        folder.Write(Path.Combine(".ipynb_checkpoints", "a-checkpoint.ipynb"));
        File.WriteAllText(Path.Combine(folder.Path, "notes.txt"), "");

        var notebooks = NotebookRunner.Expand([b, folder.Path]);

        Assert.Equal([b, a, c], notebooks);
    }
}

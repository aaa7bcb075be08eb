using System.Text.Json.Nodes;
using Research.Tests.Notebooks;
using Xunit;
using static Research.Tests.Notebooks.NotebookFolder;

namespace Research.Tests.Cli;

/// <summary>
/// <c>research notebooks export --to app</c> on what an app cannot hold: one <c>research:</c> line naming notebook,
/// cell and what, exit 2, and no file written for any notebook of the call, even those that would have converted.
/// </summary>
public sealed class NotebooksExportCommandTests : IDisposable
{
    private readonly NotebookFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    private string Out => Path.Combine(_folder.Path, "apps");

    // Exports a good notebook and the bad one in one call and checks the bad-input contract and that nothing was written.
    private void AssertRefused(string badPath, string named)
    {
        var good = _folder.Write("good.ipynb", Code(ReferenceKit(), "var fine = 1;"));

        var run = InProcessCli.Run("notebooks", "export", good, badPath, "--to", "app", "--out", Out);

        InProcessCli.AssertBadInput(run, named);
        Assert.False(Directory.Exists(Out) && Directory.EnumerateFileSystemEntries(Out).Any(), "an app was written");
    }

    [Theory]
    [InlineData("fsharp", "F#")]
    [InlineData("pwsh", "PowerShell")]
    [InlineData("javascript", "JavaScript")]
    [InlineData("html", "HTML")]
    [InlineData("sql", "SQL")]
    [InlineData("kql", "KQL")]
    [InlineData("mermaid", "Mermaid")]
    [InlineData("http", "HTTP")]
    [InlineData("value", "Value")]
    public void A_cell_in_another_language_is_refused_naming_notebook_cell_and_language(string kernel, string language)
    {
        var path = _folder.Write("polyglot.ipynb", Markdown("intro"), Code(ReferenceKit(), "var a = 1;"), CodeIn(kernel, "anything"));

        AssertRefused(path, $"{path}:3: a cell in {language} ({kernel})");
    }

    [Theory]
    [InlineData("#!time")]
    [InlineData("#!set --name x --value 1")]
    [InlineData("  #!who")]
    public void A_magic_command_on_any_line_is_refused_naming_it(string magic)
    {
        var path = _folder.Write("magic.ipynb", Markdown("intro"), Code(ReferenceKit(), "var a = 1;", magic, "var b = 2;"));

        AssertRefused(path, $"{path}:2:3: the magic command {magic.Trim()}");
    }

    [Theory]
    [InlineData("#r \"/opt/elsewhere/Other.dll\"", "#r \"/opt/elsewhere/Other.dll\"")]
    [InlineData("#r \"../artifacts/bin/NoSuchProject/debug/NoSuchProject.dll\"", "#r \"../artifacts/bin/NoSuchProject/debug/NoSuchProject.dll\"")]
    [InlineData("#i \"nuget: https://example.org/v3/index.json\"", "#i \"nuget: https://example.org/v3/index.json\"")]
    [InlineData("#load \"helpers.csx\"", "#load \"helpers.csx\"")]
    public void A_directive_an_app_has_no_equivalent_for_is_refused_naming_it(string directive, string named)
    {
        var path = _folder.Write("directive.ipynb", Code(ReferenceKit(), "var a = 1;"), Code(directive, "var b = 2;"));

        AssertRefused(path, $"{path}:2:1: {named}");
    }

    [Fact]
    public void A_cell_Roslyn_cannot_parse_is_refused_with_the_line_and_the_compilers_message()
    {
        var path = _folder.Write("broken.ipynb", Code(ReferenceKit(), "var a = 1;"), Code("var b = 2;", "var c = ;"));

        AssertRefused(path, $"{path}:2:2: Roslyn cannot parse the cell as C# script: CS1525");
    }

    [Theory]
    [InlineData("var total = 2;")]
    [InlineData("var (total, count) = (2, 3);")]
    [InlineData("int.TryParse(\"2\", out var total);")]
    [InlineData("int total() => 2;")]
    public void A_top_level_name_declared_again_in_a_later_cell_is_refused_naming_it_and_its_first_cell(string again)
    {
        var path = _folder.Write("again.ipynb", Code(ReferenceKit(), "var total = 1;"), Markdown("more"), Code("var other = 3;", again));

        AssertRefused(path, $"{path}:3:2: total is declared again (first in cell 1)");
    }

    [Fact]
    public void A_name_reused_inside_a_lambda_is_not_a_redeclaration()
    {
        var path = _folder.Write("lambda.ipynb", Code(ReferenceKit(), "var x = 1;"), Code("var ys = new[] { 1, 2 }.Select(x => x + 1).ToArray();"));

        var (exit, output, error) = InProcessCli.Run("notebooks", "export", path, "--to", "app", "--out", Out);

        Assert.True(exit == 0, error);
        Assert.Contains("lambda.cs", output);
        Assert.True(File.Exists(Path.Combine(Out, "lambda.cs")));
    }

    [Fact]
    public void A_malformed_notebook_is_refused_as_the_runner_refuses_it()
    {
        var path = Path.Combine(_folder.Path, "broken.ipynb");
        File.WriteAllText(path, "{ \"cells\": [ ");

        AssertRefused(path, $"{path}: not valid JSON");
    }

    [Fact]
    public void An_unknown_target_is_refused_naming_to_and_the_allowed_values()
    {
        var path = _folder.Write("one.ipynb", Code(ReferenceKit(), "1"));

        InProcessCli.AssertBadInput(InProcessCli.Run("notebooks", "export", path, "--to", "html", "--out", Out), "--to: unknown value 'html'; allowed: app");
        InProcessCli.AssertBadInput(InProcessCli.Run("notebooks", "export", path, "--out", Out), "--to");
        Assert.False(Directory.Exists(Out));
    }

    [Fact]
    public void Two_notebooks_of_one_name_are_refused_before_writing()
    {
        Directory.CreateDirectory(Path.Combine(_folder.Path, "a"));
        Directory.CreateDirectory(Path.Combine(_folder.Path, "b"));
        var notebook = new JsonObject { ["cells"] = new JsonArray(), ["metadata"] = new JsonObject(), ["nbformat"] = 4, ["nbformat_minor"] = 2 }.ToJsonString();
        File.WriteAllText(Path.Combine(_folder.Path, "a", "same.ipynb"), notebook);
        File.WriteAllText(Path.Combine(_folder.Path, "b", "same.ipynb"), notebook);

        InProcessCli.AssertBadInput(InProcessCli.Run("notebooks", "export", _folder.Path, "--to", "app", "--out", Out), "same.cs");
        Assert.False(Directory.Exists(Out));
    }

    [Fact]
    public void Without_out_the_apps_go_to_apps_in_the_current_folder()
    {
        var path = _folder.Write("here.ipynb", Code(ReferenceKit(), "1"));
        var before = Directory.GetCurrentDirectory();
        Directory.SetCurrentDirectory(_folder.Path);   // tests run one at a time (xunit.runner.json)
        try
        {
            var (exit, _, error) = InProcessCli.Run("notebooks", "export", path, "--to", "app");

            Assert.True(exit == 0, error);
        }
        finally { Directory.SetCurrentDirectory(before); }
        Assert.True(File.Exists(Path.Combine(_folder.Path, "apps", "here.cs")));
    }
}

using Research.Notebooks.Export;
using Xunit;
using static Research.Tests.Notebooks.NotebookFolder;

namespace Research.Tests.Notebooks;

/// <summary>
/// A notebook as a C# file-based app: small notebooks built here, their apps read as text, compiled in this process
/// (<see cref="AppCompiler"/>), and one of them run with <c>dotnet run</c>.
/// </summary>
public sealed class AppExportTests : IDisposable
{
    private readonly NotebookFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    // Exports the notebook into apps/ beside it and returns the app's path and text.
    private (string Path, string Text) Export(string name, params System.Text.Json.Nodes.JsonObject[] cells)
    {
        var notebook = _folder.Write(name + ".ipynb", cells);
        var app = AppExport.Export([notebook], Path.Combine(_folder.Path, "apps")).Single();
        return (app, File.ReadAllText(app));
    }

    private static string[] Lines(string text) => text.Split('\n');

    [Fact]
    public void Usings_of_every_cell_go_to_the_top_once_in_first_seen_order()
    {
        var (path, app) = Export("usings",
            Code(ReferenceKit(), "using Research;", "using System.Globalization;", "var a = 1.5;"),
            Code("using System.Globalization;", "using System.Numerics;", "var b = BigInteger.One + (int)a;"));

        string[] expected =
        [
            "using System.Collections;", "using System.Text;",   // what the kernel imports and an app's implicit usings do not
            "using Research;", "using System.Globalization;", "using System.Numerics;",
            "using static Research.Interactive.NotebookApp;",
        ];
        Assert.Equal(expected, Lines(app).Where(l => l.StartsWith("using ", StringComparison.Ordinal)));
        var start = Array.IndexOf(Lines(app), "Start(\"usings\");");
        Assert.True(start > Array.LastIndexOf(Lines(app), expected[^1]));
        Assert.Empty(AppCompiler.Errors(path));
    }

    [Fact]
    public void Types_move_after_the_statements_and_methods_stay_in_place_as_local_functions()
    {
        var (path, app) = Export("types",
            Code(ReferenceKit(), "record Point(int X, int Y);", "int Twice(int v) => 2 * v;", "var p = new Point(Twice(1), 3);"),
            Code("enum Shade { Light, Dark }", "var s = Shade.Dark;"));

        var lines = Lines(app);
        var end = Array.IndexOf(lines, "End();");
        Assert.True(Array.IndexOf(lines, "record Point(int X, int Y);") > end);
        Assert.True(Array.IndexOf(lines, "enum Shade { Light, Dark }") > end);
        Assert.InRange(Array.IndexOf(lines, "int Twice(int v) => 2 * v;"), 0, Array.IndexOf(lines, "var p = new Point(Twice(1), 3);"));
        Assert.Empty(AppCompiler.Errors(path));
    }

    [Fact]
    public void A_trailing_bare_expression_is_displayed_and_calls_that_may_be_void_are_wrapped_in_a_lambda()
    {
        var (path, app) = Export("display",
            Code(ReferenceKit(), "var a = 6 * 7;", "a"),
            Code("Console.WriteLine(\"side effect\")"),
            Code("string.Concat(\"x\", \"y\")   // a call with a value"),
            Code("a.ToString()?.Length"),
            Code("await Task.Delay(1)"),
            Code("await Task.FromResult(a)"),
            Code("var quiet = 1;"));

        var lines = Lines(app);
        Assert.Contains("Display(a);", lines);
        Assert.Contains("Display(() => Console.WriteLine(\"side effect\"));", lines);
        Assert.Contains("Display(() => string.Concat(\"x\", \"y\"));   // a call with a value", lines);
        Assert.Contains("Display(() => a.ToString()?.Length);", lines);
        Assert.Contains("await Display(async () => await Task.Delay(1));", lines);
        Assert.Contains("await Display(async () => await Task.FromResult(a));", lines);
        Assert.Contains("var quiet = 1;", lines);   // a statement is not an expression to display
        // Void and valued calls, sync and async, each bind to a Display overload.
        Assert.Empty(AppCompiler.Errors(path));
    }

    [Fact]
    public void Markdown_cells_become_comment_lines_followed_by_their_marker_and_code_cells_start_with_theirs()
    {
        var (_, app) = Export("markdown",
            Markdown("# Title", "", "Some *text*."),
            Code(ReferenceKit(), "var a = 1;"),
            Markdown("More."));

        Assert.Contains("\n\n// # Title\n//\n// Some *text*.\nMarkdown();\n\nCell();\nvar a = 1;\n\n// More.\nMarkdown();\n\nEnd();\n", app);
    }

    [Fact]
    public void A_kit_dll_becomes_its_project_and_a_nuget_reference_a_package()
    {
        var (path, app) = Export("references", Code(ReferenceKit(), "#r \"nuget: Newtonsoft.Json, 13.0.4\"", "var a = 1;"));

        var project = Lines(app).Single(l => l.StartsWith("#:project ", StringComparison.Ordinal))["#:project ".Length..];
        Assert.Equal(Path.Combine(TestPaths.RepoRoot, "lib", "Research.Core", "Research.Core.csproj"),
                     Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, project)));
        Assert.Contains("#:package Newtonsoft.Json@13.0.4", Lines(app));
        Assert.Contains("#:property PublishAot=false", Lines(app));
        Assert.DoesNotContain(Lines(app), l => l.StartsWith("#r", StringComparison.Ordinal));
    }

    [Fact]
    public void An_exported_app_runs_prints_markdown_and_values_shows_nothing_for_a_void_call_and_writes_its_page()
    {
        var notebook = _folder.Write("small.ipynb",
            Markdown("# A small notebook", "", "Its *markdown* is printed."),
            Code(ReferenceKit(), "using System.Globalization;", "var answer = 6 * 7;", "answer.ToString(CultureInfo.InvariantCulture) + \" is the answer\""),
            Code("Console.WriteLine(\"written by the cell\");", "Console.WriteLine(\"a void call\")"),
            Code("record Point(int X, int Y);", "new Point(3, 4)"),
            // The kernel says nothing of these; the repository's Directory.Build.props would make them errors (CS0168,
            // IDE0044) but for the app's own properties.
            Code("int neverUsed;", "class Tally { private int _first = 1; public int First => _first; }"));
        // Inside the repository, where Directory.Build.props applies, at a fixed path, so dotnet run reuses its build.
        var apps = Path.Combine(TestPaths.RepoRoot, "artifacts", "test-apps", "small");
        if (Directory.Exists(apps)) Directory.Delete(apps, recursive: true);
        var path = AppExport.Export([notebook], apps).Single();

        var (exit, output, error) = TestPaths.RunDotnet("run", [path]);

        Assert.True(exit == 0, $"exit {exit}\n{output}\n{error}");
        Assert.Contains("# A small notebook\n\nIts *markdown* is printed.\n", output);
        Assert.Contains("42 is the answer\n", output);
        Assert.Contains("written by the cell\na void call\n", output);
        Assert.Equal(2, output.Split("a void call").Length);   // printed once, by the call itself
        var page = File.ReadAllText(Path.ChangeExtension(path, ".html"));
        Assert.Contains("<h1 id=\"a-small-notebook\">A small notebook</h1>", page);
        Assert.Contains("<p>Its <em>markdown</em> is printed.</p>", page);
        Assert.Contains("<code class=\"language-csharp\">var answer = 6 * 7;", page);
        Assert.Contains("<pre class=\"output stdout\">written by the cell\na void call\n</pre>", page);
        Assert.Contains("<pre class=\"output\">42 is the answer</pre>", page);
        Assert.Contains("Point { X = 3, Y = 4 }", page);   // the record's own ToString, in the HTML formatter's summary
        // Two values were displayed (the answer and the point); the void call added none.
        Assert.Equal(2, page.Split("class=\"output\"").Length - 1);
    }
}

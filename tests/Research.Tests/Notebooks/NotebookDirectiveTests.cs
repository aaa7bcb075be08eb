using Research.Notebooks;
using Xunit;
using static Research.Tests.Notebooks.NotebookFolder;

namespace Research.Tests.Notebooks;

public sealed class NotebookDirectiveTests
{
    [Fact]
    public async Task Kit_packages_are_accepted_as_provided_by_the_host()
    {
        using var folder = new NotebookFolder();
        var path = folder.Write("packages.ipynb",
            Code("#r \"nuget: Plotly.NET.Interactive, 6.0.0\"", "#r \"nuget: TorchSharp-cpu\"", "#r \"nuget:MathNet.Numerics,5.0.0\"",
                 "#i \"nuget: https://example.invalid/feed\"", "var one = TorchSharp.torch.ones(1).item<float>();"),
            Code("one"));

        var result = await Run(path, write: true);

        Assert.Null(result.Failure);
        Assert.Equal("1", Text(Assert.Single(Outputs(path, 2))!["data"]!["text/plain"]));
    }

    [Fact]
    public async Task Package_the_kit_does_not_provide_is_rejected_at_its_line_naming_it()
    {
        using var folder = new NotebookFolder();
        var path = folder.Write("newtonsoft.ipynb",
            Markdown("Uses a package."),
            Code("// serialisation", "#r \"nuget: Newtonsoft.Json, 13.0.3\"", "var x = 1;"));

        var result = await Run(path);

        var failure = Assert.IsType<NotebookFailure>(result.Failure);
        Assert.Equal((2, 2), (failure.Cell, failure.Line));
        Assert.Contains("Newtonsoft.Json", failure.Message);
        Assert.Contains("not provided by the kit runner", failure.Message);
    }

    [Fact]
    public async Task Reference_to_a_host_assembly_by_a_missing_path_uses_the_single_host_copy()
    {
        using var folder = new NotebookFolder();
        var path = folder.Write("hostref.ipynb",
            Code("#r \"../no/such/build/Release/Research.Core.dll\"", "#r \"../no/such/build/Release/TorchSharp.dll\""),
            Code("var coreContext = System.Runtime.Loader.AssemblyLoadContext.GetLoadContext(typeof(Research.Charts.ChartHtml).Assembly);",
                 "var torchCopies = AppDomain.CurrentDomain.GetAssemblies().Count(a => a.GetName().Name == \"TorchSharp\");",
                 "$\"{coreContext == System.Runtime.Loader.AssemblyLoadContext.Default} {torchCopies}\""));

        var result = await Run(path, write: true);

        Assert.Null(result.Failure);
        Assert.Equal("True 1", Text(Assert.Single(Outputs(path, 2))!["data"]!["text/plain"]));
    }

    [Fact]
    public async Task Referenced_library_built_beside_copies_of_kit_assemblies_shares_the_host_copies()
    {
        using var folder = new NotebookFolder();
        var lib = Path.Combine(folder.Path, "bin");
        LibraryBuilder.Build(lib, "Extra", """
            public static class Probe
            {
                public static System.Reflection.Assembly Core() => typeof(Research.Charts.ChartHtml).Assembly;
            }
            """, typeof(Research.Charts.ChartHtml));
        // A build output folder holds its own copy of every dependency; the host's must still win.
        File.Copy(typeof(Research.Charts.ChartHtml).Assembly.Location, Path.Combine(lib, "Research.Core.dll"));
        var path = folder.Write("library.ipynb",
            Code("#r \"bin/Extra.dll\""),
            Code("var context = System.Runtime.Loader.AssemblyLoadContext.GetLoadContext(Probe.Core());",
                 "var copies = AppDomain.CurrentDomain.GetAssemblies().Count(a => a.GetName().Name == \"Research.Core\");",
                 "$\"{context == System.Runtime.Loader.AssemblyLoadContext.Default} {copies} {Probe.Core() == typeof(Research.Charts.ChartHtml).Assembly}\""));

        var result = await Run(path, write: true);

        Assert.Null(result.Failure);
        Assert.Equal("True 1 True", Text(Assert.Single(Outputs(path, 2))!["data"]!["text/plain"]));
    }

    [Fact]
    public async Task Missing_assembly_file_is_reported_at_its_cell_line()
    {
        using var folder = new NotebookFolder();
        var path = folder.Write("missing.ipynb", Code("var a = 1;"), Code("", "#r \"lib/NotBuiltYet.dll\""));

        var result = await Run(path);

        var failure = Assert.IsType<NotebookFailure>(result.Failure);
        Assert.Equal((2, 2), (failure.Cell, failure.Line));
        Assert.Contains(Path.Combine(folder.Path, "lib", "NotBuiltYet.dll"), failure.Message);
    }

    [Fact]
    public async Task Referenced_file_that_is_not_an_assembly_is_reported_at_its_line()
    {
        using var folder = new NotebookFolder();
        File.WriteAllText(Path.Combine(folder.Path, "Fake.dll"), "not a PE file");
        var path = folder.Write("fake.ipynb", Code("// library", "#r \"Fake.dll\""));

        var result = await Run(path);

        var failure = Assert.IsType<NotebookFailure>(result.Failure);
        Assert.Equal((1, 2), (failure.Cell, failure.Line));
        Assert.Contains("not a .NET assembly", failure.Message);
    }

    [Fact]
    public async Task Unknown_magic_command_is_an_error_naming_it()
    {
        using var folder = new NotebookFolder();
        var path = folder.Write("magic.ipynb", Code("#!csharp", "#!set --name x --value 1", "var a = 1;"));

        var result = await Run(path);

        var failure = Assert.IsType<NotebookFailure>(result.Failure);
        Assert.Equal((1, 2), (failure.Cell, failure.Line));
        Assert.Contains("#!set", failure.Message);
    }

    [Fact]
    public async Task Directive_lines_keep_the_line_numbers_of_later_errors()
    {
        using var folder = new NotebookFolder();
        var path = folder.Write("lines.ipynb",
            Code("#!csharp", "#r \"nuget: Plotly.NET, 6.0.0\"", "var a = 1;", "throw new InvalidOperationException(\"line four\");"));

        var result = await Run(path);

        Assert.Equal((1, 4), (result.Failure!.Cell, result.Failure.Line));
    }

    [Fact]
    public async Task Cell_starting_with_another_kernel_is_skipped_even_in_a_csharp_notebook()
    {
        using var folder = new NotebookFolder();
        var log = new StringWriter();
        var path = folder.Write("mixed.ipynb",
            Markdown("text"),
            CodeIn("fsharp", "let x = 1 |> id"),
            Code("#!fsharp", "printfn \"not C#\""),
            Code("var ran = true;"));

        var result = await Run(path, log: log);

        Assert.Null(result.Failure);
        Assert.Equal(1, result.CellsRun);
        Assert.Contains("cell 2: skipped (fsharp", log.ToString());
        Assert.Contains("cell 3: skipped", log.ToString());
    }
}

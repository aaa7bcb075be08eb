using Research.Notebooks;
using Xunit;
using static Research.Tests.Notebooks.NotebookFolder;

namespace Research.Tests.Notebooks;

public sealed class NotebookExecutionTests
{
    [Fact]
    public async Task State_is_shared_across_cells()
    {
        using var folder = new NotebookFolder();
        var path = folder.Write("state.ipynb",
            Code("var x = 20;"),
            Code("int Twice(int v) => v * 2;"),
            Code("Console.WriteLine(Twice(x) + 2);"));

        var result = await Run(path, write: true);

        Assert.Null(result.Failure);
        Assert.Equal(3, result.CellsRun);
        var output = Assert.Single(Outputs(path, 3));
        Assert.Equal("stream", output!["output_type"]!.GetValue<string>());
        Assert.Equal("42\n", Text(output["text"]));
    }

    [Fact]
    public async Task Displayed_chart_becomes_an_html_output_holding_the_trace()
    {
        using var folder = new NotebookFolder();
        var path = folder.Write("chart.ipynb",
            Code("var chart = Plotly.NET.CSharp.Chart.Line<int, int, string>(x: new[] { 1, 2, 3 }, y: new[] { 4, 1, 2 }, Name: \"loss-curve\");",
                 "display(chart);"));

        var result = await Run(path, write: true);

        Assert.Null(result.Failure);
        var output = Assert.Single(Outputs(path, 1))!;
        Assert.Equal("display_data", output["output_type"]!.GetValue<string>());
        var html = Text(output["data"]!["text/html"]);
        Assert.Contains("loss-curve", html);
        // The stored fragment loads plotly.js from its CDN instead of carrying 3.6 MB of it.
        Assert.DoesNotContain(Research.Charts.ChartHtml.PlotlyJs[..200], html);
        Assert.True(new FileInfo(path).Length < 100_000);
    }

    [Fact]
    public async Task Trailing_expression_becomes_the_execute_result()
    {
        using var folder = new NotebookFolder();
        var path = folder.Write("result.ipynb", Code("var a = 1;"), Code("a + 2"));

        await Run(path, write: true);

        var output = Assert.Single(Outputs(path, 2))!;
        Assert.Equal("execute_result", output["output_type"]!.GetValue<string>());
        Assert.Equal(2, output["execution_count"]!.GetValue<int>());
        Assert.Equal("3", Text(output["data"]!["text/plain"]));
        Assert.Empty(Outputs(path, 1));
    }

    [Fact]
    public async Task Console_output_and_errors_are_captured_as_streams_and_console_is_restored()
    {
        using var folder = new NotebookFolder();
        var path = folder.Write("console.ipynb",
            Code("Console.WriteLine(\"to out\");", "Console.Error.WriteLine(\"to err\");", "Console.Write(\"more out\");"));
        var (outBefore, errorBefore) = (Console.Out, Console.Error);

        await Run(path, write: true);

        Assert.Same(outBefore, Console.Out);
        Assert.Same(errorBefore, Console.Error);
        var outputs = Outputs(path, 1);
        Assert.Equal(["stdout", "stderr", "stdout"], outputs.Select(o => o!["name"]!.GetValue<string>()));
        Assert.Equal("to out\n", Text(outputs[0]!["text"]));
        Assert.Equal("to err\n", Text(outputs[1]!["text"]));
        Assert.Equal("more out", Text(outputs[2]!["text"]));
    }

    [Fact]
    public async Task Cells_run_in_the_notebook_folder_and_cannot_block_on_input()
    {
        using var folder = new NotebookFolder();
        Directory.CreateDirectory(Path.Combine(folder.Path, "data"));
        File.WriteAllText(Path.Combine(folder.Path, "data", "loss.csv"), "0.25");
        var path = folder.Write("cwd.ipynb", Code("var line = Console.ReadLine();", "$\"{File.ReadAllText(\"data/loss.csv\")} {line is null}\""));
        var before = Environment.CurrentDirectory;

        var result = await Run(path, write: true);

        Assert.Null(result.Failure);
        Assert.Equal("0.25 True", Text(Assert.Single(Outputs(path, 1))!["data"]!["text/plain"]));
        Assert.Equal(before, Environment.CurrentDirectory);
    }

    [Fact]
    public async Task Compile_error_is_reported_at_its_notebook_cell_and_line()
    {
        using var folder = new NotebookFolder();
        var path = folder.Write("compile.ipynb",
            Markdown("# Claims"),
            Code("var x = 1;"),
            Code("var y = 2;"),
            Code("var z = x + y;", "// the next line uses a name that does not exist", "var w = undefinedName + 1;"));

        var result = await Run(path);

        var failure = Assert.IsType<NotebookFailure>(result.Failure);
        Assert.Equal((path, 4, 3), (failure.Notebook, failure.Cell, failure.Line));
        Assert.Contains("CS0103", failure.Message);
        Assert.Contains("undefinedName", failure.Message);
        Assert.StartsWith($"{path}:4:3: ", failure.ToString());
        Assert.Equal(2, result.CellsRun);
    }

    [Fact]
    public async Task Runtime_exception_is_reported_at_the_throwing_cell_line_with_its_type()
    {
        using var folder = new NotebookFolder();
        var path = folder.Write("throws.ipynb",
            Markdown("Assertions below."),
            Code("var loss = 0.5;"),
            Code("var target = 0.1;"),
            Code("var ok = loss < target;", "", "if (!ok) throw new InvalidOperationException($\"claim failed: loss {loss} >= {target}\");", "Console.WriteLine(\"unreachable\");"));

        var result = await Run(path);

        var failure = Assert.IsType<NotebookFailure>(result.Failure);
        Assert.Equal((4, 3), (failure.Cell, failure.Line));
        Assert.Contains("System.InvalidOperationException", failure.Message);
        Assert.Contains("claim failed: loss 0.5 >= 0.1", failure.Message);
    }

    [Fact]
    public async Task Exception_inside_a_method_of_an_earlier_cell_points_at_that_method()
    {
        using var folder = new NotebookFolder();
        var path = folder.Write("deep.ipynb",
            Code("void Check(bool claim)", "{", "    if (!claim) throw new ArgumentException(\"bad claim\");", "}"),
            Code("Check(true);", "Check(false);"));

        var result = await Run(path);

        var failure = Assert.IsType<NotebookFailure>(result.Failure);
        Assert.Equal((1, 3), (failure.Cell, failure.Line));
        Assert.Contains("called from cell 2", failure.Message);
    }

    [Fact]
    public async Task Exception_after_an_await_is_reported_at_its_line()
    {
        using var folder = new NotebookFolder();
        var path = folder.Write("async.ipynb", Code("async Task Train()", "{", "    await Task.Delay(1);", "    throw new TimeoutException(\"slow\");", "}", "await Train();"));

        var result = await Run(path);

        Assert.Equal((1, 4), (result.Failure!.Cell, result.Failure.Line));
        Assert.Contains("System.TimeoutException: slow", result.Failure.Message);
    }

    [Fact]
    public async Task Large_tensors_show_only_their_first_and_last_rows()
    {
        using var folder = new NotebookFolder();
        var path = folder.Write("big.ipynb", Code("TorchSharp.torch.zeros(1000, 1000)"));

        await Run(path, write: true);

        var text = Text(Assert.Single(Outputs(path, 1))!["data"]!["text/plain"]);
        Assert.StartsWith("[1000x1000]", text);
        Assert.InRange(text.Split('\n').Length, 20, 30);
        Assert.True(new FileInfo(path).Length < 20_000);
    }

    [Fact]
    public async Task Rerunning_an_unchanged_chart_notebook_writes_identical_outputs()
    {
        using var folder = new NotebookFolder();
        var path = folder.Write("again.ipynb",
            Code("display(Plotly.NET.CSharp.Chart.Point<int, int, string>(x: new[] { 1, 2 }, y: new[] { 3, 4 }));"));
        await Run(path, write: true);
        var first = File.ReadAllBytes(path);

        await Run(path, write: true);

        Assert.Equal(first, File.ReadAllBytes(path));
    }

    [Fact]
    public async Task Cancelling_stops_the_run_with_an_OperationCanceledException_and_restores_the_console()
    {
        using var folder = new NotebookFolder();
        var path = folder.Write("long.ipynb", Code("await Task.Delay(TimeSpan.FromMinutes(5), Cancellation);"));
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        var consoleOut = Console.Out;

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            NotebookRunner.RunAsync(path, new NotebookRunOptions(), TextWriter.Null, cancel.Token));

        Assert.Same(consoleOut, Console.Out);
    }

    [Fact]
    public async Task Tensors_display_as_text()
    {
        using var folder = new NotebookFolder();
        var path = folder.Write("tensor.ipynb", Code("TorchSharp.torch.arange(3)"));

        var result = await Run(path, write: true);

        Assert.Null(result.Failure);
        var text = Text(Assert.Single(Outputs(path, 1))!["data"]!["text/plain"]);
        Assert.Contains("0", text);
        Assert.Contains("2", text);
        Assert.DoesNotContain("TorchSharp.torch+Tensor", text);
    }
}

using Xunit;
using static Research.Tests.Notebooks.NotebookFolder;

namespace Research.Tests.Notebooks;

public sealed class NotebookDisplayTests
{
    [Fact]
    public async Task Display_forms_of_the_kernel_all_produce_outputs_in_order()
    {
        using var folder = new NotebookFolder();
        var path = folder.Write("display.ipynb",
            Code("display(\"first\");", "Display(\"second\");", "\"third\".Display();", "display(HTML(\"<b>bold</b>\"));"));

        await Run(path, write: true);

        var outputs = Outputs(path, 1);
        Assert.All(outputs, o => Assert.Equal("display_data", o!["output_type"]!.GetValue<string>()));
        Assert.Equal("first", Text(outputs[0]!["data"]!["text/plain"]));
        Assert.Equal("second", Text(outputs[1]!["data"]!["text/plain"]));
        Assert.Equal("third", Text(outputs[2]!["data"]!["text/plain"]));
        Assert.Equal("<b>bold</b>", Text(outputs[3]!["data"]!["text/html"]));
    }

    [Fact]
    public async Task Updating_a_displayed_value_replaces_its_output()
    {
        using var folder = new NotebookFolder();
        var path = folder.Write("update.ipynb",
            Code("var progress = display(\"epoch 1\");", "for (int e = 2; e <= 3; e++) progress.Update($\"epoch {e}\");"));

        await Run(path, write: true);

        Assert.Equal("epoch 3", Text(Assert.Single(Outputs(path, 1))!["data"]!["text/plain"]));
    }

    [Fact]
    public async Task Display_as_the_last_expression_is_not_repeated_as_a_result()
    {
        using var folder = new NotebookFolder();
        var path = folder.Write("last.ipynb", Code("display(42)"));

        await Run(path, write: true);

        Assert.Equal("display_data", Assert.Single(Outputs(path, 1))!["output_type"]!.GetValue<string>());
    }

    [Fact]
    public async Task Collections_show_their_items_unless_they_format_themselves_and_awaited_values_show_their_result()
    {
        using var folder = new NotebookFolder();
        var path = folder.Write("values.ipynb",
            Code("new List<int> { 1, 2, 3 }"),
            Code("await Task.Delay(1);", "await Task.FromResult(\"done\")"),
            Code("MathNet.Numerics.LinearAlgebra.Vector<double>.Build.Dense(new[] { 1.5, 2.5 })"));

        var result = await Run(path, write: true);

        Assert.Null(result.Failure);
        Assert.Equal("[1, 2, 3]", Text(Assert.Single(Outputs(path, 1))!["data"]!["text/plain"]));
        Assert.Equal("done", Text(Assert.Single(Outputs(path, 2))!["data"]!["text/plain"]));
        Assert.StartsWith("DenseVector 2-Double", Text(Assert.Single(Outputs(path, 3))!["data"]!["text/plain"]));
    }
}

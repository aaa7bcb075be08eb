using System.Text.Json.Nodes;
using Xunit;
using static Research.Tests.Notebooks.NotebookFolder;

namespace Research.Tests.Notebooks;

public sealed class NotebookWriteTests
{
    [Fact]
    public async Task Write_stores_outputs_and_keeps_every_other_field()
    {
        using var folder = new NotebookFolder();
        var markdown = Markdown("![plot](attachment:plot.png)");
        markdown["attachments"] = new JsonObject { ["plot.png"] = new JsonObject { ["image/png"] = "iVBORw0KGgo=" } };
        var code = Code("Console.WriteLine(\"fresh\");");
        code["metadata"]!["tags"] = new JsonArray("claims");
        code["outputs"] = new JsonArray(new JsonObject { ["name"] = "stdout", ["output_type"] = "stream", ["text"] = new JsonArray("stale\n") });
        var fsharp = CodeIn("fsharp", "printfn \"kept\"");
        fsharp["outputs"] = new JsonArray(new JsonObject { ["name"] = "stdout", ["output_type"] = "stream", ["text"] = new JsonArray("kept\n") });
        var path = folder.Write("roundtrip.ipynb", markdown, code, fsharp);
        var before = JsonNode.Parse(File.ReadAllText(path))!;
        before["metadata"]!["custom"] = new JsonObject { ["note"] = "keep me", ["n"] = 1.50 };
        File.WriteAllText(path, before.ToJsonString());
        before = JsonNode.Parse(File.ReadAllText(path))!;

        var result = await Run(path, write: true);

        Assert.Null(result.Failure);
        var after = JsonNode.Parse(File.ReadAllText(path))!;
        Assert.True(JsonNode.DeepEquals(before["metadata"], after["metadata"]));
        Assert.Equal(4, after["nbformat"]!.GetValue<int>());
        for (int i = 0; i < 3; i++)
        {
            var (old, @new) = (before["cells"]![i]!.AsObject(), after["cells"]![i]!.AsObject());
            Assert.Equal(old.Select(p => p.Key), @new.Select(p => p.Key));
            foreach (var (key, value) in old)
                if (i != 1 || key is not ("outputs" or "execution_count"))
                    Assert.True(JsonNode.DeepEquals(value, @new[key]), $"cell {i + 1} field {key} changed");
        }
        Assert.Equal(1, after["cells"]![1]!["execution_count"]!.GetValue<int>());
        Assert.Equal("fresh\n", Text(Assert.Single(after["cells"]![1]!["outputs"]!.AsArray())!["text"]));
    }

    [Fact]
    public async Task Rewriting_a_VS_Code_notebook_whose_outputs_are_current_changes_no_byte()
    {
        using var folder = new NotebookFolder();
        var path = Path.Combine(folder.Path, "vscode.ipynb");
        // As VS Code saves it: 1-space indentation, sorted keys, \n-terminated source lines, non-ASCII unescaped.
        const string text = """
            {
             "cells": [
              {
               "cell_type": "markdown",
               "id": "a1",
               "metadata": {},
               "source": [
                "# Héllo <world> 🚀\n",
                "\n",
                "Tab\tand \"quotes\" and \\ backslash"
               ]
              },
              {
               "cell_type": "code",
               "execution_count": 1,
               "id": "b2",
               "metadata": {
                "polyglot_notebook": {
                 "kernelName": "csharp"
                }
               },
               "outputs": [
                {
                 "name": "stdout",
                 "output_type": "stream",
                 "text": [
                  "ünïcode <b> 🚀\n",
                  "second"
                 ]
                }
               ],
               "source": [
                "Console.WriteLine(\"ünïcode <b> 🚀\");\n",
                "Console.Write(\"second\");"
               ]
              },
              {
               "cell_type": "code",
               "execution_count": 2,
               "id": "c3",
               "metadata": {
                "polyglot_notebook": {
                 "kernelName": "csharp"
                }
               },
               "outputs": [
                {
                 "data": {
                  "text/plain": [
                   "0.25"
                  ]
                 },
                 "execution_count": 2,
                 "metadata": {},
                 "output_type": "execute_result"
                }
               ],
               "source": [
                "0.25"
               ]
              }
             ],
             "metadata": {
              "kernelspec": {
               "display_name": ".NET (C#)",
               "language": "C#",
               "name": ".net-csharp"
              },
              "polyglot_notebook": {
               "kernelInfo": {
                "defaultKernelName": "csharp",
                "items": [
                 {
                  "aliases": [],
                  "name": "csharp"
                 }
                ]
               }
              }
             },
             "nbformat": 4,
             "nbformat_minor": 2
            }

            """;
        File.WriteAllText(path, text);
        var bytes = File.ReadAllBytes(path);

        var result = await Run(path, write: true);

        Assert.Null(result.Failure);
        Assert.Equal(System.Text.Encoding.UTF8.GetString(bytes), File.ReadAllText(path));
        Assert.Equal(bytes, File.ReadAllBytes(path));
    }

    [Fact]
    public async Task Failed_run_leaves_the_notebook_byte_identical_and_no_temporary_file()
    {
        using var folder = new NotebookFolder();
        var path = folder.Write("fails.ipynb", Code("Console.WriteLine(\"output before the failure\");"), Code("throw new Exception(\"no\");"));
        var bytes = File.ReadAllBytes(path);

        var result = await Run(path, write: true);

        Assert.NotNull(result.Failure);
        Assert.Equal(bytes, File.ReadAllBytes(path));
        Assert.Equal([path], Directory.GetFiles(folder.Path));
    }
}

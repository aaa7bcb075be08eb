using System.Text.Json;
using Research.Cli;
using Xunit;

namespace Research.Tests.Cli;

public sealed class KvCacheCommandTests
{
    private static (int Exit, string Out, string Err) Research(params string[] args) => InProcessCli.Run(args);

    private static string ConfigFile(string json)
    {
        var path = Path.Combine(TestPaths.TempFolder(), "model.json");
        File.WriteAllText(path, json);
        return path;
    }

    [Fact]
    public void Preset_json_gives_HW25s_bytes_per_token_and_the_total_for_the_context()
    {
        var (exit, output, error) = Research("kv-cache", "--preset", "deepseek-v3", "--context", "131072", "--json");

        Assert.True(exit == ExitCodes.Ok, error);
        var doc = JsonDocument.Parse(output).RootElement;
        Assert.Equal(70_272, doc.GetProperty("bytesPerToken").GetInt64());          // HW25 Table 1: 70.272 KB
        Assert.Equal(35_136, doc.GetProperty("elementsPerToken").GetInt64());       // (512 + 64)·61
        Assert.Equal(70_272L * 131_072, doc.GetProperty("totalBytes").GetInt64());
        Assert.Equal(131_072, doc.GetProperty("context").GetInt32());
        Assert.Equal("bf16", doc.GetProperty("dtype").GetString());
        Assert.Equal("deepseek-v3", doc.GetProperty("model").GetProperty("name").GetString());
        Assert.Equal("mla", doc.GetProperty("model").GetProperty("kind").GetString());
    }

    [Fact]
    public void Human_output_names_the_formula_and_gives_units_and_exact_bytes()
    {
        var (exit, output, error) = Research("kv-cache", "--preset", "llama3.1-405b", "--context", "1000");

        Assert.True(exit == ExitCodes.Ok, error);
        Assert.Contains("2·n_g·d_h·l = 2·8·128·126", output);
        Assert.Contains("516.096 KB (516,096 bytes)", output);                   // HW25 Table 1
        Assert.Contains("per token, per layer:  2,048 elements, 4.096 KB (4,096 bytes)", output);
        Assert.Contains("1,000 tokens: 516.096 MB (516,096,000 bytes)", output);
        Assert.Equal("", error);
    }

    [Fact]
    public void Dtype_and_a_config_file_change_the_bytes()
    {
        var config = ConfigFile("""{ "name": "toy", "kind": "gqa", "layers": 2, "heads": 8, "kvHeads": 2, "headDim": 16, "maxContext": 64 }""");

        var (exit, output, error) = Research("kv-cache", "--config", config, "--dtype", "fp32", "--json");

        Assert.True(exit == ExitCodes.Ok, error);
        var doc = JsonDocument.Parse(output).RootElement;
        Assert.Equal(2 * 2 * 16 * 2, doc.GetProperty("elementsPerToken").GetInt64());     // 2·n_g·d_h·l
        Assert.Equal(2 * 2 * 16 * 2 * 4, doc.GetProperty("bytesPerToken").GetInt64());
        Assert.Equal(64, doc.GetProperty("context").GetInt32());                           // default: the max context
        Assert.Equal("fp32", doc.GetProperty("dtype").GetString());
    }

    [Fact]
    public void List_shows_every_preset_and_marks_contexts_beyond_a_models_max()
    {
        var (exit, output, error) = Research("kv-cache", "--list", "--context", "131072");

        Assert.True(exit == ExitCodes.Ok, error);
        foreach (var name in global::Research.Mla.KvCachePresets.Names) Assert.Contains(name, output);
        var lines = output.Split('\n');
        Assert.Contains("327.680 KB", lines.Single(l => l.StartsWith("│ qwen2.5-72b ", StringComparison.Ordinal)));
        Assert.Contains("beyond max", lines.Single(l => l.StartsWith("│ deepseek-67b ", StringComparison.Ordinal)));

        var (_, json, _) = Research("kv-cache", "--list", "--json");
        var rows = JsonDocument.Parse(json).RootElement.EnumerateArray().ToList();
        Assert.Equal(global::Research.Mla.KvCachePresets.All.Count, rows.Count);
        Assert.All(rows, r => Assert.Equal(r.GetProperty("bytesPerToken").GetInt64() * r.GetProperty("context").GetInt64(), r.GetProperty("totalBytes").GetInt64()));
    }

    [Theory]
    [InlineData(new[] { "kv-cache" }, "exactly one of --preset, --config or --list")]
    [InlineData(new[] { "kv-cache", "--preset", "deepseek-v3", "--list" }, "exactly one of --preset, --config or --list")]
    [InlineData(new[] { "kv-cache", "--preset", "gpt-5" }, "unknown preset 'gpt-5'; known presets: deepseek-v3")]
    [InlineData(new[] { "kv-cache", "--preset", "deepseek-v3", "--dtype", "int4" }, "dtype must be one of bf16, fp8, fp32 (got 'int4')")]
    [InlineData(new[] { "kv-cache", "--preset", "deepseek-67b", "--context", "4097" }, "context must be in 1..4096")]
    [InlineData(new[] { "kv-cache", "--preset", "deepseek-v3", "--context", "0" }, "context must be in 1..131072")]
    [InlineData(new[] { "kv-cache", "--config", "/nonexistent/model.json" }, "/nonexistent/model.json")]
    public void Bad_input_is_one_line_naming_the_thing_with_exit_code_2(string[] args, string named)
    {
        InProcessCli.AssertBadInput(Research(args), named);
    }

    [Theory]
    [InlineData("""{ "name": "x", "kind": "gqa", "layers": 2, "heads": 8, "kvHeads": 3, "headDim": 16, "maxContext": 64 }""", "KvCacheModel.KvHeads (n_g) must be a divisor of Heads (n_h = 8)")]
    [InlineData("""{ "name": "x", "kind": "mla", "layers": 2, "heads": 8, "kvHeads": 8, "headDim": 16, "maxContext": 64 }""", "KvCacheModel.KvLatentDim (d_c) must be in 1..65536 (got 0)")]
    [InlineData("""{ "name": "x", "kind": "gqa", "layers": 2, "heads": 8, "kvHeads": 2, "headDim": 16, "maxContext": 64, "heds": 8 }""", "heds")]
    [InlineData("""{ "name": "x", "kind": "gqa", "heads": 8, "kvHeads": 2, "headDim": 16, "maxContext": 64 }""", "layers")]
    [InlineData("""{ "name": "x", "kind": "gqa", "layers": 2, "heads": 8, "kvHeads": 2, "headDim": 16, "maxContext": 64 """, "model.json")]
    [InlineData("""{ "name": "x", "kind": "sparse", "layers": 2, "heads": 8, "kvHeads": 2, "headDim": 16, "maxContext": 64 }""", "allowed: mha, gqa, mqa, mla")]
    [InlineData("""{ "name": "x", "kind": "gqa", "layers": "two", "heads": 8, "kvHeads": 2, "headDim": 16, "maxContext": 64 }""", "layers")]
    public void A_bad_config_file_names_the_field_and_prints_nothing(string json, string named)
    {
        InProcessCli.AssertBadInput(Research("kv-cache", "--config", ConfigFile(json), "--context", "8"), named);
    }
}

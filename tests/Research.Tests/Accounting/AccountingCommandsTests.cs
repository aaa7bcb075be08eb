using System.Text.Json;
using Research.Cli;
using Research.Tests.Cli;
using Xunit;

namespace Research.Tests.Accounting;

public sealed class AccountingCommandsTests
{
    private static (int Exit, string Out, string Err) Research(params string[] args) => InProcessCli.Run(args);

    private static string ConfigFile(string json)
    {
        var path = Path.Combine(TestPaths.TempFolder(), "config.json");
        File.WriteAllText(path, json);
        return path;
    }

    [Fact]
    public void Model_size_json_has_the_counts_and_training_FLOPs_at_4096()
    {
        var (exit, output, error) = Research("model-size", "--preset", "deepseek-v3", "--json");

        Assert.True(exit == ExitCodes.Ok, error);
        var doc = JsonDocument.Parse(output).RootElement;
        Assert.Equal(671.0, Math.Round(doc.GetProperty("totalParameters").GetInt64() / 1e9, 1));       // V3: 671B
        Assert.Equal(37.6, Math.Round(doc.GetProperty("activatedParameters").GetInt64() / 1e9, 1));
        Assert.InRange(doc.GetProperty("mtpParameters").GetInt64() / 1e9, 13.4, 14.0);                  // README_WEIGHTS: 14B
        Assert.Equal(250, Math.Round(doc.GetProperty("trainingFlopsPerToken").GetDouble() / 1e9));     // HW25 Table 2
        Assert.Equal(4096, doc.GetProperty("sequence").GetInt32());
    }

    [Fact]
    public void Model_size_reads_a_config_json_and_seq_changes_the_attention_FLOPs()
    {
        var config = ConfigFile("""{ "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 16, "intermediate_size": 172, "max_position_embeddings": 64 }""");

        var (exit, output, error) = Research("model-size", "--config", config, "--seq", "63", "--json");

        Assert.True(exit == ExitCodes.Ok, error);
        var doc = JsonDocument.Parse(output).RootElement;
        long d = 64, v = 16;
        Assert.Equal(2 * (4 * d * d + 3 * d * 172 + 2 * d) + 2 * v * d + d, doc.GetProperty("totalParameters").GetInt64());
        Assert.Equal(2 * 2.0 * 4 * (16 + 16) * 32, doc.GetProperty("attentionForwardFlops").GetDouble());   // l·2·n_h·(d_h + d_h)·(63 + 1)/2
    }

    [Fact]
    public void List_tabulates_every_preset_with_the_convention()
    {
        var (exit, output, error) = Research("model-size", "--list");

        Assert.True(exit == ExitCodes.Ok, error);
        foreach (var name in global::Research.Accounting.ModelPresets.Names) Assert.Contains(name, output);
        Assert.Contains("training = 3 × forward", output);
        Assert.Contains("671.0B", output);
        Assert.Contains("235.7B", output);
    }

    [Fact]
    public void Cost_of_V3_reproduces_Table_1_and_its_implied_utilisation()
    {
        var (exit, output, error) = Research("cost", "--preset", "deepseek-v3", "--json");

        Assert.True(exit == ExitCodes.Ok, error);
        var doc = JsonDocument.Parse(output).RootElement;
        // With the utilisation the pre-training hours imply, the estimate gives those hours back: 2,664K (V3 Table 1).
        Assert.Equal(2_664e3, doc.GetProperty("gpuHours").GetDouble(), 3);
        var run = doc.GetProperty("published").GetProperty("run");
        Assert.Equal(2.788e6, run.GetProperty("gpuHours").GetDouble(), 3);
        Assert.Equal(5.576e6, run.GetProperty("dollars").GetDouble(), 3);
        Assert.Contains("prior research", run.GetProperty("notCovered").GetString());
    }

    [Fact]
    public void Cost_with_tokens_gpu_mfu_and_price_is_tokens_times_flops_over_peak_times_mfu()
    {
        var (exit, output, error) = Research("cost", "--preset", "llama3.1-8b", "--tokens", "1T", "--gpu", "h100", "--mfu", "0.5", "--price", "3", "--json");

        Assert.True(exit == ExitCodes.Ok, error);
        var doc = JsonDocument.Parse(output).RootElement;
        double flops = doc.GetProperty("trainingFlopsPerToken").GetDouble();
        double hours = 1e12 * flops / (989.5e12 * 0.5) / 3600;   // H100 SXM dense BF16: 989.5 TFLOP/s
        Assert.Equal(hours, doc.GetProperty("gpuHours").GetDouble(), 6);
        Assert.Equal(3 * hours, doc.GetProperty("dollars").GetDouble(), 6);
    }

    [Theory]
    [InlineData("model-size", "--preset", "gpt-5", "deepseek-v3, deepseek-v2")]
    [InlineData("model-size", "--preset", "deepseek-v3", "--seq", "0", "seq must be in 1..131072")]
    [InlineData("model-size", "--config", "/nonexistent/config.json", "does not exist")]
    [InlineData("model-size", "needs exactly one of --preset, --config, --list")]
    [InlineData("cost", "--preset", "deepseek-v3", "--mfu", "1.5", "mfu must be in (0, 1]")]
    [InlineData("cost", "--preset", "deepseek-v3", "--gpu", "tpu", "gpu must be one of h800, h100")]
    [InlineData("cost", "--preset", "deepseek-v3", "--tokens", "-3T", "tokens must be a number > 0")]
    [InlineData("cost", "--preset", "mistral-7b", "needs --tokens")]
    [InlineData("cost", "--preset", "mistral-7b", "--tokens", "1T", "needs --mfu")]
    [InlineData("cost", "--preset", "deepseek-v3", "--price", "-1", "price must be a finite number ≥ 0")]
    public void Bad_input_is_one_research_line_and_exit_2(params string[] argsAndNamed)
    {
        InProcessCli.AssertBadInput(Research(argsAndNamed[..^1]), argsAndNamed[^1]);
    }

    [Theory]
    [InlineData("""{ "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 16, "intermediate_size": 8, "n_routed_experts": 4, "n_shared_experts": 1, "num_experts_per_tok": 9, "moe_intermediate_size": 8, "first_k_dense_replace": 0 }""", "num_experts_per_tok must be in 1..n_routed_experts (4) (got 9)")]
    [InlineData("""{ "hidden_size": 64, "num_hidden_layers": -2, "num_attention_heads": 4, "vocab_size": 16, "intermediate_size": 8 }""", "num_hidden_layers must be in 1..65536 (got -2)")]
    [InlineData("""{ "hidden_size": 64, "num_attention_heads": 4, "vocab_size": 16, "intermediate_size": 8 }""", "field 'num_hidden_layers' is missing")]
    [InlineData("""{ "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 3, "vocab_size": 16, "intermediate_size": 8 }""", "num_key_value_heads must divide num_attention_heads (4)")]
    [InlineData("""{ "hidden_size": 64, """, "malformed JSON")]
    public void Bad_config_files_name_the_field(string json, string named)
    {
        InProcessCli.AssertBadInput(Research("model-size", "--config", ConfigFile(json)), named);
    }
}

/// <summary>The KV-cache calculator reads the same config.json files as <c>model-size</c>.</summary>
public sealed class KvCacheFromConfigJsonTests
{
    [Fact]
    public void Kv_cache_reads_a_config_json()
    {
        var path = Path.Combine(TestPaths.TempFolder(), "config.json");
        File.WriteAllText(path, """{ "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 8, "num_key_value_heads": 2, "vocab_size": 16, "intermediate_size": 8, "max_position_embeddings": 64 }""");

        var (exit, output, error) = InProcessCli.Run("kv-cache", "--config", path, "--json");

        Assert.True(exit == ExitCodes.Ok, error);
        var doc = System.Text.Json.JsonDocument.Parse(output).RootElement;
        Assert.Equal(2 * 2 * 8 * 2, doc.GetProperty("elementsPerToken").GetInt64());   // 2·n_g·d_h·l with d_h = 64 / 8
        Assert.Equal("gqa", doc.GetProperty("model").GetProperty("kind").GetString());
    }
}

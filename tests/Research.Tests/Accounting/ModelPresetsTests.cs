using Research.Accounting;
using Research.Experiments;
using Research.Mla;
using Xunit;

namespace Research.Tests.Accounting;

public sealed class ModelPresetsTests
{
    private static string File(string json)
    {
        var path = Path.Combine(TestPaths.TempFolder(), "config.json");
        System.IO.File.WriteAllText(path, json);
        return path;
    }

    [Fact]
    public void Every_preset_is_valid_cites_a_source_and_feeds_the_KV_cache_calculator()
    {
        Assert.Equal(["deepseek-v3", "deepseek-v2", "deepseek-v2-lite", "deepseek-67b", "qwen2.5-72b", "llama3.1-405b", "llama3.1-70b", "llama3.1-8b", "mistral-7b"],
            ModelPresets.Names);
        Assert.All(ModelPresets.All, m => Assert.Contains("config.json", m.Source));
        Assert.Equal(ModelPresets.Names, KvCachePresets.Names);
        Assert.Equal(AttentionKind.Mla, KvCachePresets.Find("deepseek-v3").Kind);
        Assert.Equal(AttentionKind.Gqa, KvCachePresets.Find("mistral-7b").Kind);
        Assert.Equal(8192, KvCachePresets.Find("mistral-7b").MaxContext);
    }

    [Fact]
    public void A_config_json_reads_as_published_with_fields_the_calculators_do_not_use()
    {
        // Given a config.json in V2-Lite's form, with fields beyond the calculators' (rope_scaling, torch_dtype)
        var path = File("""
            { "architectures": ["DeepseekV2ForCausalLM"], "hidden_size": 2048, "num_hidden_layers": 27, "intermediate_size": 10944,
              "vocab_size": 102400, "num_attention_heads": 16, "num_key_value_heads": 16, "q_lora_rank": null, "kv_lora_rank": 512,
              "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128, "first_k_dense_replace": 1, "n_routed_experts": 64,
              "n_shared_experts": 2, "num_experts_per_tok": 6, "moe_intermediate_size": 1408, "max_position_embeddings": 163840,
              "rope_scaling": { "type": "yarn", "factor": 40 }, "torch_dtype": "bfloat16", "tie_word_embeddings": false }
            """);
        var loaded = ModelPresets.Load(path);

        // Then it counts as the preset does (the preset differs only in its name, source and documented context)
        Assert.Equal("config", loaded.Name);
        Assert.Equal(ParameterCounting.Count(ModelPresets.Find("deepseek-v2-lite")).Total, ParameterCounting.Count(loaded).Total);
        // And the KV-cache calculator reads the same file
        Assert.Equal(15_552, KvCacheSize.ElementsPerToken(KvCachePresets.Load(path)));   // (512 + 64)·27, V2 App. D.2
    }

    [Theory]
    [InlineData("""{ "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 16, "intermediate_size": 8 }""", "field 'hidden_size' is missing")]
    [InlineData("""{ "hidden_size": -64, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 16, "intermediate_size": 8 }""", "hidden_size must be in 1..65536 (got -64)")]
    [InlineData("""{ "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 3, "vocab_size": 16, "intermediate_size": 8 }""", "num_key_value_heads must divide num_attention_heads (4): allowed 1, 2, 4 (got 3)")]
    [InlineData("""{ "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 5, "vocab_size": 16, "intermediate_size": 8 }""", "num_attention_heads must divide hidden_size (64)")]
    [InlineData("""{ "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 16, "intermediate_size": 8, "n_routed_experts": 4, "n_shared_experts": 1, "num_experts_per_tok": 5, "moe_intermediate_size": 8, "first_k_dense_replace": 1 }""", "num_experts_per_tok must be in 1..n_routed_experts (4) (got 5)")]
    [InlineData("""{ "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 16, "n_routed_experts": 4, "n_shared_experts": 1, "num_experts_per_tok": 2, "moe_intermediate_size": 8 }""", "field 'first_k_dense_replace' is missing")]
    [InlineData("""{ "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 16, "intermediate_size": 8, "kv_lora_rank": 32, "qk_nope_head_dim": 16, "qk_rope_head_dim": 8, "v_head_dim": 16 }""", "field 'q_lora_rank' is missing")]
    [InlineData("""{ "hidden_size": "wide", "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 16, "intermediate_size": 8 }""", "at $.hidden_size")]
    [InlineData("""{ "hidden_size": 64, """, "malformed JSON")]
    [InlineData("""[1, 2]""", "expected a JSON object")]
    public void Bad_config_files_are_errors_naming_the_field(string json, string expected)
    {
        var e = Assert.Throws<ConfigException>(() => ModelPresets.Load(File(json)));
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void An_unknown_preset_lists_the_known_ones()
    {
        var e = Assert.Throws<ConfigException>(() => ModelPresets.Find("gpt-5"));
        Assert.Contains("'gpt-5'", e.Message);
        Assert.Contains("deepseek-v3, deepseek-v2, deepseek-v2-lite", e.Message);
    }
}

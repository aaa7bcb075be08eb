using Research.Models;
using Research.Accounting;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Research.Tests.Accounting;

/// <summary>Parameter counts against the published totals and against the kit's own modules.</summary>
public sealed class ParameterCountTests
{
    private static ParameterCount Count(string preset) => ParameterCounting.Count(ModelPresets.Find(preset));

    [Fact]
    public void DeepSeek_V3_has_671_0B_parameters_of_which_about_37_6B_are_activated()
    {
        var v3 = Count("deepseek-v3");

        // V3 abstract / §4.2: 671B total, 37B activated; issue #15 asks for 671.0B and ~37.6B (embedding and head included).
        Assert.Equal(671.0, Math.Round(v3.Total / 1e9, 1));
        Assert.Equal(37.6, Math.Round(v3.Activated / 1e9, 1));
    }

    [Fact]
    public void DeepSeek_V3_total_is_the_closed_form_over_its_config()
    {
        // Closed form with V3's config.json values written out: d 7168, l 61 (3 dense), V 129280, n_h 128,
        // d'_c 1536, d_c 512, d_h 128, d_h^R 64, d_v 128, dense inter 18432, 256 routed + 1 shared of 2048, gate bias.
        long d = 7168, v = 129_280;
        long attention = d * 1536 + 1536 + 1536L * 128 * (128 + 64) + d * (512 + 64) + 512 + 512L * 128 * (128 + 128) + 128L * 128 * d;
        long block = attention + 2 * d;
        long dense = 3 * d * 18_432;
        long moe = 257 * 3 * d * 2048 + 256 * d + 256;
        long expected = 61 * block + 3 * dense + 58 * moe + 2 * v * d + d;

        Assert.Equal(expected, Count("deepseek-v3").Total);
        Assert.Equal(61 * block + 3 * dense + 58 * (9 * 3 * d * 2048 + 256 * d + 256) + 2 * v * d + d, Count("deepseek-v3").Activated);
    }

    [Fact]
    public void DeepSeek_V2_has_235_7B_parameters_of_which_21_4B_are_activated()
    {
        var v2 = Count("deepseek-v2");

        // V2 abstract: 236B total, 21B activated per token; issue #15: 235.7B and 21.4B.
        Assert.Equal(235.7, Math.Round(v2.Total / 1e9, 1));
        Assert.Equal(21.4, Math.Round(v2.Activated / 1e9, 1));
        Assert.Equal(0, v2[ParameterPart.GateBias].Total);   // V2 routes with auxiliary losses: no bias stored
    }

    [Fact]
    public void V3_MTP_module_is_counted_apart_and_the_checkpoint_repeats_embedding_and_head()
    {
        var v3 = Count("deepseek-v3");
        long d = 7168, v = 129_280;

        // code-V3 README_WEIGHTS: 671B main + 14B MTP, 11.5B of it unique, embedding and head 0.9B each.
        Assert.Equal(1, v3.Mtp.Depths);
        Assert.Equal(2 * v * d, v3.Mtp.SharedCopies);
        Assert.Equal(v3.Mtp.Unique + v3.Mtp.SharedCopies, v3.Mtp.Stored);
        Assert.InRange(v3.Mtp.Unique / 1e9, 11.5, 11.7);   // 11.61B: the README's 11.5B rounds down or leaves out M_k and norms
        Assert.InRange(v3.Mtp.Stored / 1e9, 13.4, 14.0);   // 13.46B; the README rounds to 14B
        Assert.InRange((v3.Total + v3.Mtp.Stored) / 1e9, 684, 685);   // the Hub's 685B
        Assert.Equal(0.9, Math.Round(v * d / 1e9, 1));
    }

    [Fact]
    public void A_dense_GQA_count_is_the_closed_form_and_every_parameter_is_activated()
    {
        // Llama 3.1 8B: d 4096, l 32, n_h 32, n_g 8, d_h 128, inter 14336, V 128256.
        long d = 4096, g = 8, dh = 128, ff = 14_336, v = 128_256;
        long expected = 32 * (2 * d * d + 2 * d * g * dh + 3 * d * ff + 2 * d) + 2 * v * d + d;
        var count = Count("llama3.1-8b");

        Assert.Equal(expected, count.Total);
        Assert.Equal(count.Total, count.Activated);
        Assert.Equal(8.03, Math.Round(count.Total / 1e9, 2));   // Meta's model card: 8B (HF lists 8.03B)
    }

    [Fact]
    public void Qwen_biases_are_counted_on_q_k_and_v()
    {
        var qwen = Count("qwen2.5-72b");
        Assert.Equal(80L * (64 + 2 * 8) * 128, qwen[ParameterPart.AttentionBiases].Total);
        Assert.Equal(72.7, Math.Round(qwen.Total / 1e9, 1));    // Qwen2.5-72B model card: 72.7B
    }

    [Fact]
    public void Activated_never_exceeds_total_and_MoE_activates_K_of_N_routed_experts()
    {
        foreach (var m in ModelPresets.All)
        {
            var c = ParameterCounting.Count(m);
            Assert.All(c.Parts, p => Assert.InRange(p.Activated, 0, p.Total));
            if (m.IsMoe)
                Assert.Equal(c[ParameterPart.RoutedExperts].Total / m.NRoutedExperts!.Value * m.NumExpertsPerTok, c[ParameterPart.RoutedExperts].Activated);
        }
    }

    [Fact]
    public void Tied_embeddings_drop_the_head_and_MTP_copies_of_it()
    {
        var tiny = ModelConfig.TinyMlaMoe;
        var untied = ParameterCounting.Count(tiny);
        var tied = ParameterCounting.Count(tiny with { TieWordEmbeddings = true });
        long vd = tiny.VocabSize * tiny.HiddenSize;

        Assert.Equal(untied.Total - vd, tied.Total);
        Assert.Equal(untied.Mtp.SharedCopies - vd, tied.Mtp.SharedCopies);
        Assert.Equal(untied.ActivatedMatmul, tied.ActivatedMatmul);   // the head's matmul happens either way
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void The_kits_modules_built_from_a_tiny_config_have_exactly_the_counted_parameters(bool mla)
    {
        // Given a tiny model of V3's shape (MLA with query compression, one dense layer, DeepSeekMoE, one MTP depth) or a dense GQA one
        var config = mla ? ModelConfig.TinyMlaMoe : new ModelConfig(NumKeyValueHeads: 2, NumNextnPredictLayers: 1);
        // When the kit builds it from its own modules
        using var model = new LanguageModel(config, CPU, new Generator(0));
        var count = ParameterCounting.Count(config);
        // Then the modules hold exactly the counted parameters: main model, and MTP without the shared embedding and head
        long Sum(bool mtp) => model.named_parameters().Where(p => p.name.StartsWith("mtp.", StringComparison.Ordinal) == mtp).Sum(p => p.parameter.numel());
        Assert.Equal(count.Total, Sum(mtp: false));
        Assert.Equal(count.Mtp.Unique, Sum(mtp: true));
    }

    [Fact]
    public void A_gate_bias_is_a_buffer_of_the_built_model_and_counted_as_the_gate_bias_part()
    {
        var config = ModelConfig.TinyMlaMoe with { TopkMethod = "noaux_tc" };
        using var model = new LanguageModel(config, CPU, new Generator(0));
        var count = ParameterCounting.Count(config);
        // One bias per routed expert per MoE layer: 2 MoE layers of the main model × 8 experts, held as buffers (moved by rule, not gradient).
        Assert.Equal(2 * 8, count[ParameterPart.GateBias].Total);
        Assert.Equal(count[ParameterPart.GateBias].Total, model.MainMoeLayers.Sum(m => m.Router.Bias.numel()));
        Assert.DoesNotContain(model.named_parameters(), p => p.name.EndsWith("gate.bias", StringComparison.Ordinal));
    }
}

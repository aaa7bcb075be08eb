using Research.Accounting;
using Research.Data;
using Research.Experiments;
using Research.Mla;
using Research.Models;
using Research.Moe;
using Research.V3Mini;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Research.Tests.V3Mini;

public sealed class DeepSeekMiniTests
{
    private static readonly ModelConfig Full = ModelConfig.DeepSeekMini with { Fp8 = V3Fp8.Recipe(ModelConfig.DeepSeekMini) };

    private static Tensor Sequences(int seed) =>
        randint(2, MultiDomainCorpus.VocabularySize, [4, 33], dtype: ScalarType.Int64, generator: new Generator((ulong)seed));

    private static float[] Values(Tensor t) => t.detach().contiguous().to(ScalarType.Float32).data<float>().ToArray();

    // A few optimizer steps with the bias moved after each, as the experiment trains.
    private static List<float> Train(LanguageModel mini, int steps)
    {
        mini.train();
        using var optimizer = optim.AdamW(mini.parameters(), 3e-3);
        var losses = new List<float>();
        for (int s = 0; s < steps; s++)
        {
            using var scope = NewDisposeScope();
            optimizer.zero_grad();
            var loss = mini.Losses(Sequences(s), 0.3).Total;
            loss.backward();
            optimizer.step();
            mini.UpdateBiases();
            losses.Add(loss.item<float>());
        }
        return losses;
    }

    [Fact]
    public void Its_parameters_are_what_the_accounting_counts_for_its_config()
    {
        using var mini = new LanguageModel(Full, CPU, new Generator(0));
        var count = ParameterCounting.Count(Full);
        // Main model: every counted part; the balancing biases (GateBias) are buffers, moved by rule, not by gradient.
        long mainParameters = mini.named_parameters().Where(p => !p.name.StartsWith("mtp.", StringComparison.Ordinal)).Sum(p => p.parameter.numel());
        long mainBias = mini.MainMoeLayers.Sum(m => m.Router.Bias.numel());
        Assert.Equal(count.Total, mainParameters + mainBias);
        Assert.Equal(count[ParameterPart.GateBias].Total, mainBias);
        // The MTP depth: its own parameters (the embedding and head are the main model's) and its MoE block's bias
        Assert.Equal(count.Mtp.Unique, mini.named_parameters().Where(p => p.name.StartsWith("mtp.", StringComparison.Ordinal)).Sum(p => p.parameter.numel()) + mini.GateBiasElements - mainBias);
        Assert.True(count.Activated < count.Total, "routed experts make the activated count smaller than the total");
    }

    [Fact]
    public void Its_kv_cache_is_the_mla_latent_and_rope_key_per_layer()
    {
        using var mini = new LanguageModel(Full, CPU, new Generator(0));
        var c = Full;
        Assert.Equal((long)(c.KvLoraRank!.Value + c.QkRopeHeadDim) * c.NumHiddenLayers, mini.KvCacheElementsPerToken);
        Assert.Equal(KvCacheSize.ElementsPerToken(c.ToKvCacheModel()), mini.KvCacheElementsPerToken);
    }

    [Fact]
    public void V3s_128_tile_is_scaled_down_to_the_largest_power_of_two_dividing_every_gemm()
    {
        // d = 64, d'_c = d_c = 32, expert width 32: 32 divides every inner width, 64 does not
        Assert.Equal(32, V3Fp8.Tile(Full));
        Assert.Equal(32, Full.Fp8!.Activations.TileSize);
        Assert.Equal(32, Full.Fp8.Weights.BlockSize);
        Assert.Equal(32, Full.Fp8.Gradients.TileSize);
        var wide = Full with { HiddenSize = 256, QLoraRank = 128, KvLoraRank = 128, MoeIntermediateSize = 128, IntermediateSize = 384, NumAttentionHeads = 8 };
        Assert.Equal(128, V3Fp8.Tile(wide.Buildable()));
    }

    [Fact]
    public void One_loss_sends_gradients_to_every_parameter_and_the_biases_move_toward_balance()
    {
        using var mini = new LanguageModel(Full, CPU, new Generator(1));
        mini.train();
        var losses = mini.Losses(Sequences(0), 0.3);
        Assert.NotNull(losses.Balance);   // V3's sequence-wise loss, α = 0.0001
        losses.Total.backward();
        foreach (var (name, p) in mini.named_parameters())
            Assert.True(p.grad is not null && p.grad.abs().sum().item<float>() > 0, $"no gradient reached {name}");
        var before = mini.MoeLayers.Select(m => Values(m.Router.Bias)).ToList();
        mini.UpdateBiases();
        Assert.Contains(mini.MoeLayers.Select((m, i) => Values(m.Router.Bias).Zip(before[i]).Any(p => p.First != p.Second)), moved => moved);
    }

    [Fact]
    public void A_checkpoint_round_trips_weights_biases_and_mtp_exactly()
    {
        using var trained = new LanguageModel(Full, CPU, new Generator(2));
        Train(trained, 3);
        string folder = Directory.CreateTempSubdirectory("mini-").FullName;
        try
        {
            string path = Path.Combine(folder, "mini.bin");
            trained.save(path);
            using var loaded = new LanguageModel(Full, CPU, new Generator(99));
            loaded.load(path);
            var a = trained.state_dict();
            var b = loaded.state_dict();
            Assert.Equal(a.Keys, b.Keys);
            Assert.Contains(a.Keys, k => k.StartsWith("mtp.", StringComparison.Ordinal));
            Assert.Contains(a.Keys, k => k.EndsWith("gate.bias", StringComparison.Ordinal));
            foreach (var key in a.Keys) Assert.Equal(Values(a[key]), Values(b[key]));
            Assert.Contains(trained.MoeLayers, m => Values(m.Router.Bias).Any(v => v != 0));   // the biases had moved
            trained.eval();
            loaded.eval();
            var x = Sequences(7);
            Assert.Equal(Values(trained.Losses(x, 0.3).Total), Values(loaded.Losses(x, 0.3).Total));
        }
        finally
        {
            Directory.Delete(folder, true);
        }
    }

    [Fact]
    public void The_same_seed_gives_identical_losses()
    {
        using var first = new LanguageModel(Full, CPU, new Generator(3));
        using var second = new LanguageModel(Full, CPU, new Generator(3));
        Assert.Equal(Train(first, 3), Train(second, 3));
    }

    [Theory]
    [InlineData("kv_lora_rank")]
    [InlineData("num_experts_per_tok")]
    [InlineData("fp8Tile")]
    [InlineData("biasUpdateSpeed")]
    [InlineData("topk_group")]
    public void Fields_that_do_not_fit_together_are_config_errors_naming_the_field(string field)
    {
        var m = ModelConfig.DeepSeekMini;
        var config = field switch
        {
            "kv_lora_rank" => Full with { KvLoraRank = 128 },
            "num_experts_per_tok" => Full with { NumExpertsPerTok = 9 },
            "fp8Tile" => Full,
            "biasUpdateSpeed" => Full with { TopkMethod = "greedy", Balancing = BalancingConfig.DeepSeekV3 },
            "topk_group" => Full with { TopkGroup = 5 },
            _ => throw new ArgumentException(field),
        };
        var e = Assert.Throws<ConfigException>(() =>
        {
            if (field == "fp8Tile") new V3MiniExperimentConfig { Fp8Tile = 24 }.Validated();
            else new LanguageModel(config, CPU, new Generator(0)).Dispose();
        });
        Assert.Contains(field, e.Message);
        if (field == "fp8Tile") Assert.Contains("allowed 1, 2, 4, 8, 16, 32", e.Message);
    }
}

using Research.Fp8;
using Research.Mla;
using Research.Models;
using Research.Moe;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Research.Tests.Fp8;

/// <summary>The kit's blocks (SwiGLU, attention, MLA, MoE experts) with their GEMMs in FP8.</summary>
public sealed class Fp8BlockGemmsTests
{
    // An MoE layer of width 32 with the gate of `router` and experts of `hidden`.
    private static ModelConfig Moe(RouterConfig router, int hidden) => new ModelConfig(Name: "moe", HiddenSize: 32, MoeIntermediateSize: hidden).WithGate(router);

    private const int Tile = 16;

    private static readonly Fp8TrainingRecipe Recipe = Fp8TrainingRecipe.DeepSeekV3 with
    {
        Activations = new ScalingConfig(Granularity.Tile, TileSize: Tile),
        Weights = new ScalingConfig(Granularity.Block, BlockSize: Tile),
        Gradients = new ScalingConfig(Granularity.Tile, TileSize: Tile),
    };

    private static float[] Values(Tensor t) => t.detach().contiguous().data<float>().ToArray();

    private static double MaxAbs(Tensor a, Tensor b) => (a - b).abs().max().item<float>();

    private static double RelativeError(Tensor approx, Tensor exact) => (approx - exact).norm().item<float>() / exact.norm().item<float>();

    [Fact]
    public void An_fp8_swiglu_equals_the_libtorch_float8_oracle_on_every_operand()
    {
        // Given a SwiGLU whose GEMMs run on V3's recipe with 1×16 tiles and 16×16 blocks, and the same weights in FP32
        var fp8 = new SwiGlu(32, 48, CPU, Recipe);
        var x = randn([5, 32], generator: new Generator(1));
        var w = fp8.parameters().Select(p => p.detach()).ToArray();   // gate, up, output
        // When its output is rebuilt from operands rounded by libtorch's own float8 cast, group by group
        Tensor Q(Tensor a) => Fp8LinearTests.OracleE4M3(a, tile: Tile);
        Tensor QW(Tensor a) => Fp8LinearTests.OracleE4M3(a, block: Tile);
        var xq = Q(x);
        var h = nn.functional.silu(xq.matmul(QW(w[0]).t())) * xq.matmul(QW(w[1]).t());
        var expected = Q(h).matmul(QW(w[2]).t());
        // Then the module computes exactly that, and it is not the FP32 product
        var y = fp8.forward(x);
        Assert.True(MaxAbs(y, expected) < 1e-6, $"max |module − oracle| = {MaxAbs(y, expected)}");
        using var fp32 = new SwiGlu(32, 48, CPU);
        fp32.load_state_dict(fp8.state_dict());
        Assert.True(MaxAbs(fp32.forward(x), y) > 1e-4, "the FP8 module gave the FP32 output");
    }

    [Fact]
    public void A_disabled_recipe_gives_the_fp32_modules_bit_for_bit()
    {
        var lm = new ModelConfig(VocabSize: 8, HiddenSize: 32, NumHiddenLayers: 1, NumAttentionHeads: 2, IntermediateSize: 48, MaxPositionEmbeddings: 8);
        var x = randn([2, 6, 32], generator: new Generator(2));
        (nn.Module<Tensor, Tensor>, nn.Module<Tensor, Tensor>)[] pairs =
        [
            (new SwiGlu(32, 48, CPU), new SwiGlu(32, 48, CPU, Fp8TrainingRecipe.Fp32)),
            (new Attention(lm with { NumKeyValueHeads = 1 }, CPU), new Attention(lm with { NumKeyValueHeads = 1, Fp8 = Fp8TrainingRecipe.Fp32 }, CPU)),
            (new MultiHeadLatentAttention(new ModelConfig(HiddenSize: 32, NumAttentionHeads: 2, KvLoraRank: 16, QLoraRank: 16, MaxPositionEmbeddings: 8), CPU),
             new MultiHeadLatentAttention(new ModelConfig(HiddenSize: 32, NumAttentionHeads: 2, KvLoraRank: 16, QLoraRank: 16, MaxPositionEmbeddings: 8, Fp8: Fp8TrainingRecipe.Fp32), CPU)),
            (new MoeLayer(Moe(new RouterConfig(4, 2), 16), CPU, new Generator(3)),
             new MoeLayer(Moe(new RouterConfig(4, 2), 16) with { Fp8 = Fp8TrainingRecipe.Fp32 }, CPU, new Generator(3))),
        ];
        foreach (var (plain, off) in pairs)
        {
            off.load_state_dict(plain.state_dict());
            Assert.Equal(Values(plain.forward(x)), Values(off.forward(x)));
        }
    }

    [Fact]
    public void Fp8_expert_dispatch_equals_the_token_by_token_fp8_reference_and_stays_near_fp32()
    {
        // Given an MoE layer whose shared and routed experts run in FP8 (each expert's weight blocked on its own)
        var config = Moe(new RouterConfig(8, 2, RoutedScaling: 2.5), 16);
        var fp8 = new MoeLayer(config with { Fp8 = Recipe }, CPU, new Generator(4));
        using var fp32 = new MoeLayer(config, CPU, new Generator(4));
        var x = randn([3, 5, 32], generator: new Generator(5));
        // When the sorted dispatch and the token-by-token loop route the same tokens
        var sorted = fp8.forward(x);
        var naive = fp8.ForwardNaive(x);
        // Then they agree (per-token tiles make quantizing before or after the gather the same), and FP8 is a few % off FP32
        Assert.True(MaxAbs(sorted, naive) < 1e-5, $"max |sorted − naive| = {MaxAbs(sorted, naive)}");
        double error = RelativeError(sorted, fp32.forward(x));
        Assert.InRange(error, 1e-4, 0.1);
    }

    [Theory]
    [InlineData("attention")]
    [InlineData("mla")]
    public void Fp8_attention_decoded_through_its_cache_equals_its_fp8_training_forward(string kind)
    {
        // Tiles run along each token's row, so a token's projections do not depend on the other tokens: the cache
        // holds what the training forward computed.
        var lm = new ModelConfig(VocabSize: 8, HiddenSize: 32, NumHiddenLayers: 1, NumAttentionHeads: 2, IntermediateSize: 48, MaxPositionEmbeddings: 8);
        IIncrementalAttention attention = kind == "mla"
            ? new MultiHeadLatentAttention(new ModelConfig(HiddenSize: 32, NumAttentionHeads: 2, KvLoraRank: 16, QLoraRank: 16, MaxPositionEmbeddings: 8, Fp8: Recipe), CPU) { Inference = MlaInference.Naive }
            : new Attention(lm with { NumKeyValueHeads = 1, Fp8 = Recipe }, CPU);
        var module = (nn.Module<Tensor, Tensor>)attention;
        var x = randn([2, 6, 32], generator: new Generator(6));
        var full = module.forward(x);
        using var cache = attention.NewCache(2, 8);
        var prefill = attention.Decode(x.narrow(1, 0, 3), cache);
        var steps = Enumerable.Range(3, 3).Select(t => attention.Decode(x.narrow(1, t, 1), cache)).ToList();
        var decoded = cat([prefill, .. steps], 1);
        Assert.True(MaxAbs(full, decoded) < 1e-5, $"max |decoded − forward| = {MaxAbs(full, decoded)}");
    }

    [Fact]
    public void Gradients_reach_every_expert_weight_through_the_fp8_gemms()
    {
        var fp8 = new MoeLayer(Moe(new RouterConfig(4, 2), 16) with { Fp8 = Recipe }, CPU, new Generator(7));
        fp8.train();
        var x = randn([64, 32], generator: new Generator(8));
        fp8.forward(x).square().sum().backward();
        foreach (var (name, p) in fp8.named_parameters())
            Assert.True(p.grad is not null && p.grad.abs().sum().item<float>() > 0, $"no gradient reached {name}");
    }
}

using Research.Experiments;
using Research.Fp8;
using Research.Models;
using Research.Platform;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Research.Tests.Fp8;

public sealed class Fp8LinearTests
{
    private static float[] Values(Tensor t) => t.detach().contiguous().data<float>().ToArray();

    private static void AssertBitEqual(Tensor expected, Tensor actual)
    {
        Assert.Equal(expected.shape, actual.shape);
        Assert.Equal(Values(expected).Select(BitConverter.SingleToInt32Bits), Values(actual).Select(BitConverter.SingleToInt32Bits));
    }

    // Oracle for one operand, written independently of Fp8Scaling: each group's scale is amax/max in float32,
    // libtorch's own float8 cast rounds x/s, times s. Groups are 1×tile along rows or block×block.
    internal static Tensor Oracle(Tensor x, ScalarType float8, float max, int? tile = null, int? block = null, bool perTensor = false)
    {
        var m = x.detach().reshape(-1, x.shape[^1]);
        long rows = m.shape[0], cols = m.shape[1];
        var data = Values(m);
        var scale = new float[data.Length];
        float Amax(IEnumerable<(long R, long C)> cells) => cells.Max(rc => Math.Abs(data[rc.R * cols + rc.C]));
        IEnumerable<(long, long)> Cells(long r0, long r1, long c0, long c1)
        {
            for (long r = r0; r < r1; r++) for (long c = c0; c < c1; c++) yield return (r, c);
        }
        void Fill(long r0, long r1, long c0, long c1)
        {
            float amax = Amax(Cells(r0, r1, c0, c1));
            float s = amax > 0 ? amax / max : 1f;
            foreach (var (r, c) in Cells(r0, r1, c0, c1)) scale[r * cols + c] = s;
        }
        if (perTensor) Fill(0, rows, 0, cols);
        else if (tile is int t)
            for (long r = 0; r < rows; r++) for (long c = 0; c < cols; c += t) Fill(r, r + 1, c, Math.Min(c + t, cols));
        else if (block is int b)
            for (long r = 0; r < rows; r += b) for (long c = 0; c < cols; c += b) Fill(r, Math.Min(r + b, rows), c, Math.Min(c + b, cols));
        var s = tensor(scale).reshape(rows, cols);
        var rounded = (m / s).to_type(float8).to_type(ScalarType.Float32);
        return (rounded * s).reshape(x.shape);
    }

    internal static Tensor OracleE4M3(Tensor x, int? tile = null, int? block = null) => Oracle(x, Doctor.Float8E4M3FN, 448f, tile, block);

    private static Tensor OracleE5M2(Tensor x, int? tile = null) => Oracle(x, Doctor.Float8E5M2, 57344f, tile);

    [Fact]
    public void With_quantization_off_it_equals_nn_Linear_exactly_and_shares_its_state_dict_keys()
    {
        // Given an nn.Linear and an FP32-recipe Linear loaded from its state dict
        var reference = nn.Linear(40, 24);
        var fp32 = new Linear(40, 24, CPU, Fp8TrainingRecipe.Fp32, hasBias: true);
        fp32.load_state_dict(reference.state_dict());
        var x = randn([7, 40], generator: new Generator(1));
        var x2 = x.clone().requires_grad_(true);
        x.requires_grad_(true);

        // When both run forward and backward on the same input and upstream gradient
        var yRef = reference.forward(x);
        var y = fp32.forward(x2);
        var upstream = randn([7, 24], generator: new Generator(2));
        (yRef * upstream).sum().backward();
        (y * upstream).sum().backward();

        // Then outputs and every gradient are bit-identical
        Assert.Equal(["weight", "bias"], fp32.state_dict().Keys);
        AssertBitEqual(yRef, y);
        AssertBitEqual(x.grad!, x2.grad!);
        AssertBitEqual(reference.weight!.grad!, fp32.Weight.grad!);
        AssertBitEqual(reference.bias!.grad!, fp32.Bias!.grad!);
    }

    [Fact]
    public void Forward_equals_quantized_tiles_times_quantized_blocks_plus_bias()
    {
        // Given V3's recipe on a layer wider than one tile and one block, and an input with an outlier
        var layer = new Linear(300, 200, CPU, Fp8TrainingRecipe.DeepSeekV3, hasBias: true, generator: new Generator(3));
        var x = randn([5, 300], generator: new Generator(4));
        x[2, 7] = 500f;

        // When
        var y = layer.forward(x);

        // Then y = Q_tile(x) · Q_block(W)ᵀ + b with both quantizations by libtorch's e4m3 cast
        var expected = OracleE4M3(x, tile: 128).matmul(OracleE4M3(layer.Weight, block: 128).T) + layer.Bias!.detach();
        Assert.True(allclose(expected, y.detach(), rtol: 1e-6, atol: 1e-6));
        Assert.False(allclose(x.matmul(layer.Weight.detach().T) + layer.Bias!.detach(), y.detach(), rtol: 1e-4, atol: 1e-4));
    }

    [Theory]
    [InlineData("E5M2")]
    [InlineData("E4M3")]
    public void Weight_and_input_gradients_use_the_quantized_output_gradient_and_quantized_operands(string gradientFormat)
    {
        // Given a fine-grained recipe with the chosen gradient format and an upstream gradient spanning many binades
        var recipe = Fp8TrainingRecipe.DeepSeekV3 with { Gradient = gradientFormat };
        var layer = new Linear(256, 192, CPU, recipe, hasBias: true, generator: new Generator(5));
        var x = randn([6, 256], generator: new Generator(6)).requires_grad_(true);
        var dy = randn([6, 192], generator: new Generator(7)) * exp(randn([6, 192], generator: new Generator(8)) * 2);

        // When
        layer.forward(x).backward([dy]);

        // Then Wgrad = Q(dy)ᵀ·Q(x), Dgrad = Q(dy)·Q(W), bias grad = Σ dy (unquantized)
        var dyq = gradientFormat == "E5M2" ? OracleE5M2(dy, tile: 128) : OracleE4M3(dy, tile: 128);
        var wgrad = dyq.T.matmul(OracleE4M3(x, tile: 128));
        var dgrad = dyq.matmul(OracleE4M3(layer.Weight, block: 128));
        Assert.True(allclose(wgrad, layer.Weight.grad!, rtol: 1e-5, atol: 1e-5));
        Assert.True(allclose(dgrad, x.grad!, rtol: 1e-5, atol: 1e-5));
        Assert.True(allclose(dy.sum([0L]), layer.Bias!.grad!, rtol: 1e-6, atol: 1e-6));
        Assert.False(allclose(dy.T.matmul(x.detach()), layer.Weight.grad!, rtol: 1e-3, atol: 1e-3));
    }

    // The fused path against the tensor-op reference it replaced: values and the gradients of x, W and b, bit for bit.
    [Theory]
    [InlineData(new long[] { 16, 64 }, 64, 64, true)]        // v3-mini's shapes: one partial tile and block
    [InlineData(new long[] { 3, 5, 300 }, 200, 300, false)]  // rank 3, several tiles and blocks with partial edges
    [InlineData(new long[] { 7, 128 }, 256, 128, true)]      // whole tiles and blocks only
    public void The_fused_path_equals_the_reference_bit_for_bit(long[] inputShape, int outFeatures, int inFeatures, bool hasBias)
    {
        var recipe = Fp8TrainingRecipe.DeepSeekV3;
        var g = new Generator(21);
        var x0 = randn(inputShape, generator: g) * torch.exp(randn(inputShape, generator: g) * 2);
        var w0 = randn([outFeatures, inFeatures], generator: g) * 0.05;
        var b0 = randn([outFeatures], generator: g);
        var target = randn([.. inputShape[..^1], outFeatures], generator: g) * torch.exp(randn([.. inputShape[..^1], outFeatures], generator: g) * 3);
        Assert.True(Fp8Training.FusedApplies(x0, w0, recipe));

        Tensor[] Run(Func<Tensor, Tensor, Tensor?, Fp8TrainingRecipe, Tensor> linear)
        {
            var (x, w, b) = (x0.clone().requires_grad_(true), w0.clone().requires_grad_(true), b0.clone().requires_grad_(true));
            var y = linear(x, w, hasBias ? b : null, recipe);
            (y * target).sum().backward();
            return [y, x.grad!, w.grad!, hasBias ? b.grad! : zeros(1)];
        }

        var fused = Run(Fp8Training.Linear);
        var reference = Run(Fp8Training.LinearReference);
        for (int i = 0; i < fused.Length; i++) AssertBitEqual(reference[i], fused[i]);
    }

    [Fact]
    public void The_fused_path_passes_a_non_finite_gradient_on_as_the_reference_does()
    {
        var recipe = Fp8TrainingRecipe.DeepSeekV3;
        var g = new Generator(22);
        var (x0, w0) = (randn([4, 64], generator: g), randn([32, 64], generator: g));
        var upstream = randn([4, 32], generator: g);
        upstream[1, 3] = tensor(float.NaN);

        Tensor[] Run(Func<Tensor, Tensor, Tensor?, Fp8TrainingRecipe, Tensor> linear)
        {
            var (x, w) = (x0.clone().requires_grad_(true), w0.clone().requires_grad_(true));
            linear(x, w, null, recipe).backward([upstream]);
            return [x.grad!, w.grad!];
        }

        var fused = Run(Fp8Training.Linear);
        var reference = Run(Fp8Training.LinearReference);
        for (int i = 0; i < 2; i++)
            Assert.True(reference[i].isnan().equal(fused[i].isnan()).all().item<bool>() && reference[i].nan_to_num().equal(fused[i].nan_to_num()).all().item<bool>());
        Assert.True(fused[0].isnan().any().item<bool>(), "the NaN reaches the input gradient");
    }

    [Fact]
    public void Recipes_the_kernels_do_not_cover_take_the_reference_path()
    {
        var (x, w) = (randn(4, 64), randn(8, 64));
        Assert.False(Fp8Training.FusedApplies(x, w, Fp8TrainingRecipe.PerTensor));
        Assert.False(Fp8Training.FusedApplies(x, w, new Fp8TrainingRecipe(Gradient: "E5M2")));
        Assert.False(Fp8Training.FusedApplies(x.to(ScalarType.Float64), w.to(ScalarType.Float64), Fp8TrainingRecipe.DeepSeekV3));
        Assert.False(Fp8Training.FusedApplies(x, w, Fp8TrainingRecipe.DeepSeekV3 with { Activations = new ScalingConfig(PowerOfTwoScales: true) }));
    }

    [Fact]
    public void Gradients_flow_to_input_weight_and_bias_through_a_stack_of_layers()
    {
        var first = new Linear(130, 64, CPU, Fp8TrainingRecipe.DeepSeekV3, hasBias: true, generator: new Generator(9));
        var second = new Linear(64, 3, CPU, Fp8TrainingRecipe.PerTensor, hasBias: true, generator: new Generator(10));
        var x = randn([4, 130], generator: new Generator(11)).requires_grad_(true);

        second.forward(nn.functional.relu(first.forward(x))).square().sum().backward();

        foreach (var g in new[] { x.grad!, first.Weight.grad!, first.Bias!.grad!, second.Weight.grad!, second.Bias!.grad! })
            Assert.True(g.abs().sum().item<float>() > 0 && g.isfinite().all().item<bool>());
    }

    [Fact]
    public void Master_weights_stay_float32_and_AdamW_moves_them_by_more_than_the_fp8_grid()
    {
        // Given a layer and one AdamW step with a learning rate far below E4M3's relative step (2⁻³)
        var layer = new Linear(128, 128, CPU, Fp8TrainingRecipe.DeepSeekV3, hasBias: true, generator: new Generator(12));
        var before = layer.Weight.detach().clone();
        var optimizer = optim.AdamW(layer.parameters(), lr: 1e-4);
        var x = randn([8, 128], generator: new Generator(13));

        // When
        layer.forward(x).square().mean().backward();
        optimizer.step();

        // Then W is still float32, every weight moved (by about lr: Adam's first step is ±lr·sign(g)), and most moves
        // are below half an E4M3 step at that weight: weights stored in FP8 would have lost them.
        Assert.Equal(ScalarType.Float32, layer.Weight.dtype);
        Assert.Equal(ScalarType.Float32, layer.Weight.grad!.dtype);
        var change = (layer.Weight.detach() - before).abs();
        Assert.True(change.gt(0).all().item<bool>());
        Assert.True(change.max().item<float>() < 2e-4f);
        var s = before.abs().max() / 448f;
        var storedBefore = (before / s).to_type(Doctor.Float8E4M3FN).to_type(ScalarType.Float32);
        var storedAfter = (layer.Weight.detach() / s).to_type(Doctor.Float8E4M3FN).to_type(ScalarType.Float32);
        Assert.True(storedAfter.eq(storedBefore).to_type(ScalarType.Float32).mean().item<float>() > 0.9f);
    }

    [Theory]
    [InlineData("Forward", "E2M1")]
    [InlineData("Gradient", "bf16")]
    public void Unknown_formats_are_config_errors_naming_the_field(string field, string value)
    {
        var recipe = field == "Forward" ? new Fp8TrainingRecipe(Forward: value) : new Fp8TrainingRecipe(Gradient: value);

        var e = Assert.Throws<ConfigException>(() => new Linear(4, 4, CPU, recipe, hasBias: true));

        Assert.Contains($"Fp8TrainingRecipe.{field}", e.Message);
        Assert.Contains(value, e.Message);
    }

    [Fact]
    public void A_bad_tile_size_is_a_config_error_naming_the_scaling_field()
    {
        var recipe = Fp8TrainingRecipe.DeepSeekV3 with { Gradients = ScalingConfig.ActivationTiles with { TileSize = 0 } };

        var e = Assert.Throws<ConfigException>(() => recipe.Validated());

        Assert.Contains("Fp8TrainingRecipe.Gradients", e.Message);
        Assert.Contains("TileSize", e.Message);
    }

    [Fact]
    public void Same_generator_seed_gives_the_same_initial_weights()
    {
        var a = new Linear(64, 32, CPU, Fp8TrainingRecipe.DeepSeekV3, hasBias: true, generator: new Generator(42));
        var b = new Linear(64, 32, CPU, Fp8TrainingRecipe.DeepSeekV3, hasBias: true, generator: new Generator(42));

        AssertBitEqual(a.Weight, b.Weight);
        Assert.True(a.Weight.abs().max().item<float>() <= 1 / MathF.Sqrt(64));
    }
}

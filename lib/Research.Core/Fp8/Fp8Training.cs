using Research.Experiments;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Research.Fp8;

// FP8 training of one Linear layer, DeepSeek-V3 §3.3.1–3.3.2 (Fig. 6). For y = x·Wᵀ + b with x: [M, K], W: [N, K]:
//   Fprop  y  = Q(x) · Q(W)ᵀ          (+ b in FP32)
//   Dgrad  dx = Q(dy) · Q(W)
//   Wgrad  dW = Q(dy)ᵀ · Q(x)
// Q rounds to an FP8 format after scaling each group by its own amax; products and sums stay in FP32, like the
// FP32 accumulation V3 promotes to every 128 products. Master weights, their gradients and the optimizer state
// stay FP32: Q(W) is computed from the master W once per forward and kept for backward, so once per optimizer step
// in training.

/// <summary>
/// Which tensors of an FP8 linear layer are rounded to which format, and with which scaling. The defaults are
/// DeepSeek-V3's recipe (§3.3.2): E4M3 everywhere, 1×128 tiles for activations and gradients, 128×128 blocks for
/// weights, scales from the current amax (online, no amax history).
/// </summary>
/// <param name="Enabled">False: plain FP32 (no rounding anywhere); the other fields are then ignored.</param>
/// <param name="Forward">Format of the forward operands x and W (E4M3 in V3 and the classic recipe).</param>
/// <param name="Gradient">Format of the output gradient dy before Dgrad and Wgrad: E5M2 in the classic recipe (range
/// over precision), E4M3 in V3, which fine-grained scaling makes feasible ("mantissa over exponents", §3.3.2).</param>
public sealed record Fp8TrainingRecipe(bool Enabled = true, string Forward = "E4M3", string Gradient = "E4M3")
{
    /// <summary>Groups sharing one scale in the activations x (rows are tokens): V3 uses 1×128 tiles.</summary>
    public ScalingConfig Activations { get; init; } = ScalingConfig.ActivationTiles;

    /// <summary>Groups sharing one scale in the weights W [out, in]: V3 uses 128×128 blocks.</summary>
    public ScalingConfig Weights { get; init; } = ScalingConfig.WeightBlocks;

    /// <summary>Groups sharing one scale in the output gradient dy (rows are tokens): 1×128 tiles, as V3's
    /// activation gradients in Dgrad.</summary>
    public ScalingConfig Gradients { get; init; } = ScalingConfig.ActivationTiles;

    /// <summary>No quantization: the FP32 baseline.</summary>
    public static Fp8TrainingRecipe Fp32 { get; } = new(Enabled: false);

    /// <summary>DeepSeek-V3 §3.3.2: E4M3 on all tensors, 1×128 tiles (x, dy), 128×128 blocks (W).</summary>
    public static Fp8TrainingRecipe DeepSeekV3 { get; } = new();

    /// <summary>The classic FP8 recipe for comparison (Micikevicius et al. 2022): one scale per tensor, E4M3 forward,
    /// E5M2 gradients. Scales come from the current amax, not from a delayed amax history.</summary>
    public static Fp8TrainingRecipe PerTensor { get; } = new(Gradient: "E5M2")
    {
        Activations = new(Granularity.PerTensor),
        Weights = new(Granularity.PerTensor),
        Gradients = new(Granularity.PerTensor),
    };

    /// <summary>The formats a recipe may name: the two OCP FP8 formats.</summary>
    public static IReadOnlyList<Fp8Format> Formats { get; } = [Fp8Format.E4M3, Fp8Format.E5M2];

    /// <summary>The forward format as a value.</summary>
    public Fp8Format ForwardFormat => Parse(Forward, nameof(Forward));

    /// <summary>The gradient format as a value.</summary>
    public Fp8Format GradientFormat => Parse(Gradient, nameof(Gradient));

    public Fp8TrainingRecipe Validated()
    {
        _ = ForwardFormat;
        _ = GradientFormat;
        Check(Activations, nameof(Activations));
        Check(Weights, nameof(Weights));
        Check(Gradients, nameof(Gradients));
        return this;
    }

    private static Fp8Format Parse(string name, string field) => Fp8FormatNames.Parse(name, $"Fp8TrainingRecipe.{field}", Formats);

    private static void Check(ScalingConfig? scaling, string field)
    {
        if (scaling is null) throw new ConfigException($"Fp8TrainingRecipe.{field} must be a scaling config (got null)");
        try { scaling.Validated(); }
        catch (ConfigException e) { throw new ConfigException($"Fp8TrainingRecipe.{field}: {e.Message}", e); }
    }
}

/// <summary>The FP8 linear map as pure functions over tensors; <see cref="Models.Linear"/> feeds its parameters in.</summary>
public static class Fp8Training
{
    /// <summary>
    /// y = Q(x)·Q(W)ᵀ + b with Q(dy) in backward (see the file header). x: [..., K], w: [N, K], b: [N] or null → [..., N].
    /// With <see cref="Fp8TrainingRecipe.Enabled"/> false this is exactly <c>functional.linear(x, w, b)</c>. V3's recipe
    /// on CPU float32 tensors runs fused (<see cref="FusedApplies"/>): one autograd node, one pass per quantized tensor;
    /// everything else runs <see cref="LinearReference"/>. Both give the same bits, values and gradients.
    /// </summary>
    public static Tensor Linear(Tensor x, Tensor w, Tensor? b, Fp8TrainingRecipe recipe)
    {
        if (!recipe.Enabled) return nn.functional.linear(x, w, b);
        if (!FusedApplies(x, w, recipe)) return LinearReference(x, w, b, recipe);
        using var scope = NewDisposeScope();
        var y = FusedLinear.apply(x, w, recipe);
        if (b is not null) y = y + b;
        return y.MoveToOuterDisposeScope();
    }

    /// <summary>Whether <see cref="Linear"/> takes the fused path: E4M3 forward and gradients, 1×T tiles for x and dy and
    /// B×B blocks for W, scales from the amax as computed (no power-of-two rounding), float32 tensors on the CPU.</summary>
    public static bool FusedApplies(Tensor x, Tensor w, Fp8TrainingRecipe recipe) =>
        recipe.Enabled && recipe.ForwardFormat == Fp8Format.E4M3 && recipe.GradientFormat == Fp8Format.E4M3
        && recipe.Activations is { Granularity: Granularity.Tile, PowerOfTwoScales: false }
        && recipe.Gradients is { Granularity: Granularity.Tile, PowerOfTwoScales: false }
        && recipe.Weights is { Granularity: Granularity.Block, PowerOfTwoScales: false }
        && x.device_type == DeviceType.CPU && w.device_type == DeviceType.CPU
        && x.dtype == ScalarType.Float32 && w.dtype == ScalarType.Float32 && w.dim() == 2 && x.dim() >= 1
        && x.numel() <= int.MaxValue / sizeof(float) && w.numel() <= int.MaxValue / sizeof(float);

    /// <summary>
    /// <see cref="Linear"/> built from tensor ops (any device, any recipe): FakeQuant on x and W with straight-through
    /// gradients, <c>functional.linear</c>, and <see cref="QuantizeGradient"/> on the output. The fused path is tested
    /// against it bit for bit.
    /// </summary>
    public static Tensor LinearReference(Tensor x, Tensor w, Tensor? b, Fp8TrainingRecipe recipe)
    {
        if (!recipe.Enabled) return nn.functional.linear(x, w, b);
        using var scope = NewDisposeScope();
        var forward = recipe.ForwardFormat;
        // FakeQuant's straight-through gradient makes autograd's Dgrad use Q(W) and its Wgrad use Q(x): the
        // quantized operands are what the product saw. Each operand is rounded once and reused by both GEMMs
        // it enters (V3 re-tiles x to 128×1 for Wgrad; with FP32 accumulation that changes only the groups).
        var xq = Fp8Scaling.FakeQuant(x, forward, recipe.Activations);     // [..., K]
        var wq = Fp8Scaling.FakeQuant(w, forward, recipe.Weights);         // [N, K]
        var y = nn.functional.linear(xq, wq);                               // Fprop: [..., N]
        y = QuantizeGradient(y, recipe.GradientFormat, recipe.Gradients);   // identity; dy → Q(dy) in backward
        if (b is not null) y = y + b;   // bias outside the quantizer: its gradient Σ dy stays FP32 (no GEMM)
        return y.MoveToOuterDisposeScope();
    }

    // The three GEMMs of Fig. 6 as one autograd node over the fused kernels. Forward rounds x (tiles) and W (blocks) once
    // each and keeps both for backward, as V3 keeps its FP8 operands; backward rounds dy (tiles) and runs Dgrad and Wgrad.
    // The GEMMs are the ones autograd runs for functional.linear on the 2-D view (mm, its mat1 and mat2 backward), so the
    // bits equal LinearReference's.
    private sealed class FusedLinear : autograd.SingleTensorFunction<FusedLinear>
    {
        public override string Name => "Fp8FusedLinear";

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var (x, w, recipe) = ((Tensor)vars[0], (Tensor)vars[1], (Fp8TrainingRecipe)vars[2]);
            long k = x.shape[^1], n = w.shape[0];
            using var rows = x.detach().reshape(-1, k).contiguous();
            using var weight = w.detach().contiguous();
            var xq = Fp8FusedKernels.FakeQuantTilesE4M3(rows, recipe.Activations.TileSize);   // [M, K]
            var wq = Fp8FusedKernels.FakeQuantBlocksE4M3(weight, recipe.Weights.BlockSize);  // [N, K]
            ctx.save_for_backward([xq, wq]);
            ctx.save_data("recipe", recipe);
            ctx.save_data("shape", x.shape);
            using var wt = wq.t();
            using var y = xq.mm(wt);                                                          // Fprop [M, N]
            return y.view([.. x.shape[..^1], n]);
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad)
        {
            var saved = ctx.get_saved_variables();
            var (xq, wq) = (saved[0], saved[1]);
            var recipe = (Fp8TrainingRecipe)ctx.get_data("recipe");
            var shape = (long[])ctx.get_data("shape");
            using var dy = grad.reshape(-1, wq.shape[0]).contiguous();
            Tensor gq;
            try
            {
                gq = Fp8FusedKernels.FakeQuantTilesE4M3(dy, recipe.Gradients.TileSize);
            }
            catch (ArgumentException)
            {
                gq = dy.clone();   // NaN or Inf: passed on unrounded, so divergence shows as a NaN loss (as QuantizeGradient)
            }
            using (gq)
            {
                using var dx = gq.mm(wq);                                                     // Dgrad [M, K]
                using var gt = gq.t();
                var dw = gt.mm(xq);                                                           // Wgrad [N, K]
                return [dx.view(shape), dw, null!];
            }
        }
    }

    /// <summary>
    /// Identity in forward; in backward, the incoming gradient is rounded to <paramref name="format"/> with
    /// <paramref name="scaling"/> (rows = leading dimensions, groups along the last). Placed on a GEMM's output,
    /// it makes every GEMM of backward see an FP8 output gradient. A gradient holding NaN or Inf passes unchanged,
    /// so a diverging run shows up as a NaN loss instead of an exception inside the autograd engine.
    /// </summary>
    public static Tensor QuantizeGradient(Tensor y, Fp8Format format, ScalingConfig scaling)
    {
        if (!y.requires_grad) return y.alias();
        return GradientRounding.apply(y, format, scaling);
    }

    // Why a custom autograd function: the rounding has to act on the gradient, not the value, and TorchSharp 0.107
    // has no tensor hooks. torch.autograd.SingleTensorFunction (TorchSharp's port of torch::autograd::Function) is
    // the smallest way to run our code in backward: forward returns the input unchanged, backward returns Q(dy).
    private sealed class GradientRounding : autograd.SingleTensorFunction<GradientRounding>
    {
        public override string Name => "Fp8GradientRounding";

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            ctx.save_data("format", vars[1]);
            ctx.save_data("scaling", vars[2]);
            return ((Tensor)vars[0]).alias();   // a view, as PyTorch's identity functions return x.view_as(x)
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
        {
            var format = (Fp8Format)ctx.get_data("format");
            var scaling = (ScalingConfig)ctx.get_data("scaling");
            if (!gradOutput.isfinite().all().item<bool>()) return [gradOutput.clone(), null!, null!];
            return [Fp8Scaling.FakeQuant(gradOutput, format, scaling), null!, null!];
        }
    }
}

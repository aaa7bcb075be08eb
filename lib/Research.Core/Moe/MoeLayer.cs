using Research.Experiments;
using Research.Fp8;
using TorchSharp;
using TorchSharp.Modules;
using Research.Models;
using static TorchSharp.torch;

namespace Research.Moe;

/// <summary>A DeepSeekMoE feed-forward layer's shape and balancing.</summary>
/// <param name="ExpertHidden">Inner width of each routed expert (fine-grained: a fraction of a dense FFN's).</param>
/// <param name="SharedExperts">N_s always-on experts, run as one SwiGLU of width N_s · ExpertHidden (as V3's code does).</param>
public sealed record MoeConfig(RouterConfig Router, int ExpertHidden, int SharedExperts = 1, BalancingConfig? Balancing = null)
{
    public BalancingConfig Balance => Balancing ?? BalancingConfig.None;

    public MoeConfig Validated()
    {
        Router.Validated();
        Balance.Validated();
        if (ExpertHidden < 1) throw new ConfigException($"MoeConfig.ExpertHidden must be ≥ 1 (got {ExpertHidden})");
        if (SharedExperts < 0) throw new ConfigException($"MoeConfig.SharedExperts must be ≥ 0 (got {SharedExperts})");
        return this;
    }

    /// <summary>Expert widths a token passes through: (K_r + N_s) · ExpertHidden, the width of the dense SwiGLU with the same active parameters.</summary>
    public int ActiveHidden => (Router.TopK + SharedExperts) * ExpertHidden;
}

/// <summary>What one forward pass routed.</summary>
/// <param name="Loads">Assignments each routed expert was selected for (before capacity drops): the cᵢ of the balancer.</param>
/// <param name="Tokens">Tokens routed.</param>
/// <param name="Dropped">Assignments dropped by capacity (0 when dropless).</param>
public sealed record RoutingStats(long[] Loads, long Tokens, int TopK, long Dropped)
{
    public double MaxVio => LoadMetrics.MaxVio(Loads);
    public double CoefficientOfVariation => LoadMetrics.CoefficientOfVariation(Loads);
    /// <summary>Dropped assignments over all assignments (tokens × K_r).</summary>
    public double DroppedFraction => Dropped / (double)(Tokens * TopK);
}

/// <summary>Stacked weights of the routed experts, [N_r, out, in]: one parameter per projection instead of N_r modules.</summary>
public sealed class ExpertWeights : nn.Module
{
    private readonly Parameter weight;

    public ExpertWeights(int experts, int outFeatures, int inFeatures, Device device) : base(nameof(ExpertWeights))
    {
        weight = new Parameter(zeros(experts, outFeatures, inFeatures, device: device));
        register_parameter("weight", weight);
    }

    public Parameter Weight => weight;
}

/// <summary>
/// DeepSeekMoE feed-forward (V3 eq. 12, without the residual, which the block adds):
/// y = Σ_{shared} FFN(x) + Σ_{i ∈ TopK} gᵢ FFNᵢ(x), every FFN a SwiGLU.
/// <para>
/// Dispatch is sort-based: the N·K_r (token, expert) assignments are sorted by expert, each expert runs once on its
/// contiguous slice of gathered tokens, and the weighted results are added back to their tokens with one index_add.
/// The cost is N_r small matmuls per projection whatever the batch size; no loop runs over tokens.
/// </para>
/// </summary>
public sealed class MoeLayer : nn.Module<Tensor, Tensor>
{
    private readonly Router router;
    private readonly ExpertWeights gate;     // W₁ of each expert [N_r, h, d]
    private readonly ExpertWeights up;       // W₃ [N_r, h, d]
    private readonly ExpertWeights output;   // W₂ [N_r, d, h]; named "output" so TinyLm scales it as a residual projection
    private readonly SwiGlu? shared;
    private long[]? trainingLoads;

    /// <param name="generator">Draws every matrix from N(0, 0.02²); a model that initialises its own weights may pass null.</param>
    /// <param name="gemms">Precision of the experts' GEMMs, shared and routed (each expert's weight gets its own blocks,
    /// and each token's row its own tiles, so FP8 dispatch before or after the gather is the same); null: FP32. The
    /// gate stays FP32, as in V3 (§3.3.1 keeps the MoE gating in higher precision).</param>
    public MoeLayer(int dim, MoeConfig config, Device device, Generator? generator = null, Fp8TrainingRecipe? gemms = null) : base(nameof(MoeLayer))
    {
        Config = config.Validated();
        Gemms = gemms?.Validated();
        if (dim < 1) throw new ArgumentOutOfRangeException(nameof(dim), dim, "MoeLayer: dim must be ≥ 1");
        Dim = dim;
        int n = config.Router.Experts, h = config.ExpertHidden;
        router = new Router(dim, config.Router, device, generator);
        gate = new ExpertWeights(n, h, dim, device);
        up = new ExpertWeights(n, h, dim, device);
        output = new ExpertWeights(n, dim, h, device);
        shared = config.SharedExperts > 0 ? new SwiGlu(dim, config.SharedExperts * h, device, Gemms) : null;
        RegisterComponents();
        using var noGrad = no_grad();
        foreach (var (name, p) in named_parameters())
            if (p.dim() >= 2 && !name.StartsWith("router", StringComparison.Ordinal)) p.normal_(0, 0.02, generator);
    }

    public MoeConfig Config { get; }

    /// <summary>The experts' GEMM precision; null: FP32.</summary>
    public Fp8TrainingRecipe? Gemms { get; }
    public int Dim { get; }
    public Router Router => router;

    /// <summary>Routing statistics of the last forward pass (training or evaluation).</summary>
    public RoutingStats? LastStats { get; private set; }

    /// <summary>When true, <see cref="LastExperts"/> keeps the last pass's selections (for domain × expert counts).</summary>
    public bool RecordSelections { get; set; }

    /// <summary>The last pass's selected experts [tokens × K_r], token-major, when <see cref="RecordSelections"/> is on.</summary>
    public long[]? LastExperts { get; private set; }

    /// <summary>The balancing loss of the last training pass (already multiplied by its α), valid until the next pass;
    /// null when no loss is configured or the module is in evaluation mode. Add it to the model's loss.</summary>
    public Tensor? LastBalanceLoss { get; private set; }

    public override Tensor forward(Tensor x)   // [..., d] → [..., d]
    {
        if (x.shape[^1] != Dim) throw new ArgumentException($"MoeLayer.forward: last dimension must be {Dim}, got [{string.Join(", ", x.shape)}]", nameof(x));
        using var scope = NewDisposeScope();
        var flat = x.reshape(-1, Dim);
        var routing = router.Route(flat);
        var counts = Record(routing);
        var y = DispatchTokens(flat, routing, counts);
        if (shared is not null) y = y + shared.forward(flat);
        // Owned by the layer, outside every dispose scope: the blocks around this layer dispose their scopes before the
        // model's caller reads it. The autograd graph keeps what backward needs; the next pass releases this handle.
        LastBalanceLoss?.Dispose();
        LastBalanceLoss = training ? BalanceLoss(routing, x.shape)?.DetachFromDisposeScope() : null;
        return y.view(x.shape).MoveToOuterDisposeScope();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            LastBalanceLoss?.Dispose();
            LastBalanceLoss = null;
        }
        base.Dispose(disposing);
    }

    /// <summary>
    /// Auxiliary-loss-free step: moves the bias by γ toward balance using the loads of the last *training* pass
    /// (the previous batch, never the one about to be routed). No-op when γ = 0.
    /// </summary>
    public void UpdateBias()
    {
        if (Config.Balance.BiasUpdateSpeed == 0) return;
        if (trainingLoads is null) throw new InvalidOperationException("MoeLayer.UpdateBias: no training pass has been routed yet");
        Balancing.UpdateBias(router.Bias, trainingLoads, Config.Balance.BiasUpdateSpeed);
    }

    /// <summary>
    /// The same function computed token by token (for each token, for each selected expert, a SwiGLU on one row):
    /// the reference the tests compare the sorted dispatch with, and the benchmark's slow baseline. Never used to train.
    /// </summary>
    public Tensor ForwardNaive(Tensor x)
    {
        using var scope = NewDisposeScope();
        var flat = x.reshape(-1, Dim);
        var routing = router.Route(flat);
        var (g, u, o) = (gate.Weight.unbind(0), up.Weight.unbind(0), output.Weight.unbind(0));
        var experts = routing.Experts.cpu().data<long>().ToArray();
        var kept = routing.Kept?.cpu().data<bool>().ToArray();
        int k = Config.Router.TopK;
        var rows = new Tensor[flat.shape[0]];
        for (int t = 0; t < rows.Length; t++)
        {
            var xt = flat[t].unsqueeze(0);
            var yt = shared is null ? zeros_like(xt) : shared.forward(xt);
            for (int j = 0; j < k; j++)
            {
                if (kept is not null && !kept[t * k + j]) continue;
                int e = (int)experts[t * k + j];
                var h = nn.functional.silu(Gemm(xt, g[e])) * Gemm(xt, u[e]);
                yt = yt + routing.Weights[t, j].to(x.dtype) * Gemm(h, o[e]);
            }
            rows[t] = yt;
        }
        return cat(rows, 0).view(x.shape).MoveToOuterDisposeScope();
    }

    // Sorted dispatch: gather the assignments' tokens grouped by expert, one SwiGLU per expert slice, scatter-add back.
    private Tensor DispatchTokens(Tensor flat, Routing routing, long[] counts)
    {
        int k = Config.Router.TopK;
        long n = flat.shape[0];
        var experts = routing.Experts.flatten();
        var weights = routing.Weights.flatten();
        var tokens = arange(n, device: flat.device).repeat_interleave(k);
        if (routing.Kept is not null)
        {
            var keep = routing.Kept.flatten().nonzero().squeeze(1);
            (experts, weights, tokens) = (experts.index_select(0, keep), weights.index_select(0, keep), tokens.index_select(0, keep));
        }
        var order = Router.StableArgsort(experts);
        var sortedTokens = tokens.index_select(0, order);
        var gathered = flat.index_select(0, sortedTokens);
        var sortedOutputs = ExpertLoop(gathered, counts);
        var result = zeros_like(flat);
        if (sortedOutputs is null) return result;
        var ys = sortedOutputs * weights.index_select(0, order).unsqueeze(1).to(flat.dtype);
        return result.index_add(0, sortedTokens, ys, 1);
    }

    // One SwiGLU per expert on its contiguous slice of the expert-sorted rows.
    private Tensor? ExpertLoop(Tensor gathered, long[] counts)
    {
        // unbind once: its backward stacks the N_r gradients in one op, where indexing each expert would write a full-size zero gradient per expert.
        var (g, u, o) = (gate.Weight.unbind(0), up.Weight.unbind(0), output.Weight.unbind(0));
        // split, not narrow: narrow's backward writes each slice's gradient into a full-size zero tensor (N_r of them);
        // split's concatenates the slices' gradients once.
        var slices = gathered.split(counts);
        var pieces = new List<Tensor>(counts.Length);
        for (int e = 0; e < counts.Length; e++)
        {
            if (counts[e] == 0) continue;
            var h = nn.functional.silu(Gemm(slices[e], g[e])) * Gemm(slices[e], u[e]);
            pieces.Add(Gemm(h, o[e]));
        }
        return pieces.Count == 0 ? null : cat(pieces, 0);
    }

    private Tensor Gemm(Tensor x, Tensor w) => Gemms is { Enabled: true } ? Fp8Training.Linear(x, w, null, Gemms) : nn.functional.linear(x, w);

    // Loads before drops feed the balancer; counts after drops size the dispatch slices.
    private long[] Record(Routing routing)
    {
        using var scope = NewDisposeScope();
        int n = Config.Router.Experts;
        var selected = routing.Experts.flatten().bincount(null, n).cpu().data<long>().ToArray();
        var kept = routing.Kept is null ? selected
            : routing.Experts.flatten().masked_select(routing.Kept.flatten()).bincount(null, n).cpu().data<long>().ToArray();
        long dropped = selected.Sum() - kept.Sum();
        LastStats = new RoutingStats(selected, routing.Experts.shape[0], Config.Router.TopK, dropped);
        if (training) trainingLoads = selected;
        LastExperts = RecordSelections ? routing.Experts.flatten().cpu().data<long>().ToArray() : null;
        return kept;
    }

    private Tensor? BalanceLoss(Routing routing, long[] inputShape)
    {
        var balance = Config.Balance;
        Tensor? loss = null;
        if (balance.AuxLossAlpha > 0) loss = Balancing.AuxLoss(routing.Scores, routing.Experts, balance.AuxLossAlpha);
        if (balance.SequenceAuxLossAlpha > 0)
        {
            // Sequences are the leading dimensions of the input: [B, T, d] → B sequences of T tokens; [N, d] is one.
            long t = inputShape.Length >= 3 ? inputShape[^2] : routing.Scores.shape[0];
            var sequence = Balancing.SequenceAuxLoss(routing.Scores.view(-1, t, Config.Router.Experts),
                routing.Experts.view(-1, t, Config.Router.TopK), balance.SequenceAuxLossAlpha);
            loss = loss is null ? sequence : loss + sequence;
        }
        return loss;
    }
}

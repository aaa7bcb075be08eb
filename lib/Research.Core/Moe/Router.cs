using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Research.Moe;

/// <summary>
/// One batch's routing decision for N tokens. Tensors live in the caller's dispose scope.
/// </summary>
/// <param name="Scores">s [N, N_r] float32: affinities, differentiable (the gate's gradient flows through them).</param>
/// <param name="Experts">[N, K_r] int64: the selected experts of each token, best first.</param>
/// <param name="Weights">g [N, K_r] float32: gate values of the selected experts (normalised, scaled), differentiable;
/// 0 where the assignment was dropped by capacity.</param>
/// <param name="Kept">[N, K_r] bool: false where capacity dropped the assignment; null when routing is dropless.</param>
public sealed record Routing(Tensor Scores, Tensor Experts, Tensor Weights, Tensor? Kept);

/// <summary>
/// The gate of a DeepSeekMoE layer: centroids eᵢ (a [N_r, d] matrix) and the balancing bias bᵢ. The bias is a
/// buffer, not a parameter: no gradient reaches it; the auxiliary-loss-free balancer moves it between steps
/// (<see cref="Balancing.UpdateBias"/>), and it is saved with the model. It only changes which experts are selected.
/// </summary>
public sealed class Router : nn.Module
{
    private readonly Parameter weight;   // centroids e [N_r, d]
    private readonly Tensor bias;        // b [N_r] float32

    /// <param name="generator">Draws the centroids from N(0, 0.02²); a model that initialises its own weights may pass null.</param>
    public Router(int dim, RouterConfig config, Device device, Generator? generator = null) : base(nameof(Router))
    {
        Config = config.Validated();
        if (dim < 1) throw new ArgumentOutOfRangeException(nameof(dim), dim, "Router: dim must be ≥ 1");
        weight = new Parameter(empty(config.Experts, dim, device: device));
        using (no_grad()) weight.normal_(0, 0.02, generator);
        bias = zeros(config.Experts, device: device);
        register_parameter("weight", weight);
        register_buffer("bias", bias);
    }

    public RouterConfig Config { get; }

    /// <summary>The centroids e [N_r, d].</summary>
    public Parameter Weight => weight;

    /// <summary>The balancing bias b [N_r] (float32, as V3 keeps it): changes selection, never gate values.</summary>
    public Tensor Bias => bias;

    /// <summary>Routes x [N, d]. Affinities are computed in the centroids' dtype (float32 unless the model was
    /// converted), so a half-precision activation does not round the scores that decide selection (V3 keeps the gate in FP32).</summary>
    public Routing Route(Tensor x)
    {
        if (x.dim() != 2 || x.shape[1] != weight.shape[1])
            throw new ArgumentException($"Router.Route: x must be [tokens, {weight.shape[1]}], got [{string.Join(", ", x.shape)}]", nameof(x));
        var logits = nn.functional.linear(x.to(weight.dtype), weight);
        var scores = Config.Affinity == Affinity.Sigmoid ? logits.sigmoid() : logits.softmax(-1);
        var experts = Select(scores.detach(), bias, Config);
        var weights = scores.gather(1, experts);
        if (Config.NormalizeTopK) weights = weights / weights.sum(-1, keepdim: true);
        if (Config.RoutedScaling != 1.0) weights = weights * Config.RoutedScaling;
        Tensor? kept = null;
        if (Config.CapacityFactor is double factor)
        {
            kept = WithinCapacity(experts, weights.detach(), Config.Experts, Capacity(x.shape[0], Config, factor));
            weights = weights * kept;
        }
        return new Routing(scores, experts, weights, kept);
    }

    /// <summary>Assignments one expert may take in a batch of <paramref name="tokens"/>: ⌈factor · tokens · K_r / N_r⌉.</summary>
    public static long Capacity(long tokens, RouterConfig config, double factor) =>
        (long)Math.Ceiling(factor * tokens * config.TopK / config.Experts);

    /// <summary>
    /// The selected experts [N, K_r] for affinities s [N, N_r]: top-k of s + b, restricted to the best
    /// <see cref="RouterConfig.TopGroups"/> groups when the experts are grouped. The bias enters the group scores too
    /// (V3 computes them on the biased affinities).
    /// </summary>
    public static Tensor Select(Tensor scores, Tensor? bias, RouterConfig config)
    {
        using var scope = NewDisposeScope();
        var biased = bias is null ? scores : scores + bias;
        if (config.Groups > 1 && config.TopGroups < config.Groups)
        {
            long n = scores.shape[0];
            var grouped = biased.view(n, config.Groups, config.GroupSize);
            var groupScore = config.GroupScore == GroupScore.Max || config.GroupSize == 1
                ? grouped.amax([-1])
                : grouped.topk(2, -1).values.sum(-1);
            var keptGroups = groupScore.topk(config.TopGroups, -1).indexes;              // [N, M]
            var groupMask = zeros(n, config.Groups, dtype: ScalarType.Bool, device: scores.device)
                .scatter_(1, keptGroups, ones_like(keptGroups, dtype: ScalarType.Bool));
            // Experts of the other groups can never be chosen: −∞ rather than 0, which could beat negative biased scores.
            biased = grouped.masked_fill(groupMask.logical_not().unsqueeze(-1), double.NegativeInfinity).view(n, config.Experts);
        }
        return biased.topk(config.TopK, -1).indexes.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Which of the assignments experts [N, K] fit each expert's capacity: within one expert, higher gate values win
    /// (V2 drops the lowest affinities first); ties keep token order.
    /// </summary>
    public static Tensor WithinCapacity(Tensor experts, Tensor weights, int expertCount, long capacity)
    {
        using var scope = NewDisposeScope();
        var flatExperts = experts.flatten();
        var byWeight = StableArgsort(weights.flatten(), descending: true);
        var byExpert = StableArgsort(flatExperts.index_select(0, byWeight));
        var order = byWeight.index_select(0, byExpert);                               // by expert, then weight desc
        var sortedExperts = flatExperts.index_select(0, order);
        var counts = flatExperts.bincount(null, expertCount);
        var starts = counts.cumsum(0) - counts;
        var rank = arange(order.shape[0], device: experts.device) - starts.index_select(0, sortedExperts);
        var kept = zeros(order.shape[0], dtype: ScalarType.Bool, device: experts.device)
            .index_put_(rank < capacity, order);
        return kept.view_as(experts).MoveToOuterDisposeScope();
    }

    /// <summary>Indices that sort a 1-D tensor, equal values keeping their order (argsort has no stable flag in TorchSharp).</summary>
    public static Tensor StableArgsort(Tensor values, bool descending = false)
    {
        var (sorted, indices) = values.sort(0, descending, true);
        sorted.Dispose();
        return indices;
    }
}

using Research.Experiments;
using static TorchSharp.torch;

namespace Research.Moe;

/// <summary>
/// How a run keeps routed experts evenly loaded. The strategies combine freely; V3 uses the bias with a tiny
/// sequence-wise loss (γ = 0.001, α = 0.0001).
/// </summary>
/// <param name="AuxLossAlpha">α of the expert-level auxiliary loss over the whole batch (Switch / V2 form); 0 = off.</param>
/// <param name="SequenceAuxLossAlpha">α of V3's complementary sequence-wise loss (eqs. 17–20), the same f·P product
/// computed inside each sequence and averaged over sequences; 0 = off.</param>
/// <param name="BiasUpdateSpeed">γ of auxiliary-loss-free balancing (LF Alg. 1): after every step each bias moves by
/// γ toward balance. 0 = off.</param>
public sealed record BalancingConfig(double AuxLossAlpha = 0, double SequenceAuxLossAlpha = 0, double BiasUpdateSpeed = 0)
{
    /// <summary>No balancing at all.</summary>
    public static BalancingConfig None { get; } = new();

    /// <summary>DeepSeek-V3's choice: γ = 0.001 bias updates plus a sequence-wise loss with α = 0.0001.</summary>
    public static BalancingConfig DeepSeekV3 { get; } = new(0, 1e-4, 1e-3);

    public BalancingConfig Validated()
    {
        static void NonNegative(string field, double v)
        {
            if (!double.IsFinite(v) || v < 0) throw new ConfigException($"BalancingConfig.{field} must be a finite number ≥ 0 (got {v})");
        }
        NonNegative(nameof(AuxLossAlpha), AuxLossAlpha);
        NonNegative(nameof(SequenceAuxLossAlpha), SequenceAuxLossAlpha);
        NonNegative($"{nameof(BiasUpdateSpeed)} (γ)", BiasUpdateSpeed);
        return this;
    }
}

/// <summary>The balancing rules as functions of a batch's routing, so tests and notebooks can call them directly.</summary>
public static class Balancing
{
    /// <summary>
    /// Auxiliary-loss-free update (LF Alg. 1): bᵢ ← bᵢ + γ · sign(c̄ − cᵢ), with cᵢ the assignments expert i received in
    /// the last batch and c̄ their mean: an overloaded expert's bias goes down, an underloaded one's up.
    /// <paramref name="direction"/> = −1 flips the sign (an ablation: it amplifies imbalance).
    /// </summary>
    public static void UpdateBias(Tensor bias, IReadOnlyList<long> loads, double gamma, int direction = 1)
    {
        if (!double.IsFinite(gamma) || gamma < 0) throw new ArgumentOutOfRangeException(nameof(gamma), gamma, "Balancing.UpdateBias: γ must be a finite number ≥ 0");
        if (direction is not (1 or -1)) throw new ArgumentOutOfRangeException(nameof(direction), direction, "Balancing.UpdateBias: direction must be 1 or −1");
        if (loads.Count != bias.shape[0]) throw new ArgumentException($"Balancing.UpdateBias: {loads.Count} loads for {bias.shape[0]} experts", nameof(loads));
        double mean = loads.Average(c => (double)c);
        var step = loads.Select(c => (float)(direction * gamma * Math.Sign(mean - c))).ToArray();
        using var noGrad = no_grad();
        using var delta = tensor(step, device: bias.device);
        bias.add_(delta);
    }

    /// <summary>
    /// Σᵢ fᵢ Pᵢ over one group of T tokens (the loss before its α): fᵢ = N_r/(K_r T) · (tokens that selected i),
    /// Pᵢ = mean over tokens of s'ᵢ = sᵢ / Σⱼ sⱼ. Equals 1 under perfectly uniform routing and affinities.
    /// </summary>
    /// <param name="scores">s [..., T, N_r] (differentiable).</param>
    /// <param name="experts">[..., T, K_r] selected experts.</param>
    /// <returns>[...]: one value per leading index (per sequence for the sequence-wise loss).</returns>
    public static Tensor LoadAffinityProduct(Tensor scores, Tensor experts)
    {
        using var scope = NewDisposeScope();
        long n = scores.shape[^1], k = experts.shape[^1], t = scores.shape[^2];
        var normalized = scores / scores.sum(-1, keepdim: true);
        var p = normalized.mean([-2]);                                                    // [..., N_r]
        var selected = zeros_like(scores).scatter_(-1, experts, ones_like(experts, dtype: scores.dtype));
        var f = selected.sum(-2) * (n / (double)(k * t));                                  // [..., N_r], no gradient
        return (f * p).sum(-1).MoveToOuterDisposeScope();
    }

    /// <summary>The expert-level (batch) auxiliary loss α · Σ fᵢ Pᵢ over all tokens of scores [N, N_r].</summary>
    public static Tensor AuxLoss(Tensor scores, Tensor experts, double alpha) => LoadAffinityProduct(scores, experts) * alpha;

    /// <summary>V3's sequence-wise loss: α · Σ fᵢ Pᵢ inside each sequence of scores [B, T, N_r], averaged over B.</summary>
    public static Tensor SequenceAuxLoss(Tensor scores, Tensor experts, double alpha)
    {
        using var scope = NewDisposeScope();
        return (LoadAffinityProduct(scores, experts).mean() * alpha).MoveToOuterDisposeScope();
    }
}

using Research.Models;

namespace Research.Accounting;

/// <summary>FLOPs one token costs at a sequence length, split into the two places they come from.</summary>
/// <param name="Sequence">T, tokens per training sequence.</param>
/// <param name="MatmulForward">2 · activated weight matrices: one multiply-add per weight.</param>
/// <param name="AttentionForward">Causal attention's q·k scores and the softmax-weighted sum of values.</param>
public sealed record FlopsPerToken(string Model, int Sequence, double MatmulForward, double AttentionForward)
{
    /// <summary>What <see cref="Convention"/> states, written wherever the numbers are shown.</summary>
    public const string Convention =
        "FLOPs per token: 2 per multiply-add of every activated weight matrix (embedding lookup excluded) plus causal " +
        "attention, 2·n_h·(d_qk + d_v) per layer per attended position, averaged over the (T + 1)/2 positions a token " +
        "attends at sequence T; training = 3 × forward (forward, then gradients of activations and of weights).";

    public double Forward => MatmulForward + AttentionForward;

    /// <summary>Forward and backward: 3 × forward.</summary>
    public double Training => TrainingMultiplier * Forward;

    /// <summary>The backward pass costs twice the forward (gradients w.r.t. activations and weights), the convention of
    /// Kaplan et al. 2020 (arXiv 2001.08361 §2.1: C ≈ 6N per token); with it the kit reproduces HW25 Table 2.</summary>
    public const double TrainingMultiplier = 3;
}

/// <summary>FLOPs per token from a config: 2N over activated matrices plus causal attention (see <see cref="FlopsPerToken.Convention"/>).</summary>
public static class FlopCounting
{
    /// <summary>HW25 Table 2's sequence length.</summary>
    public const int DefaultSequence = 4096;

    /// <summary>Attention FLOPs of one token over one layer at an attended context of <paramref name="positions"/>:
    /// scores q·k (n_h · d_qk multiply-adds per position) and the values' weighted sum (n_h · d_v).</summary>
    public static double AttentionPerLayer(ModelConfig c, double positions)
    {
        // MLA (naive path, as trained): d_qk = d_h + d_h^R, d_v = v_head_dim; dense: d_qk = d_v = d_h.
        double qk = c.IsMla ? c.QkNopeHeadDim + c.QkRopeHeadDim : c.DenseHeadDim;
        double value = c.IsMla ? c.VHeadDim : c.DenseHeadDim;
        return 2.0 * c.NumAttentionHeads * (qk + value) * positions;
    }

    /// <summary>FLOPs per token at sequence length <paramref name="sequence"/> (causal: token t attends t positions).</summary>
    public static FlopsPerToken PerToken(ModelConfig config, int sequence = DefaultSequence)
    {
        var c = config.Validated();
        if (sequence < 1 || sequence > c.ContextLimit)
            throw new Research.Experiments.ConfigException($"seq must be in 1..{c.ContextLimit} (the context of '{c.Name}') (got {sequence})");
        var count = ParameterCounting.Count(c);
        double meanPositions = (sequence + 1) / 2.0;   // (1 + 2 + … + T) / T
        return new FlopsPerToken(c.Name, sequence, 2.0 * count.ActivatedMatmul, c.NumHiddenLayers * AttentionPerLayer(c, meanPositions));
    }
}

using System.Text.Json.Serialization;
using Research.Experiments;

namespace Research.Models;

/// <summary>
/// A decoder-only transformer small enough to train on a laptop CPU in seconds: pre-norm blocks (RMSNorm), rotary
/// position embeddings, SwiGLU feed-forward, untied input and output embeddings, no biases, no dropout (so the same
/// seed gives the same numbers).
/// </summary>
/// <param name="Vocabulary">Token ids are 0..Vocabulary−1.</param>
/// <param name="Dim">Model width d.</param>
/// <param name="Layers">Transformer blocks.</param>
/// <param name="Heads">Attention heads n_h; the head width d_h = Dim / Heads must be even for RoPE's pairs.</param>
/// <param name="FfnHidden">Hidden width of the SwiGLU feed-forward (each of its gate and up projections).</param>
/// <param name="MaxSequence">Longest sequence the RoPE tables cover.</param>
/// <param name="RopeTheta">RoPE base θ (RoFormer, Su et al. 2021; 10 000 there and in DeepSeek-V2/V3).</param>
/// <param name="NormEpsilon">ε inside RMSNorm's square root (1e-6 as DeepSeek-V3's configs).</param>
/// <param name="InitStd">Standard deviation of the normal weight init (0.02 as GPT-2); projections that write into the
/// residual stream are scaled by 1/√(2·Layers) (GPT-2 §2.3) so the stream's variance does not grow with depth.</param>
public sealed record TinyLmConfig(
    int Vocabulary = 16, int Dim = 64, int Layers = 2, int Heads = 4, int FfnHidden = 172, int MaxSequence = 64,
    double RopeTheta = 10_000, double NormEpsilon = 1e-6, double InitStd = 0.02)
{
    /// <summary>d_h = Dim / Heads.</summary>
    [JsonIgnore]
    public int HeadDim => Dim / Heads;

    /// <summary>This config, or a <see cref="ConfigException"/> naming the first field out of range.</summary>
    public TinyLmConfig Validated()
    {
        Range(Vocabulary, 2, 1_000_000, nameof(Vocabulary));
        Range(Dim, 2, 65_536, nameof(Dim));
        Range(Layers, 1, 1_000, nameof(Layers));
        Range(Heads, 1, Dim, nameof(Heads), $"1..Dim ({Dim})");
        if (Dim % Heads != 0)
            throw new ConfigException($"TinyLmConfig.Heads must divide Dim ({Dim}) (got {Heads})");
        if (HeadDim % 2 != 0)
            throw new ConfigException($"TinyLmConfig: the head width Dim / Heads = {HeadDim} must be even (RoPE rotates pairs of dimensions)");
        Range(FfnHidden, 1, 1_000_000, nameof(FfnHidden));
        Range(MaxSequence, 1, 1_000_000, nameof(MaxSequence));
        if (!(RopeTheta > 1 && double.IsFinite(RopeTheta)))
            throw new ConfigException($"TinyLmConfig.RopeTheta must be a finite number > 1 (got {RopeTheta})");
        if (!(NormEpsilon > 0 && NormEpsilon < 1))
            throw new ConfigException($"TinyLmConfig.NormEpsilon must be in (0, 1) (got {NormEpsilon})");
        if (!(InitStd > 0 && InitStd <= 1))
            throw new ConfigException($"TinyLmConfig.InitStd must be in (0, 1] (got {InitStd})");
        return this;
    }

    /// <summary>Parameters: two V×d embeddings, then per block 4·d² attention, 3·d·FfnHidden SwiGLU and two norms.</summary>
    public double ParameterEstimate() => 2.0 * Vocabulary * Dim + Layers * (4.0 * Dim * Dim + 3.0 * Dim * FfnHidden + 2.0 * Dim);

    /// <summary>
    /// Bytes of training this model with AdamW: weights, gradients and the two moments (4 floats per parameter).
    /// <paramref name="owner"/> names the config in the error of <see cref="MemoryLimit.Check"/>.
    /// </summary>
    public void CheckTrainingMemory(string owner) =>
        MemoryLimit.Check(owner, $"Dim {Dim} × Layers {Layers} (FfnHidden {FfnHidden}): {ParameterEstimate():G3} parameters × 4 (weights, gradients, AdamW's two moments)",
            4.0 * MemoryLimit.Float32 * ParameterEstimate());

    /// <summary>
    /// Floats one forward over <paramref name="rows"/> sequences of <paramref name="length"/> tokens keeps for backward:
    /// per token the V logits and per block about 6·d (norms, q, k, v, output), 3·FfnHidden (SwiGLU) and n_h·length
    /// attention scores.
    /// </summary>
    public double ActivationFloats(double rows, int length) =>
        rows * length * (Vocabulary + Layers * (6.0 * Dim + 3.0 * FfnHidden + (double)Heads * length));

    private static void Range(int value, int min, int max, string field, string? range = null)
    {
        if (value < min || value > max)
            throw new ConfigException($"TinyLmConfig.{field} must be in {range ?? $"{min}..{max}"} (got {value})");
    }
}

using Research.Experiments;
using Research.Models;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Research.Mtp;

/// <summary>Multi-token prediction settings (V3 §2.2, §4.2).</summary>
/// <param name="Depth">D, the extra tokens predicted per position (V3: 1). 0 trains the main model alone.</param>
/// <param name="Lambda">λ, the weight of L_MTP = (λ/D) Σ_k L^k early in training (V3: 0.3 for the first 10T of its 14.8T tokens).</param>
/// <param name="FinalLambda">λ over the last <paramref name="FinalFraction"/> of the steps (V3: 0.1 for the last 4.8T tokens).</param>
/// <param name="FinalFraction">Share of the steps, at the end, trained with <paramref name="FinalLambda"/> (V3: 4.8 / 14.8 ≈ 0.324).</param>
public sealed record MtpConfig(int Depth = 1, double Lambda = 0.3, double FinalLambda = 0.1, double FinalFraction = MtpConfig.V3FinalFraction)
{
    /// <summary>V3's share of training tokens at λ = 0.1: the last 4.8T of 14.8T.</summary>
    public const double V3FinalFraction = 4.8 / 14.8;

    public MtpConfig Validated()
    {
        if (Depth < 0 || Depth > 8) throw new ConfigException($"MtpConfig.Depth (D) must be in 0..8 (got {Depth})");
        if (!(Lambda >= 0 && double.IsFinite(Lambda))) throw new ConfigException($"MtpConfig.Lambda (λ) must be a finite number ≥ 0 (got {Lambda})");
        if (!(FinalLambda >= 0 && double.IsFinite(FinalLambda))) throw new ConfigException($"MtpConfig.FinalLambda (λ late in training) must be a finite number ≥ 0 (got {FinalLambda})");
        if (!(FinalFraction >= 0 && FinalFraction <= 1)) throw new ConfigException($"MtpConfig.FinalFraction must be in [0, 1] (got {FinalFraction})");
        return this;
    }

    /// <summary>λ at step <paramref name="step"/> (1-based) of <paramref name="steps"/>: <see cref="Lambda"/>, then
    /// <see cref="FinalLambda"/> for the last round(FinalFraction × steps) steps.</summary>
    public double LambdaAt(int step, int steps)
    {
        if (step < 1 || step > steps) throw new ArgumentOutOfRangeException(nameof(step), step, $"MtpConfig.LambdaAt: step must be in 1..{steps}");
        int final = (int)Math.Round(FinalFraction * steps, MidpointRounding.AwayFromZero);
        return step > steps - final ? FinalLambda : Lambda;
    }
}

/// <summary>One cell of V3's Figure 3 for one sequence: at <paramref name="Position"/> i, depth <paramref name="Depth"/>
/// k (0 = the main model) reads token <paramref name="Reads"/> (the main model its input t_i; depth k the embedding of
/// t_{i+k}, beside h^{k−1}_i) and learns to predict <paramref name="Target"/> = t_{i+k+1}.</summary>
public sealed record MtpDataFlowCell(int Depth, int Position, long Reads, long Target);

/// <summary>DeepSeek-V3's sequential multi-token prediction as a training objective.</summary>
public static class MultiTokenPrediction
{
    /// <summary>What each depth 0..<paramref name="depth"/> reads and predicts at each of its positions when
    /// <see cref="LanguageModel.Losses"/> trains on <paramref name="sequence"/> (T + 1 tokens): depth k has positions 0..T−k−1,
    /// its targets from <see cref="LanguageModel.MultiTokenPredictionTargets"/>.</summary>
    public static IReadOnlyList<MtpDataFlowCell> DataFlow(long[] sequence, int depth)
    {
        int t = sequence.Length - 1;
        if (depth < 0 || depth >= t) throw new ArgumentOutOfRangeException(nameof(depth), depth, $"MultiTokenPrediction.DataFlow: depth must be in 0..{t - 1} for {sequence.Length} tokens");
        using var scope = NewDisposeScope();
        var tokens = tensor(sequence, [1, sequence.Length]);
        var cells = new List<MtpDataFlowCell>();
        for (int k = 0; k <= depth; k++)
        {
            var targets = LanguageModel.MultiTokenPredictionTargets(tokens, k).Targets[0].data<long>().ToArray();
            for (int i = 0; i < t - k; i++) cells.Add(new MtpDataFlowCell(k, i, sequence[i + k], targets[i]));
        }
        return cells;
    }
}

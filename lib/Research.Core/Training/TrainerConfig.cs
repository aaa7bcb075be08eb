using Research.Experiments;

namespace Research.Training;

/// <summary>
/// Optimisation settings of one run: AdamW (Loshchilov &amp; Hutter 2019) with linear warm-up then cosine decay to
/// <see cref="MinLearningRateRatio"/> of the peak, and clipping of the global gradient norm. The defaults suit the
/// kit's tiny LMs; DeepSeek-V3 (§4.2) uses the same optimiser family with β₁ = 0.9, β₂ = 0.95, weight decay 0.1 and
/// gradient clipping at 1.0.
/// </summary>
/// <param name="Steps">Optimizer steps of the whole run; the schedule reaches its floor at the last one.</param>
/// <param name="LearningRate">Peak learning rate, reached at the end of warm-up.</param>
/// <param name="WarmupSteps">Steps of linear warm-up from LearningRate/WarmupSteps to LearningRate.</param>
/// <param name="MinLearningRateRatio">The cosine decays to this fraction of the peak.</param>
/// <param name="WeightDecay">Decoupled weight decay, applied to matrices only (norm gains and biases are not decayed).</param>
/// <param name="GradientClip">Largest global L2 norm of the gradients; larger ones are scaled down to it. 0 disables.</param>
/// <param name="LogEvery">Steps per logged point (the training loss is averaged over them).</param>
public sealed record TrainerConfig(
    int Steps = 1000, double LearningRate = 3e-3, int WarmupSteps = 50, double MinLearningRateRatio = 0.1,
    double WeightDecay = 0.1, double Beta1 = 0.9, double Beta2 = 0.95, double Epsilon = 1e-8, double GradientClip = 1.0,
    int LogEvery = 25)
{
    /// <summary>This config, or a <see cref="ConfigException"/> naming the first field out of range.</summary>
    public TrainerConfig Validated()
    {
        if (Steps < 1 || Steps > 10_000_000) throw Error(nameof(Steps), "1..10000000", Steps);
        if (!(LearningRate > 0 && LearningRate <= 1)) throw Error(nameof(LearningRate), "(0, 1]", LearningRate);
        if (WarmupSteps < 0 || WarmupSteps > Steps) throw Error(nameof(WarmupSteps), $"0..Steps ({Steps})", WarmupSteps);
        if (!(MinLearningRateRatio >= 0 && MinLearningRateRatio <= 1)) throw Error(nameof(MinLearningRateRatio), "[0, 1]", MinLearningRateRatio);
        if (!(WeightDecay >= 0 && WeightDecay <= 1)) throw Error(nameof(WeightDecay), "[0, 1]", WeightDecay);
        if (!(Beta1 >= 0 && Beta1 < 1)) throw Error(nameof(Beta1), "[0, 1)", Beta1);
        if (!(Beta2 >= 0 && Beta2 < 1)) throw Error(nameof(Beta2), "[0, 1)", Beta2);
        if (!(Epsilon > 0 && Epsilon < 1)) throw Error(nameof(Epsilon), "(0, 1)", Epsilon);
        if (!(GradientClip >= 0 && double.IsFinite(GradientClip))) throw Error(nameof(GradientClip), "≥ 0 (0 disables clipping)", GradientClip);
        if (LogEvery < 1 || LogEvery > Steps) throw Error(nameof(LogEvery), $"1..Steps ({Steps})", LogEvery);
        return this;
    }

    /// <summary>
    /// The learning rate of step <paramref name="step"/> (1-based): linear warm-up over <see cref="WarmupSteps"/>, then
    /// a half cosine from the peak down to <see cref="MinLearningRateRatio"/> × peak at step <see cref="Steps"/>.
    /// </summary>
    public double LearningRateAt(int step)
    {
        if (step < 1) throw new ArgumentOutOfRangeException(nameof(step), step, "TrainerConfig.LearningRateAt: steps count from 1");
        if (step <= WarmupSteps) return LearningRate * step / WarmupSteps;
        double floor = LearningRate * MinLearningRateRatio;
        double progress = Steps == WarmupSteps ? 1 : Math.Min(1, (double)(step - WarmupSteps) / (Steps - WarmupSteps));
        return floor + 0.5 * (LearningRate - floor) * (1 + Math.Cos(Math.PI * progress));
    }

    /// <summary>
    /// A constant <paramref name="learningRate"/> for <paramref name="steps"/> steps: no warm-up, no decay, no weight
    /// decay, the gradient norm clipped at 1 and every step logged. How the RL and distillation runs of r1-zero
    /// optimise (DeepSeekMath keeps the rate constant during RL).
    /// </summary>
    public static TrainerConfig Constant(int steps, double learningRate) =>
        new(Steps: steps, LearningRate: learningRate, WarmupSteps: 0, MinLearningRateRatio: 1, WeightDecay: 0, GradientClip: 1.0, LogEvery: 1);

    private static ConfigException Error(string field, string range, object value) =>
        new($"TrainerConfig.{field} must be in {range} (got {value})");
}

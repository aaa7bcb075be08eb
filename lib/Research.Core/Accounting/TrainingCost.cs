using Research.Experiments;

namespace Research.Accounting;

/// <summary>One line of a published compute budget.</summary>
/// <param name="Tokens">Tokens the stage trained on, when the source gives them (null otherwise).</param>
public sealed record TrainingStage(string Stage, double GpuHours, double? Tokens);

/// <summary>A training run as its authors report it.</summary>
/// <param name="Preset">The <see cref="ModelPresets"/> model it trained.</param>
/// <param name="PricePerGpuHour">Rental price the authors use to turn GPU-hours into dollars (null: they give none).</param>
/// <param name="NotCovered">What the reported figure leaves out, in the source's words where it has them.</param>
public sealed record PublishedRun(string Name, string Preset, string Gpu, IReadOnlyList<TrainingStage> Stages, double? PricePerGpuHour, string Source, string NotCovered)
{
    public double GpuHours => Stages.Sum(s => s.GpuHours);
    public double? Dollars => PricePerGpuHour * GpuHours;
}

/// <summary>One run's arithmetic: the FLOPs its tokens need and the utilisation its GPU-hours imply.</summary>
/// <param name="Stage">The stage whose tokens and GPU-hours are compared (the one with a token count).</param>
/// <param name="TrainingFlops">Tokens × training FLOPs per token.</param>
/// <param name="ImpliedBf16">Utilisation of the GPU's dense BF16 peak the stage's GPU-hours imply.</param>
/// <param name="ImpliedFp8">The same against the dense FP8 peak.</param>
public sealed record RunCheck(PublishedRun Run, TrainingStage Stage, FlopsPerToken Flops, double TrainingFlops, double ImpliedBf16, double ImpliedFp8);

/// <summary>
/// Training compute and cost: tokens × FLOPs per token ÷ (peak × utilisation) = GPU-seconds, and the reverse, the
/// utilisation published GPU-hours imply. The peaks are dense tensor-core peaks (<see cref="Hardware"/>).
/// </summary>
public static class TrainingCost
{
    /// <summary>DeepSeek-V3's assumed H800 rental price, $2 per GPU-hour (V3 §1).</summary>
    public const double V3PricePerGpuHour = 2.0;

    /// <summary>GPU-hours to train <paramref name="tokens"/> at <paramref name="utilisation"/> of <paramref name="peak"/> FLOP/s.</summary>
    public static double GpuHours(double tokens, double trainingFlopsPerToken, double peak, double utilisation)
    {
        Positive(nameof(tokens), tokens);
        Positive("peak", peak);
        if (!(utilisation > 0 && utilisation <= 1)) throw new ConfigException($"mfu must be in (0, 1] (got {utilisation})");
        return tokens * trainingFlopsPerToken / (peak * utilisation) / 3600;
    }

    /// <summary>The fraction of <paramref name="peak"/> that <paramref name="gpuHours"/> for <paramref name="tokens"/> imply.</summary>
    public static double ImpliedUtilisation(double tokens, double trainingFlopsPerToken, double gpuHours, double peak)
    {
        Positive(nameof(gpuHours), gpuHours);
        Positive("peak", peak);
        return tokens * trainingFlopsPerToken / (gpuHours * 3600 * peak);
    }

    /// <summary>DeepSeek-V3's Table 1 (H800 GPU-hours; 14.8T pre-training tokens, V3 §1 and §4.2).</summary>
    public static PublishedRun DeepSeekV3 { get; } = new("DeepSeek-V3 official training", "deepseek-v3", "h800",
        [new("pre-training", 2_664e3, 14.8e12), new("context extension", 119e3, null), new("post-training", 5e3, null)],
        V3PricePerGpuHour, "DeepSeek-V3 (arXiv 2412.19437) §1, Table 1: 2,664K + 119K + 5K = 2,788K H800 GPU-hours, $5.576M at $2/GPU-hour",
        "V3 §1: the cost covers the official training of DeepSeek-V3 only, excluding the costs of prior research and ablation " +
        "experiments on architectures, algorithms or data; nor does it include buying the 2,048-GPU cluster, staff, " +
        "failed runs, or R1's reinforcement learning (not in the arXiv reports)");

    /// <summary>DeepSeek-V2: 172.8K H800 GPU-hours per trillion tokens on 8.1T tokens (V2 §3.2.3, §3.1; total derived).</summary>
    public static PublishedRun DeepSeekV2 { get; } = new("DeepSeek-V2 pre-training", "deepseek-v2", "h800",
        [new("pre-training (172.8K per T tokens × 8.1T, derived)", 172.8e3 * 8.1, 8.1e12)], null,
        "DeepSeek-V2 (arXiv 2405.04434) §3.2.3: 172.8K GPU-hours per trillion tokens; 8.1T tokens (§3.1)",
        "a per-token rate for pre-training only; no dollar figure is published");

    /// <summary>Llama 3.1 405B: 30.84M H100-80GB GPU-hours (Meta model card), 15.6T tokens (Llama 3 paper §1).</summary>
    public static PublishedRun Llama31_405B { get; } = new("Llama 3.1 405B", "llama3.1-405b", "h100",
        [new("training (model card, cumulative)", 30.84e6, 15.6e12)], null,
        "meta-llama/Llama-3.1-405B model card, Training Energy Use: 30.84M H100-80GB GPU-hours; The Llama 3 Herd of Models " +
        "(arXiv 2407.21783) §1: 405B parameters on 15.6T tokens (unverified: neither is in the kit's reference)",
        "Meta gives GPU-hours, not dollars; the hours are the model card's cumulative figure and may include more than pre-training");

    public static IReadOnlyList<PublishedRun> Published { get; } = [DeepSeekV3, DeepSeekV2, Llama31_405B];

    /// <summary>The published run of a preset, or null.</summary>
    public static PublishedRun? PublishedFor(string preset) =>
        Published.FirstOrDefault(r => string.Equals(r.Preset, preset, StringComparison.OrdinalIgnoreCase));

    /// <summary>The utilisation a run's GPU-hours imply, from its stage with a token count and the kit's FLOPs per token.</summary>
    public static RunCheck Check(PublishedRun run, int sequence = FlopCounting.DefaultSequence)
    {
        var stage = run.Stages.First(s => s.Tokens is not null);
        var flops = FlopCounting.PerToken(ModelPresets.Find(run.Preset), sequence);
        var gpu = Hardware.FindGpu(run.Gpu);
        double tokens = stage.Tokens!.Value;
        return new RunCheck(run, stage, flops, tokens * flops.Training,
            ImpliedUtilisation(tokens, flops.Training, stage.GpuHours, gpu.PeakBf16),
            ImpliedUtilisation(tokens, flops.Training, stage.GpuHours, gpu.PeakFp8));
    }

    private static void Positive(string field, double value)
    {
        if (!(value > 0 && double.IsFinite(value))) throw new ConfigException($"{field} must be a finite number > 0 (got {value})");
    }
}

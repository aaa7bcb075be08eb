using System.Diagnostics;
using Research.Data;
using Research.Models;
using Research.Training;
using static TorchSharp.torch;

namespace Research.Rl;

/// <summary>How the per-token terms of one response are combined.</summary>
public enum LengthNormalization
{
    /// <summary>GRPO as DeepSeekMath §4.1: (1/|o_i|) Σ_t, each response's tokens averaged.</summary>
    PerResponse,
    /// <summary>Dr. GRPO (Liu et al. 2025): Σ_t divided by one constant (the generation budget), so a long wrong
    /// answer is not penalised less per token than a short one.</summary>
    Constant,
}

/// <summary>
/// Group Relative Policy Optimization (DeepSeekMath §4.1, R1 eqs. 1–3): the group of G responses sampled for one
/// prompt is its own baseline, so no value network is needed. Every piece is a plain function over tensors so that
/// tests can check it alone; <see cref="Step"/> puts them together into one step of sampling, scoring and updates.
/// </summary>
public static class Grpo
{
    /// <summary>
    /// Outcome advantages of rewards [P, G] (P prompts, G responses each): A_i = (r_i − mean) / std within each group,
    /// or r_i − mean when <paramref name="normalizeStd"/> is false (Dr. GRPO). A group whose rewards are all equal
    /// gets A = 0 (there is nothing to prefer; dividing 0 by std = 0 would be NaN). std is the sample standard
    /// deviation (n − 1), as DeepSeekMath's and TRL's implementations compute it. Returns float32 [P, G].
    /// </summary>
    public static Tensor Advantages(Tensor rewards, bool normalizeStd = true)
    {
        if (rewards.dim() != 2 || rewards.shape[1] < 2)
            throw new ArgumentException($"Grpo.Advantages: rewards must be [prompts, G] with G ≥ 2, got [{string.Join(", ", rewards.shape)}]", nameof(rewards));
        using var scope = NewDisposeScope();
        var r = rewards.to_type(ScalarType.Float64);
        var centred = r - r.mean([1], keepdim: true);
        var std = r.std(1, keepdim: true);
        var equal = std.le(1e-12);   // every reward in the group the same (up to rounding)
        var advantages = normalizeStd ? centred / std.clamp_min(1e-12) : centred;
        advantages = advantages.masked_fill(equal, 0);
        return advantages.to_type(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The k3 estimator of KL(π_θ ‖ π_ref) per sampled token (Schulman 2020; DeepSeekMath eq. 4):
    /// π_ref/π_θ − log(π_ref/π_θ) − 1 from log-probabilities of the sampled tokens. Non-negative (x − log x − 1 ≥ 0),
    /// zero exactly where the two agree, and unbiased for the KL when the tokens are drawn from π_θ.
    /// </summary>
    public static Tensor KlK3(Tensor logProbPolicy, Tensor logProbReference)
    {
        using var scope = NewDisposeScope();
        var logRatio = logProbReference - logProbPolicy;
        return (logRatio.exp() - logRatio - 1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The GRPO loss to minimise (the negated objective J of DeepSeekMath eq. 3), from per-token log-probabilities of
    /// the sampled responses [B, L]: the policy's (with autograd), the sampling ("old") policy's and the frozen
    /// reference's; advantages [B] (one per response, given to each of its tokens); and the response mask [B, L].
    /// Per token: min(ρA, clip(ρ, 1 − ε, 1 + ε)A) − β·k3, with ρ = π_θ/π_old. The KL is a term of the loss, not a
    /// penalty in the reward. Tokens are combined per <paramref name="normalization"/>, then responses averaged.
    /// </summary>
    /// <param name="referenceLogProbs">Null, or ignored, when <paramref name="beta"/> is 0.</param>
    /// <param name="budget">The constant of <see cref="LengthNormalization.Constant"/> (Dr. GRPO's generation budget, the
    /// most tokens a response may have).</param>
    public static Tensor Loss(Tensor logProbs, Tensor oldLogProbs, Tensor? referenceLogProbs, Tensor advantages, Tensor mask,
        double epsilon, double beta, LengthNormalization normalization = LengthNormalization.PerResponse, int budget = 0)
    {
        if (!(epsilon > 0)) throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, "Grpo.Loss: epsilon must be > 0");
        if (!(beta >= 0)) throw new ArgumentOutOfRangeException(nameof(beta), beta, "Grpo.Loss: beta must be ≥ 0");
        if (beta > 0 && referenceLogProbs is null) throw new ArgumentException("Grpo.Loss: beta > 0 needs the reference policy's log-probabilities", nameof(referenceLogProbs));
        if (normalization == LengthNormalization.Constant && budget < 1)
            throw new ArgumentOutOfRangeException(nameof(budget), budget, "Grpo.Loss: the Constant normalization needs budget ≥ 1 (the longest response allowed)");
        using var scope = NewDisposeScope();
        var m = mask.to_type(logProbs.dtype);
        var a = advantages.to_type(logProbs.dtype).unsqueeze(1);                         // [B, 1]
        var ratio = (logProbs - oldLogProbs.detach()).exp();
        var surrogate = minimum(ratio * a, ratio.clamp(1 - epsilon, 1 + epsilon) * a);   // [B, L]
        var perToken = beta > 0 ? surrogate - beta * KlK3(logProbs, referenceLogProbs!.detach()) : surrogate;
        var perResponse = (perToken * m).sum(1);                                          // [B]
        perResponse = normalization == LengthNormalization.PerResponse
            ? perResponse / m.sum(1).clamp_min(1)
            : perResponse / budget;
        return (-perResponse.mean()).MoveToOuterDisposeScope();
    }

    /// <summary>Mean of <paramref name="values"/> [B, L] over the tokens <paramref name="mask"/> keeps (a float scalar).</summary>
    public static double MaskedMean(Tensor values, Tensor mask)
    {
        using var scope = NewDisposeScope();
        var m = mask.to_type(ScalarType.Float64);
        return (values.detach().to_type(ScalarType.Float64) * m).sum().item<double>() / Math.Max(1, m.sum().item<double>());
    }

    /// <summary>
    /// One GRPO step: G responses for each prompt, rewards by rule, group-relative advantages, then μ updates of the
    /// clipped objective against the sampling policy with the k3 KL to the reference.
    /// </summary>
    public static (RlStep Point, IReadOnlyList<SampleResponse> Shown) Step(LanguageModel policy, LanguageModel? reference, Trainer trainer, GrpoConfig g,
        ReasoningTask task, IReadOnlyList<ArithmeticProblem> problems, Generator rollouts, int step, Device device)
    {
        using var scope = NewDisposeScope();
        long t0 = Stopwatch.GetTimestamp();
        var prompts = task.Prompts(problems, device);
        using var rollout = Sampler.Sample(policy, prompts, g.GroupSize, g.Sampling, rollouts);
        double sampleSeconds = Stopwatch.GetElapsedTime(t0).TotalSeconds;
        long t1 = Stopwatch.GetTimestamp();
        var read = task.ReadRows(problems, g.GroupSize, rollout.Tokens);
        var readings = read.Readings;
        var rewards = readings.Select(r => Rewards.Total(g.RewardTerms, r)).ToArray();
        var rewardTensor = tensor(rewards, [problems.Count, g.GroupSize]);
        var groupAdvantages = Advantages(rewardTensor, g.NormalizeStd);   // [P, G]; all zero exactly for equal rewards
        double silent = groupAdvantages.abs().sum(1).eq(0).to_type(ScalarType.Float64).mean().item<double>();
        var advantages = groupAdvantages.reshape(-1).to(device);
        var repeated = prompts.repeat_interleave(g.GroupSize, 0);
        Tensor? referenceLogProbs = null;
        if (reference is not null)
            using (no_grad()) referenceLogProbs = Sampler.TokenLogProbs(reference, repeated, rollout.Tokens, g.Sampling.Temperature).LogProbs;
        // π_old is the policy that sampled: until the first update it is the policy itself, so the first update's
        // forward gives its log-probabilities (detached) and no separate pass is needed.
        Tensor? old = null;
        double kl = 0, entropy = double.NaN;
        for (int u = 0; u < g.PolicyUpdates; u++)
        {
            trainer.TrainStep(_ =>
            {
                var (logProbs, tokenEntropy) = Sampler.TokenLogProbs(policy, repeated, rollout.Tokens, g.Sampling.Temperature);
                if (old is null)
                {
                    old = logProbs.detach().MoveToOuterDisposeScope();
                    entropy = MaskedMean(tokenEntropy, rollout.Mask);
                    if (referenceLogProbs is not null) kl = MaskedMean(KlK3(old, referenceLogProbs), rollout.Mask);
                }
                var loss = Loss(logProbs, old, referenceLogProbs, advantages, rollout.Mask, g.Epsilon,
                    reference is null ? 0 : g.Beta, g.Normalization, g.Sampling.MaxTokens);
                return new StepLoss(loss, rollout.Mask.sum().item<long>());
            });
        }
        double updateSeconds = Stopwatch.GetElapsedTime(t1).TotalSeconds;
        var shown = Enumerable.Range(0, Math.Min(g.GroupSize, 4)).Select(i => new SampleResponse(step, ReasoningTask.Render(problems[0]),
            ReasoningVocabulary.Render(read.Response(i)), rewards[i], readings[i].Correct)).ToList();
        var point = new RlStep(step, rewards.Average(), readings.Average(r => r.Correct ? 1.0 : 0), readings.Average(r => r.WellFormed ? 1.0 : 0),
            readings.Average(r => (double)r.Length), readings.Average(r => r.UsesScratchpad ? 1.0 : 0), kl, entropy, silent, sampleSeconds, updateSeconds);
        return (point, shown);
    }
}

using Research.Data;
using Research.Experiments;
using Research.Models;
using static TorchSharp.torch;

namespace Research.Rl;

/// <summary>How responses are drawn: softmax at <paramref name="Temperature"/>, restricted to the nucleus of
/// <paramref name="TopP"/> (Holtzman et al. 2020), at most <paramref name="MaxTokens"/> tokens each.</summary>
/// <param name="Temperature">T &gt; 0 divides the logits; R1 evaluates at 0.6.</param>
/// <param name="TopP">Keep the smallest set of most likely tokens whose mass reaches p, in (0, 1]; 1 keeps all.</param>
public sealed record SamplingConfig(double Temperature = 1.0, double TopP = 1.0, int MaxTokens = 16)
{
    public SamplingConfig Validated(string where = nameof(SamplingConfig))
    {
        if (!(Temperature > 0 && Temperature <= 100)) throw new ConfigException($"{where}.Temperature must be in (0, 100] (got {Temperature})");
        if (!(TopP > 0 && TopP <= 1)) throw new ConfigException($"{where}.TopP must be in (0, 1] (got {TopP})");
        if (MaxTokens < 1 || MaxTokens > 4096) throw new ConfigException($"{where}.MaxTokens must be in 1..4096 (got {MaxTokens})");
        return this;
    }
}

/// <summary>
/// Sampled responses of a batch: <see cref="Tokens"/> int64 [B, L] (PAD after a row's EOS), <see cref="Mask"/> bool
/// [B, L] true on every token up to and including EOS. L is the longest response drawn (≤ MaxTokens). Owns both.
/// </summary>
public sealed record Rollout(Tensor Tokens, Tensor Mask) : IDisposable
{
    public void Dispose()
    {
        Tokens.Dispose();
        Mask.Dispose();
    }
}

/// <summary>Batched autoregressive sampling from a <see cref="LanguageModel"/>.</summary>
public static class Sampler
{
    /// <summary>
    /// The distribution a token is drawn from: softmax(logits / T), then only the nucleus kept (the most likely tokens,
    /// in order, up to and including the first whose cumulative mass reaches p) and renormalised. logits [..., V] →
    /// probabilities [..., V] in float32.
    /// </summary>
    public static Tensor Distribution(Tensor logits, double temperature, double topP)
    {
        using var scope = NewDisposeScope();
        var probs = (logits.to_type(ScalarType.Float32) / temperature).softmax(-1);
        if (topP < 1)
        {
            var (sorted, order) = probs.sort(-1, descending: true);
            // A token stays when the mass before it is still below p: the first token always stays.
            var before = sorted.cumsum(-1) - sorted;
            var kept = (before < topP).to_type(probs.dtype);
            var keptInPlace = zeros_like(probs).scatter_(-1, order, kept);
            probs = probs * keptInPlace;
            probs = probs / probs.sum(-1, keepdim: true);
        }
        return probs.MoveToOuterDisposeScope();
    }

    /// <summary>One token per row of <paramref name="logits"/> [B, V] from <see cref="Distribution"/> → int64 [B].</summary>
    public static Tensor Draw(Tensor logits, SamplingConfig sampling, Generator generator)
    {
        using var scope = NewDisposeScope();
        var probs = Distribution(logits, sampling.Temperature, sampling.TopP);
        return multinomial(probs, 1, false, generator).squeeze(1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// <paramref name="groupSize"/> responses per prompt, drawn with <paramref name="generator"/> (on the model's
    /// device): rows g·G..g·G+G−1 answer prompt g. Each row stops at its EOS; the batch stops when every row has
    /// one or at <see cref="SamplingConfig.MaxTokens"/>. With <paramref name="useCache"/> the prompts are prefilled
    /// once into the KV cache and each step decodes one token; without it every step re-runs the whole prefix (the
    /// benchmark's baseline). Both draw the same tokens for the same seed, up to rounding.
    /// </summary>
    /// <param name="prompts">int64 [P, S], all of one length (the task's prompts are fixed-width).</param>
    public static Rollout Sample(LanguageModel model, Tensor prompts, int groupSize, SamplingConfig sampling, Generator generator, bool useCache = true)
    {
        if (prompts.dim() != 2 || prompts.dtype != ScalarType.Int64)
            throw new ArgumentException($"Sampler.Sample: prompts must be int64 [prompts, seq], got {prompts.dtype} [{string.Join(", ", prompts.shape)}]", nameof(prompts));
        if (groupSize < 1) throw new ArgumentOutOfRangeException(nameof(groupSize), groupSize, "Sampler.Sample: groupSize must be ≥ 1");
        sampling.Validated();
        int promptLength = (int)prompts.shape[1], rows = (int)prompts.shape[0] * groupSize;
        if (promptLength + sampling.MaxTokens > model.Config.MaxPositionEmbeddings)
            throw new ArgumentException($"Sampler.Sample: prompt ({promptLength}) + SamplingConfig.MaxTokens ({sampling.MaxTokens}) exceeds max_position_embeddings ({model.Config.MaxPositionEmbeddings})");
        bool training = model.training;
        model.eval();
        try
        {
            using var noGrad = no_grad();
            using var cache = useCache ? model.NewCache(rows, promptLength + sampling.MaxTokens - 1) : null;
            using var scope = NewDisposeScope();
            var sequence = prompts.repeat_interleave(groupSize, 0);                      // [B, S]
            var logits = cache is null ? model.forward(sequence) : model.Decode(sequence, cache);
            var finished = zeros(rows, ScalarType.Bool, prompts.device);
            var drawn = new List<Tensor>();
            var alive = new List<Tensor>();
            for (int step = 0; step < sampling.MaxTokens; step++)
            {
                var next = Draw(logits.select(1, -1), sampling, generator);                          // [B]
                alive.Add(finished.logical_not());
                next = next.masked_fill(finished, ArithmeticVocabulary.Pad);
                drawn.Add(next);
                finished = finished.logical_or(next.eq(ArithmeticVocabulary.Eos));
                if (step == sampling.MaxTokens - 1 || finished.all().item<bool>()) break;
                var column = next.unsqueeze(1);
                if (cache is null)
                {
                    sequence = cat([sequence, column], 1);
                    logits = model.forward(sequence);
                }
                else logits = model.Decode(column, cache);
            }
            var tokens = stack(drawn, 1);
            var mask = stack(alive, 1);
            return new Rollout(tokens.MoveToOuterDisposeScope(), mask.MoveToOuterDisposeScope());
        }
        finally
        {
            model.train(training);
        }
    }

    /// <summary>
    /// Per-token log-probabilities log π(o_t | q, o_&lt;t) of <paramref name="responses"/> [B, L] after
    /// <paramref name="prompts"/> [B, S] under <paramref name="model"/> at <paramref name="temperature"/>, [B, L] float32
    /// (with autograd when enabled: this is the policy term of the GRPO loss). Also returns the policy's entropy per
    /// token [B, L] (detached).
    /// </summary>
    public static (Tensor LogProbs, Tensor Entropy) TokenLogProbs(LanguageModel model, Tensor prompts, Tensor responses, double temperature = 1.0)
    {
        using var scope = NewDisposeScope();
        int s = (int)prompts.shape[1], l = (int)responses.shape[1];
        var sequence = cat([prompts, responses], 1);
        // Position s−1+t predicts response token t.
        var logits = model.forward(sequence.narrow(1, 0, s + l - 1)).narrow(1, s - 1, l).to_type(ScalarType.Float32) / temperature;
        var logProbs = logits.log_softmax(-1);                                              // [B, L, V]
        var picked = logProbs.gather(-1, responses.unsqueeze(-1)).squeeze(-1);              // [B, L]
        Tensor entropy;
        using (no_grad()) entropy = -(logProbs.exp() * logProbs).sum(-1);
        return (picked.MoveToOuterDisposeScope(), entropy.MoveToOuterDisposeScope());
    }
}

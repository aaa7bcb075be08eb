using static TorchSharp.torch;

namespace Research.Models;

/// <summary>Decoding from a language model.</summary>
public static class Generation
{
    /// <summary>
    /// Greedy decoding: appends the most likely token <paramref name="newTokens"/> times and returns only the new
    /// tokens [B, newTokens]. Each step re-runs the whole prefix (the sequences here are a few dozen tokens; the MLA
    /// part of the kit has the KV-cached decoder).
    /// </summary>
    public static Tensor Greedy(nn.Module<Tensor, Tensor> model, Tensor prompts, int newTokens)
    {
        if (prompts.dim() != 2) throw new ArgumentException($"Generation.Greedy: prompts must be [batch, seq], got [{string.Join(", ", prompts.shape)}]", nameof(prompts));
        if (newTokens < 1) throw new ArgumentOutOfRangeException(nameof(newTokens), newTokens, "Generation.Greedy: newTokens must be ≥ 1");
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var sequence = prompts;
        for (int i = 0; i < newTokens; i++)
        {
            var next = model.forward(sequence).select(1, -1).argmax(-1, keepdim: true);   // [B, 1]
            sequence = cat([sequence, next], 1);
        }
        return sequence.narrow(1, prompts.shape[1], newTokens).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Greedy decoding with a KV cache: the prompt is prefilled once, then each new token is one decode step over the
    /// cache. Same tokens as <see cref="Greedy"/> (up to ties broken by rounding), at a cost per step that does not grow
    /// with a re-run prefix. Returns only the new tokens [B, newTokens].
    /// </summary>
    public static Tensor GreedyCached(LanguageModel model, Tensor prompts, int newTokens)
    {
        if (prompts.dim() != 2) throw new ArgumentException($"Generation.GreedyCached: prompts must be [batch, seq], got [{string.Join(", ", prompts.shape)}]", nameof(prompts));
        if (newTokens < 1) throw new ArgumentOutOfRangeException(nameof(newTokens), newTokens, "Generation.GreedyCached: newTokens must be ≥ 1");
        // The last generated token is never fed back, so the cache needs prompt + newTokens − 1 positions.
        using var cache = model.NewCache((int)prompts.shape[0], (int)prompts.shape[1] + newTokens - 1);
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var next = model.Decode(prompts, cache).select(1, -1).argmax(-1, keepdim: true);   // [B, 1]
        var generated = new List<Tensor> { next };
        for (int i = 1; i < newTokens; i++)
        {
            next = model.Decode(next, cache).select(1, -1).argmax(-1, keepdim: true);
            generated.Add(next);
        }
        return cat(generated, 1).MoveToOuterDisposeScope();
    }
}

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
}

using static TorchSharp.torch;

namespace Research.Data;

/// <summary>
/// One next-token-prediction batch of B sequences of T + 1 tokens: the model reads <see cref="Inputs"/> and is
/// scored on predicting <see cref="Targets"/>, which is the same sequence shifted left by one.
/// </summary>
/// <param name="Inputs">int64 [B, T]: tokens 0..T−1 of each sequence.</param>
/// <param name="Targets">int64 [B, T]: tokens 1..T, so <c>Targets[:, t]</c> is the token after <c>Inputs[:, t]</c>.</param>
/// <param name="LossMask">bool [B, T]: true where the target counts toward the loss. Supervised fine-tuning scores
/// the response only, so for <see cref="ArithmeticTask"/> it is true exactly at the answer digits and the EOS.</param>
/// <remarks>The batch owns its three tensors; <see cref="Dispose"/> releases them.</remarks>
public sealed record LmBatch(Tensor Inputs, Tensor Targets, Tensor LossMask) : IDisposable
{
    /// <summary>
    /// Prompts followed by responses of any lengths, padded on the right with <paramref name="pad"/>: the loss mask
    /// keeps the response tokens only (what supervised fine-tuning scores). Every prompt has the same length.
    /// </summary>
    public static LmBatch PromptsAndResponses(IReadOnlyList<long[]> prompts, IReadOnlyList<long[]> responses, long pad, Device device)
    {
        if (prompts.Count != responses.Count || prompts.Count == 0)
            throw new ArgumentException($"LmBatch.PromptsAndResponses: {prompts.Count} prompts for {responses.Count} responses", nameof(responses));
        int s = prompts[0].Length, width = s + responses.Max(r => r.Length);
        if (prompts.Any(p => p.Length != s)) throw new ArgumentException("LmBatch.PromptsAndResponses: prompts differ in length", nameof(prompts));
        var data = Enumerable.Repeat(pad, prompts.Count * width).ToArray();
        var keep = new bool[prompts.Count * (width - 1)];
        for (int i = 0; i < prompts.Count; i++)
        {
            var row = prompts[i].Concat(responses[i]).ToArray();
            Array.Copy(row, 0, data, i * width, row.Length);
            // Target j is token j + 1: the response's tokens are targets s − 1 .. s + |o| − 2.
            for (int j = s - 1; j < row.Length - 1; j++) keep[i * (width - 1) + j] = true;
        }
        using var scope = NewDisposeScope();
        var sequences = tensor(data, [prompts.Count, width], device: device);   // [B, S + max |o|]
        var inputs = sequences.narrow(1, 0, width - 1).contiguous();
        var targets = sequences.narrow(1, 1, width - 1).contiguous();
        var mask = tensor(keep, [prompts.Count, width - 1], device: device);
        return new LmBatch(inputs.MoveToOuterDisposeScope(), targets.MoveToOuterDisposeScope(), mask.MoveToOuterDisposeScope());
    }

    /// <summary>The rows <paramref name="index"/> (int64 [B']) of this batch, as a new batch.</summary>
    public LmBatch Rows(Tensor index) => new(Inputs.index_select(0, index), Targets.index_select(0, index), LossMask.index_select(0, index));

    public void Dispose()
    {
        Inputs.Dispose();
        Targets.Dispose();
        LossMask.Dispose();
    }
}

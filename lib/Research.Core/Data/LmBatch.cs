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
    public void Dispose()
    {
        Inputs.Dispose();
        Targets.Dispose();
        LossMask.Dispose();
    }
}

using static TorchSharp.torch;

namespace Research.Data;

/// <summary>
/// A batch as whole sequences, for models that predict more than the next token (MTP, V3 in miniature): each row is
/// read at every position and scored on the tokens after it, so the inputs and targets of an <see cref="LmBatch"/>
/// are kept as one tensor.
/// </summary>
/// <param name="Sequences">int64 [B, T + 1].</param>
/// <param name="Mask">bool [B, T]: true where the target after position t counts toward the loss.</param>
/// <param name="Groups">A name per row (the corpus domain, or the task), for per-group scores.</param>
/// <remarks>The batch owns its two tensors; <see cref="Dispose"/> releases them.</remarks>
public sealed record SequenceBatch(Tensor Sequences, Tensor Mask, string[] Groups) : IDisposable
{
    /// <summary>A corpus batch: BOS then T characters, every target counted, each row named for its domain.</summary>
    public static SequenceBatch FromCorpus(MultiDomainCorpus corpus, int batch, Random rng, Device device)
    {
        using var sampled = corpus.Sample(batch, rng, device);
        return From(sampled.Lm, [.. sampled.Domains.Select(MultiDomainCorpus.Name)]);
    }

    /// <summary>An addition batch: BOS "A+B=" answer EOS, only the answer's targets counted (as <see cref="ArithmeticTask"/>
    /// trains); every row is named <paramref name="group"/>.</summary>
    public static SequenceBatch FromAddition(ArithmeticTask task, IReadOnlyList<ArithmeticProblem> problems, string group, Device device)
    {
        using var lm = task.ToBatch(problems, device);
        return From(lm, [.. problems.Select(_ => group)]);
    }

    // Inputs [B, T] and targets [B, T] are one sequence shifted by one: the inputs plus the last target are [B, T + 1].
    private static SequenceBatch From(LmBatch lm, string[] groups) =>
        new(cat([lm.Inputs, lm.Targets.narrow(1, lm.Targets.shape[1] - 1, 1)], 1), lm.LossMask.clone(), groups);

    public void Dispose()
    {
        Sequences.Dispose();
        Mask.Dispose();
    }
}

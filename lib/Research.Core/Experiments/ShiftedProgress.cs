namespace Research.Experiments;

/// <summary>Maps one part's progress (step of its steps) onto a whole experiment's, under the part's stage name.</summary>
public sealed class ShiftedProgress(IProgress<ExperimentProgress> inner, string stage, int offset, int total) : IProgress<ExperimentProgress>
{
    public void Report(ExperimentProgress value) => inner.Report(new ExperimentProgress(stage, offset + value.Done, total));

    /// <summary>A progress for a part starting at <paramref name="offset"/> of <paramref name="total"/>; null when there is no listener.</summary>
    public static IProgress<ExperimentProgress>? Create(IProgress<ExperimentProgress>? inner, string stage, int offset, int total) =>
        inner is null ? null : new ShiftedProgress(inner, stage, offset, total);
}

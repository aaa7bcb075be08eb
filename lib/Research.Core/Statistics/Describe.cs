using MathNet.Numerics.Distributions;
using SampleStatistics = MathNet.Numerics.Statistics.Statistics;

namespace Research.Statistics;

/// <summary>
/// n, mean, sample standard deviation (divides by n − 1), standard error s/√n, and the two-sided Student-t interval
/// mean ± t_{1−(1−confidence)/2, n−1} · SE. With n = 1 the deviation, error and interval are NaN.
/// </summary>
public sealed record Summary(int N, double Mean, double StandardDeviation, double StandardError, double Low, double High);

public static class Describe
{
    /// <summary>The <see cref="Summary"/> of <paramref name="values"/>; throws on an empty list.</summary>
    public static Summary Of(IReadOnlyList<double> values, double confidence = 0.95)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (values.Count == 0)
            throw new ArgumentException("Describe.Of: values is empty; a summary needs at least one value.", nameof(values));
        if (!(confidence > 0 && confidence < 1))
            throw new ArgumentOutOfRangeException(nameof(confidence), confidence, "Describe.Of: confidence must be in (0, 1).");

        int n = values.Count;
        // MathNet's sample SD already divides by n − 1; we pin n = 1 to NaN ourselves rather than rely on its edge case.
        var (mean, sd) = SampleStatistics.MeanStandardDeviation(values);
        if (n == 1) sd = double.NaN;
        double se = sd / Math.Sqrt(n);
        double t = n > 1 ? StudentT.InvCDF(0, 1, n - 1, 1 - (1 - confidence) / 2) : double.NaN;
        return new Summary(n, mean, sd, se, mean - t * se, mean + t * se);
    }

    /// <summary>
    /// The two-sided prediction interval for one new value from the same normal population as <paramref name="values"/>:
    /// mean ± t_{1−(1−confidence)/2, n−1} · s · √(1 + 1/n). It covers where another seed's run should land, not the mean.
    /// NaN for fewer than two values.
    /// </summary>
    public static (double Low, double High) PredictionInterval(IReadOnlyList<double> values, double confidence = 0.95)
    {
        var s = Of(values, confidence);
        if (s.N < 2) return (double.NaN, double.NaN);
        double t = StudentT.InvCDF(0, 1, s.N - 1, 1 - (1 - confidence) / 2);
        double half = t * s.StandardDeviation * Math.Sqrt(1 + 1.0 / s.N);
        return (s.Mean - half, s.Mean + half);
    }
}

using MathNet.Numerics.Random;
using MathNet.Numerics.Statistics;

namespace Research.Statistics;

/// <summary>
/// The percentile bootstrap (Efron and Tibshirani 1993, §13.3) of a mean: a second interval beside the t interval that
/// does not assume normal differences. It is reported, never used for a verdict.
/// </summary>
public static class Bootstrap
{
    /// <summary>
    /// Resamples <paramref name="values"/> with replacement <paramref name="resamples"/> times, drawing from
    /// MathNet's <see cref="MersenneTwister"/> seeded with <paramref name="seed"/> (so every run on every machine gives the
    /// same interval), and returns the α/2 and 1 − α/2 quantiles of the resampled means. NaN when a value is not finite
    /// or the list is empty.
    /// </summary>
    public static (double Low, double High) MeanInterval(IReadOnlyList<double> values, double alpha = 0.05,
        int resamples = 10_000, int seed = 0)
    {
        ArgumentNullException.ThrowIfNull(values);
        Checks.Alpha(alpha, "Bootstrap.MeanInterval");
        Checks.Resamples(resamples, nameof(resamples), "Bootstrap.MeanInterval");
        int n = values.Count;
        if (n == 0 || !values.All(double.IsFinite)) return (double.NaN, double.NaN);

        var rng = new MersenneTwister(seed, threadSafe: false);
        var means = new double[resamples];
        for (int b = 0; b < resamples; b++)
        {
            double sum = 0;
            for (int k = 0; k < n; k++) sum += values[rng.Next(n)];
            means[b] = sum / n;
        }
        Array.Sort(means);
        // R7 (Hyndman and Fan 1996, type 7): linear interpolation at position (B − 1)·τ, the default of R's quantile()
        // and NumPy's percentile; with B = 10 000 the definitions differ by far less than the resampling noise.
        return (SortedArrayStatistics.QuantileCustom(means, alpha / 2, QuantileDefinition.R7),
                SortedArrayStatistics.QuantileCustom(means, 1 - alpha / 2, QuantileDefinition.R7));
    }
}

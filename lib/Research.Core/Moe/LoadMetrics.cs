using MathNet.Numerics.Statistics;

namespace Research.Moe;

/// <summary>Balance measures of a load vector (assignments per expert, or per device).</summary>
public static class LoadMetrics
{
    /// <summary>
    /// MaxVio (LF §4.1) = (maxᵢ loadᵢ − load̄) / load̄, where load̄ is the load under perfect balance (the mean).
    /// 0 is perfect balance; an expert taking twice its share gives 1. Over one training batch it is MaxVio_batch,
    /// over loads summed across a validation set MaxVio_global.
    /// </summary>
    public static double MaxVio(IReadOnlyList<double> loads)
    {
        var mean = Mean(loads);
        return (loads.Max() - mean) / mean;
    }

    public static double MaxVio(IReadOnlyList<long> loads) => MaxVio(ToDouble(loads));

    /// <summary>Coefficient of variation σ/μ (population σ): 0 at perfect balance, √(N − 1) when one of N takes all.</summary>
    public static double CoefficientOfVariation(IReadOnlyList<double> loads)
    {
        var mean = Mean(loads);
        return loads.PopulationStandardDeviation() / mean;
    }

    public static double CoefficientOfVariation(IReadOnlyList<long> loads) => CoefficientOfVariation(ToDouble(loads));

    /// <summary>
    /// Mutual information I(group; expert) in bits of a count table counts[group][expert] (e.g. tokens of each domain
    /// routed to each expert): 0 when every group uses the experts in the same proportions, log₂(groups) at most, when
    /// each expert serves one group only. A measure of specialisation that does not care which expert serves which group.
    /// </summary>
    public static double MutualInformation(IReadOnlyList<IReadOnlyList<long>> counts)
    {
        double total = counts.Sum(row => row.Sum(c => (double)c));
        if (total <= 0) throw new ArgumentException("LoadMetrics.MutualInformation: the table is empty", nameof(counts));
        int columns = counts[0].Count;
        var columnTotals = Enumerable.Range(0, columns).Select(j => counts.Sum(row => (double)row[j])).ToArray();
        double information = 0;
        foreach (var row in counts)
        {
            double rowTotal = row.Sum(c => (double)c);
            for (int j = 0; j < columns; j++)
                if (row[j] > 0) information += row[j] / total * Math.Log2(row[j] * total / (rowTotal * columnTotals[j]));
        }
        return information;
    }

    private static double Mean(IReadOnlyList<double> loads)
    {
        if (loads.Count == 0) throw new ArgumentException("LoadMetrics: the load vector is empty", nameof(loads));
        var mean = loads.Average();
        return mean > 0 ? mean : throw new ArgumentException("LoadMetrics: total load is 0, balance is undefined", nameof(loads));
    }

    private static double[] ToDouble(IReadOnlyList<long> loads) => [.. loads.Select(l => (double)l)];
}

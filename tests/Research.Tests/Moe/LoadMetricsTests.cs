using Research.Moe;
using Xunit;

namespace Research.Tests.Moe;

public sealed class LoadMetricsTests
{
    [Fact]
    public void MaxVio_and_cv_have_their_closed_forms()
    {
        Assert.Equal(0, LoadMetrics.MaxVio(new long[] { 5, 5, 5, 5 }));
        Assert.Equal(1, LoadMetrics.MaxVio(new long[] { 10, 5, 5, 0 }), 12);        // twice its share
        Assert.Equal(3, LoadMetrics.MaxVio(new long[] { 8, 0, 0, 0 }), 12);          // N − 1 when one takes all
        Assert.Equal(Math.Sqrt(3), LoadMetrics.CoefficientOfVariation(new long[] { 8, 0, 0, 0 }), 12);
        Assert.Throws<ArgumentException>(() => LoadMetrics.MaxVio(new long[] { 0, 0 }));
    }

    [Fact]
    public void Mutual_information_is_zero_without_and_log2_groups_with_perfect_specialisation()
    {
        long[][] same = [[3, 1, 2], [6, 2, 4]];
        long[][] split = [[5, 0, 0, 0], [0, 7, 0, 0], [0, 0, 2, 0], [0, 0, 0, 9]];
        Assert.Equal(0, LoadMetrics.MutualInformation(same), 12);
        // equal group sizes: I = H(group) = 2 bits
        Assert.Equal(2, LoadMetrics.MutualInformation([[4, 0, 0, 0], [0, 4, 0, 0], [0, 0, 4, 0], [0, 0, 0, 4]]), 12);
        // unequal group sizes: I = H(group) exactly
        double[] p = [5 / 23.0, 7 / 23.0, 2 / 23.0, 9 / 23.0];
        Assert.Equal(-p.Sum(x => x * Math.Log2(x)), LoadMetrics.MutualInformation(split), 12);
        // a binary symmetric channel with crossover 1/4: I = 1 − H₂(1/4)
        double h = -(0.25 * Math.Log2(0.25) + 0.75 * Math.Log2(0.75));
        Assert.Equal(1 - h, LoadMetrics.MutualInformation([[3, 1], [1, 3]]), 12);
    }
}

using Research.Statistics;
using Xunit;

namespace Research.Tests.Statistics;

public sealed class DescribeTests
{
    // Published two-sided t quantiles (any t table, e.g. NIST/SEMATECH e-Handbook §1.3.6.7.2), printed to 3 decimals.
    private const double T975Df4 = 2.776, T95Df4 = 2.132, TableRounding = 5e-4;

    [Fact]
    public void One_to_five_matches_the_closed_forms_and_the_t_table()
    {
        var s = Describe.Of([1, 2, 3, 4, 5]);

        // mean 3; Σ(x − 3)² = 10, so s² = 10/4 = 2.5; SE = √(2.5/5) = √0.5.
        Assert.Equal(5, s.N);
        Assert.Equal(3, s.Mean, 1e-12);
        Assert.Equal(Math.Sqrt(2.5), s.StandardDeviation, 1e-12);
        Assert.Equal(Math.Sqrt(0.5), s.StandardError, 1e-12);
        Assert.Equal(3 - T975Df4 * Math.Sqrt(0.5), s.Low, TableRounding);
        Assert.Equal(3 + T975Df4 * Math.Sqrt(0.5), s.High, TableRounding);
    }

    [Fact]
    public void Confidence_chooses_the_t_quantile()
    {
        var s = Describe.Of([1, 2, 3, 4, 5], confidence: 0.90);

        Assert.Equal(3 - T95Df4 * Math.Sqrt(0.5), s.Low, TableRounding);
        Assert.Equal(3 + T95Df4 * Math.Sqrt(0.5), s.High, TableRounding);
    }

    [Fact]
    public void A_single_value_has_a_mean_and_nothing_else()
    {
        var s = Describe.Of([4.2]);

        Assert.Equal(1, s.N);
        Assert.Equal(4.2, s.Mean);
        Assert.True(double.IsNaN(s.StandardDeviation) && double.IsNaN(s.StandardError));
        Assert.True(double.IsNaN(s.Low) && double.IsNaN(s.High));
    }

    [Fact]
    public void Equal_values_give_a_zero_width_interval()
    {
        var s = Describe.Of([2, 2, 2, 2]);

        Assert.Equal(0, s.StandardDeviation);
        Assert.Equal((2.0, 2.0), (s.Low, s.High));
    }

    [Fact]
    public void No_values_or_a_confidence_outside_zero_one_is_rejected()
    {
        Assert.Equal("values", Assert.Throws<ArgumentException>(() => Describe.Of([])).ParamName);
        foreach (var c in new[] { 0.0, 1.0, -0.5, double.NaN })
            Assert.Equal("confidence", Assert.ThrowsAny<ArgumentException>(() => Describe.Of([1, 2], c)).ParamName);
    }
}

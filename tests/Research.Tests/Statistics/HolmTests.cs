using MathNet.Numerics.Random;
using Research.Statistics;
using Xunit;

namespace Research.Tests.Statistics;

public sealed class HolmTests
{
    [Fact]
    public void Four_p_values_match_the_worked_example()
    {
        // Wikipedia's Holm–Bonferroni example, also R's p.adjust(c(0.01, 0.04, 0.03, 0.005), "holm") = 0.03 0.06 0.06 0.02.
        // By hand, sorted 0.005 < 0.01 < 0.03 < 0.04 with m = 4: 4·0.005 = 0.02, 3·0.01 = 0.03, 2·0.03 = 0.06,
        // 1·0.04 = 0.04 → running max 0.06; back in input order 0.03, 0.06, 0.06, 0.02.
        var adjusted = Holm.Adjust([0.01, 0.04, 0.03, 0.005]);

        Assert.Equal(new[] { 0.03, 0.06, 0.06, 0.02 }, adjusted, (a, b) => Math.Abs(a - b) < 1e-12);
    }

    [Fact]
    public void Adjusted_values_are_capped_at_one_and_ties_share_a_value()
    {
        // min(1, 2·0.5) = 1, then max(1, 1·0.6) = 1.
        Assert.Equal(new[] { 1.0, 1.0 }, Holm.Adjust([0.5, 0.6]));
        // Three equal p = 0.01: 3·0.01 first, the others can only keep the running max.
        Assert.All(Holm.Adjust([0.01, 0.01, 0.01]), a => Assert.Equal(0.03, a, 1e-15));
        Assert.Empty(Holm.Adjust([]));
    }

    [Fact]
    public void Random_families_keep_the_invariants()
    {
        var rng = new MersenneTwister(2024);
        for (int trial = 0; trial < 500; trial++)
        {
            int m = 1 + rng.Next(12);
            // A mix of small and large p-values, with deliberate ties.
            var p = Enumerable.Range(0, m).Select(_ => Math.Round(Math.Pow(rng.NextDouble(), 3), 3)).ToArray();

            var adjusted = Holm.Adjust(p);

            Assert.All(p.Zip(adjusted), x => Assert.InRange(x.Second, x.First, 1.0));   // raw ≤ adjusted ≤ 1
            // Monotone along the sorted raw p-values.
            var sorted = p.Zip(adjusted).OrderBy(x => x.First).ToArray();
            for (int j = 1; j < m; j++) Assert.True(sorted[j].Second >= sorted[j - 1].Second);
            // The input order is kept: adjusting a reversed family gives the reversed result.
            Assert.Equal(Enumerable.Reverse(adjusted), Holm.Adjust([.. Enumerable.Reverse(p)]));
            // Never less powerful than Bonferroni: adjusted ≤ min(1, m·p).
            Assert.All(p.Zip(adjusted), x => Assert.True(x.Second <= Math.Min(1, m * x.First) + 1e-15));
        }
    }

    [Fact]
    public void A_NaN_stays_NaN_and_still_counts_in_the_family()
    {
        var adjusted = Holm.Adjust([0.01, double.NaN]);

        Assert.Equal(0.02, adjusted[0], 1e-15);   // m = 2, not 1
        Assert.True(double.IsNaN(adjusted[1]));
    }

    [Fact]
    public void A_value_outside_zero_one_is_rejected()
    {
        Assert.Equal("pValues", Assert.Throws<ArgumentException>(() => Holm.Adjust([0.2, 1.5])).ParamName);
        Assert.Equal("pValues", Assert.Throws<ArgumentException>(() => Holm.Adjust([-0.1])).ParamName);
    }
}

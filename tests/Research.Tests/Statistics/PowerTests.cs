using MathNet.Numerics.Distributions;
using Research.Statistics;
using Xunit;

namespace Research.Tests.Statistics;

public sealed class PowerTests
{
    [Fact]
    public void Matches_R_power_t_test()
    {
        // R: power.t.test(n = 20, delta = 1) prints power = 0.8689528. Two samples of 20 with sd 1: noncentrality
        // δ = 1/√(2/20) = √10, ν = 2·(20 − 1) = 38. R counts only the upper rejection region (strict = FALSE); the
        // lower one adds P(T' < −2.02) with δ = 3.16, about 1e-7, below the tolerance.
        Assert.Equal(0.8689528, Power.TwoSidedT(Math.Sqrt(10), 38), 1e-6);

        // R: power.t.test(power = 0.90, delta = 1) prints n = 22.02110: at that (non-integer) n the power is 0.90.
        const double n = 22.02110;
        Assert.Equal(0.90, Power.TwoSidedT(Math.Sqrt(n / 2), 2 * (n - 1)), 1e-5);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    [InlineData(9)]
    [InlineData(200)]
    public void No_effect_rejects_at_rate_alpha(double df)
    {
        // δ = 0 is the null: P(|T| > t_{1−α/2}) = α by the definition of the critical value.
        Assert.Equal(0.05, Power.TwoSidedT(0, df, 0.05), 1e-8);
        Assert.Equal(0.01, Power.TwoSidedT(0, df, 0.01), 1e-8);
    }

    [Theory]
    [InlineData(1.0)]
    [InlineData(2.8)]
    [InlineData(4.0)]
    public void Many_degrees_of_freedom_give_the_z_test(double delta)
    {
        // ν → ∞: S → 1 and the power is Φ(δ − z) + Φ(−δ − z) with z = z_{0.975}. At ν = 10⁶ the gap is O(1/ν).
        double z = Normal.InvCDF(0, 1, 0.975);
        double expected = Normal.CDF(0, 1, delta - z) + Normal.CDF(0, 1, -delta - z);

        Assert.Equal(expected, Power.TwoSidedT(delta, 1e6), 1e-5);
        Assert.Equal(Power.TwoSidedT(delta, 9), Power.TwoSidedT(-delta, 9), 1e-12);   // two-sided: symmetric in δ
    }

    [Fact]
    public void Effect_for_power_inverts_power_and_tends_to_the_z_rule()
    {
        double d80 = Power.EffectForPower(0.80, 10);

        Assert.Equal(0.80, Power.PairedT(d80, 10), 1e-8);
        Assert.True(d80 > 3, $"with 10 seeds 80 % needs more than 3 SE, got {d80}");
        // Large n: z_{0.975} + z_{0.80} = 1.95996 + 0.84162 = 2.80158 SE (the textbook "2.8 SE" rule).
        Assert.Equal(Normal.InvCDF(0, 1, 0.975) + Normal.InvCDF(0, 1, 0.80), Power.EffectForPower(0.80, 1_000_000), 1e-4);
    }

    [Fact]
    public void Bad_input_is_rejected_naming_the_parameter()
    {
        string Param(Action a) => Assert.ThrowsAny<ArgumentException>(a).ParamName!;

        Assert.Equal("n", Param(() => Power.PairedT(3, 1)));
        Assert.Equal("alpha", Param(() => Power.PairedT(3, 10, 0)));
        Assert.Equal("noncentrality", Param(() => Power.TwoSidedT(double.NaN, 9)));
        Assert.Equal("degreesOfFreedom", Param(() => Power.TwoSidedT(3, 0)));
        Assert.Equal("power", Param(() => Power.EffectForPower(0.04, 10)));   // below α: no effect can give it
        Assert.Equal("power", Param(() => Power.EffectForPower(1.0, 10)));
    }
}

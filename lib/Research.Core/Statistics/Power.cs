using MathNet.Numerics;
using MathNet.Numerics.Distributions;
using MathNet.Numerics.RootFinding;

namespace Research.Statistics;

/// <summary>
/// Exact power of the two-sided t-test under normal data, for planning how many seeds an ablation needs.
/// The effect is measured in standard errors of the mean difference, δ = μ_d / (σ_d/√n), which is the noncentrality
/// of the t statistic: "3 SE" means the true mean difference is three times its own standard error.
/// </summary>
public static class Power
{
    /// <summary>Integration stops where the χ² tail left out is below this; the dropped power is at most as large.</summary>
    private const double TailLeftOut = 1e-12;

    /// <summary>Power of the two-sided paired t-test on <paramref name="n"/> seeds (df = n − 1) at level <paramref name="alpha"/>.</summary>
    public static double PairedT(double effectInStandardErrors, int n, double alpha = 0.05)
    {
        if (n < 2) throw new ArgumentOutOfRangeException(nameof(n), n, "Power.PairedT: n must be ≥ 2 (a t-test needs df ≥ 1).");
        return TwoSidedT(effectInStandardErrors, n - 1, alpha);
    }

    /// <summary>
    /// P(|T'| &gt; t_{1−α/2,ν}) for the noncentral t, T' = (Z + δ)/√(V/ν) with Z ~ N(0, 1) and V ~ χ²_ν independent.
    /// </summary>
    public static double TwoSidedT(double noncentrality, double degreesOfFreedom, double alpha = 0.05)
    {
        if (!double.IsFinite(noncentrality))
            throw new ArgumentOutOfRangeException(nameof(noncentrality), noncentrality, "Power.TwoSidedT: noncentrality must be finite.");
        if (!(degreesOfFreedom > 0 && double.IsFinite(degreesOfFreedom)))
            throw new ArgumentOutOfRangeException(nameof(degreesOfFreedom), degreesOfFreedom, "Power.TwoSidedT: degreesOfFreedom must be > 0.");
        Checks.Alpha(alpha, "Power.TwoSidedT");

        double nu = degreesOfFreedom, delta = noncentrality;
        double c = StudentT.InvCDF(0, 1, nu, 1 - alpha / 2);
        // Given S = √(V/ν) = s, |T'| > c  ⇔  Z > c·s − δ  or  Z < −c·s − δ.
        double Conditional(double s) => Normal.CDF(0, 1, delta - c * s) + Normal.CDF(0, 1, -delta - c * s);
        // Integrate over s rather than v = ν·s²: f_S(s) = 2νs·f_χ²(νs²) stays finite at 0 even for ν = 1, where f_χ² does not.
        // Log space, since f_χ²'s Γ(ν/2) and 2^{ν/2} overflow for large ν.
        double Density(double s) => s <= 0 ? 0 : Math.Exp(Math.Log(2 * nu * s) + ChiSquared.PDFLn(nu, nu * s * s));
        double sMax = Math.Sqrt(ChiSquared.InvCDF(nu, 1 - TailLeftOut) / nu);
        return Integrate.GaussKronrod(s => Density(s) * Conditional(s), 0, sMax, 1e-10, 15, 15);
    }

    /// <summary>
    /// The effect (in standard errors) at which the paired t-test on <paramref name="n"/> seeds reaches
    /// <paramref name="power"/>; power rises from α at δ = 0, so the target must lie in (α, 1).
    /// </summary>
    public static double EffectForPower(double power, int n, double alpha = 0.05)
    {
        Checks.Alpha(alpha, "Power.EffectForPower");
        if (!(power > alpha && power < 1))
            throw new ArgumentOutOfRangeException(nameof(power), power, $"Power.EffectForPower: power must be in (alpha = {alpha}, 1).");
        double high = 1;
        while (PairedT(high, n, alpha) < power) high *= 2;
        return Brent.FindRoot(d => PairedT(d, n, alpha) - power, 0, high, 1e-9, 200);
    }
}

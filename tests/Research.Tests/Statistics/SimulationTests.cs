using System.Diagnostics;
using MathNet.Numerics.Distributions;
using MathNet.Numerics.Random;
using Research.Statistics;
using Xunit;

namespace Research.Tests.Statistics;

/// <summary>
/// Monte Carlo sweeps of a whole ablation: do the verdicts keep their promises? Each test draws a few thousand sweeps
/// from a fixed seed, without the bootstrap (it never decides a verdict), and checks a rate against its exact value
/// within 3 Monte Carlo standard errors, √(p(1 − p)/sweeps).
/// </summary>
public sealed class SimulationTests
{
    private const double Alpha = 0.05;
    private const int Arms = 5;                 // five arms against one baseline: the six-arm family
    // Seeds move every arm together (initialisation, data order) more than arms differ from each other; the per-seed
    // part cancels in the paired differences, which is why pairing is the right design.
    private const double SeedEffectSd = 2.0, ArmNoiseSd = 1.0;
    // SD of one paired difference, e_ai − e_0i.
    private static readonly double DifferenceSd = Math.Sqrt(2) * ArmNoiseSd;

    /// <summary>
    /// One sweep on <paramref name="seeds"/> seeds: y_ai = μ_a + u_i + e_ai with u_i shared by every arm on seed i;
    /// arm a's differences d_ai = y_ai − y_0i all contain −e_0i, so the arms' tests are correlated (ρ = ½), as real
    /// ablations sharing a baseline are. <paramref name="shifts"/> holds μ_a − μ_0 for each arm.
    /// </summary>
    private static IReadOnlyList<PairedDifference> Sweep(Random rng, int seeds, IReadOnlyList<double> shifts)
    {
        var u = new double[seeds];
        Normal.Samples(rng, u, 0, SeedEffectSd);
        var baseline = u.Select(ui => ui + Normal.Sample(rng, 0, ArmNoiseSd)).ToArray();
        var arms = shifts.Select((mu, a) =>
        {
            var d = u.Select((ui, i) => mu + ui + Normal.Sample(rng, 0, ArmNoiseSd) - baseline[i]).ToArray();
            return ($"arm{a}", (IReadOnlyList<double>)d);
        }).ToList();
        return PairedComparisons.CompareWithoutBootstrap(arms, Direction.Lower, margin: null, Alpha);
    }

    /// <summary>μ_a − μ_0 giving an improvement (lower is better) of δ standard errors of the mean difference.</summary>
    private static double ShiftFor(double effectInStandardErrors, int seeds) => -effectInStandardErrors * DifferenceSd / Math.Sqrt(seeds);

    private static double McSe(double p, int sweeps) => Math.Sqrt(p * (1 - p) / sweeps);

    private static void Report(string line) => TestContext.Current.TestOutputHelper?.WriteLine(line);

    [Theory]
    [InlineData(10, 101)]
    [InlineData(5, 102)]
    [InlineData(3, 103)]
    public void With_no_effect_at_most_alpha_of_sweeps_claim_any_difference(int seeds, int rngSeed)
    {
        const int sweeps = 2_000;
        var rng = new MersenneTwister(rngSeed);
        var clock = Stopwatch.StartNew();

        int anyClaim = 0;
        for (int s = 0; s < sweeps; s++)
            if (Sweep(rng, seeds, new double[Arms]).Any(d => d.Verdict is Verdict.Better or Verdict.Worse)) anyClaim++;

        double fwer = (double)anyClaim / sweeps;
        Report($"n = {seeds}: family-wise error {fwer:F4} over {sweeps} sweeps of {Arms} arms ({clock.ElapsedMilliseconds} ms)");
        // Holm bounds the family-wise error by α under any dependence; with correlated arms it sits somewhat below α.
        Assert.True(fwer <= Alpha + 3 * McSe(Alpha, sweeps), $"FWER {fwer} at n = {seeds}");
    }

    [Fact]
    public void Single_arm_power_at_3_standard_errors_matches_the_exact_power()
    {
        const int seeds = 10, sweeps = 4_000;
        const double effect = 3;
        var rng = new MersenneTwister(201);

        var verdicts = Enumerable.Range(0, sweeps).Select(_ => Sweep(rng, seeds, [ShiftFor(effect, seeds)]).Single().Verdict).ToList();

        double exact = Power.PairedT(effect, seeds, Alpha);
        double simulated = verdicts.Count(v => v is Verdict.Better or Verdict.Worse) / (double)sweeps;
        Report($"power at {effect} SE, n = {seeds}: exact {exact:F4}, simulated {simulated:F4} (MC SE {McSe(exact, sweeps):F4})");
        Assert.Equal(exact, simulated, 3 * McSe(exact, sweeps));
        // The wrong-sign rejection has probability P(T' < −t_crit) ≈ 1e-5 here: essentially never.
        Assert.True(verdicts.Count(v => v == Verdict.Worse) <= 2);
        // The "≥ 80 % at 3 SE" is out of reach for any valid t-test at n = 10; the exact value says so. (A separate
        // Simpson-rule quadrature and a 400 000-draw simulation of (Z + 3)/√(χ²₉/9), outside the kit, gave 0.7612 and 0.762.)
        Assert.InRange(exact, 0.70, 0.78);
    }

    [Fact]
    public void Single_arm_power_reaches_80_percent_at_the_effect_the_formula_gives()
    {
        const int seeds = 10, sweeps = 4_000;
        double effect = Power.EffectForPower(0.80, seeds, Alpha);
        var rng = new MersenneTwister(202);

        int better = Enumerable.Range(0, sweeps).Count(_ => Sweep(rng, seeds, [ShiftFor(effect, seeds)]).Single().Verdict == Verdict.Better);

        double simulated = (double)better / sweeps;
        Report($"effect for 80 % power at n = {seeds}: {effect:F4} SE; simulated power there {simulated:F4} (MC SE {McSe(0.8, sweeps):F4})");
        Assert.True(simulated >= 0.80 - 3 * McSe(0.80, sweeps), $"simulated power {simulated} at {effect} SE");
        Assert.Equal(0.80, simulated, 3 * McSe(0.80, sweeps));
    }

    [Fact]
    public void Holm_family_power_lies_between_Bonferroni_and_the_single_test()
    {
        const int seeds = 10, sweeps = 2_000;
        const double effect = 3;
        var rng = new MersenneTwister(203);
        var shifts = Enumerable.Repeat(ShiftFor(effect, seeds), Arms).ToArray();

        int armHits = 0, anyHit = 0, allHit = 0;
        for (int s = 0; s < sweeps; s++)
        {
            int hits = Sweep(rng, seeds, shifts).Count(d => d.Verdict == Verdict.Better);
            armHits += hits;
            if (hits > 0) anyHit++;
            if (hits == Arms) allHit++;
        }

        double perArm = (double)armHits / (Arms * sweeps);
        double single = Power.PairedT(effect, seeds, Alpha);
        // Any p ≤ α/m is rejected by Holm's first steps, so Bonferroni's power is a floor; Holm never beats the lone test.
        double bonferroni = Power.PairedT(effect, seeds, Alpha / Arms);
        Report($"six-arm family, all five at {effect} SE, n = {seeds}: per-arm power {perArm:F4} (Bonferroni {bonferroni:F4}, " +
               $"unadjusted {single:F4}), at least one arm {anyHit / (double)sweeps:F4}, all five {allHit / (double)sweeps:F4}");
        // The five arms of a sweep are correlated, so the per-arm rate is noisier than 5·sweeps independent draws; the
        // standard error of `sweeps` draws is the conservative one.
        Assert.InRange(perArm, bonferroni - 3 * McSe(bonferroni, sweeps), single + 3 * McSe(single, sweeps));
        Assert.True(perArm > bonferroni, "Holm's later steps should add power over Bonferroni when every arm has an effect");
    }
}

using Research.Accounting;
using Xunit;

namespace Research.Tests.Accounting;

public sealed class TrainingCostTests
{
    [Fact]
    public void V3_Table_1_adds_up_to_2_788M_GPU_hours_and_5_576M_dollars()
    {
        var run = TrainingCost.DeepSeekV3;
        // V3 Table 1: 2,664K + 119K + 5K H800 GPU-hours = 2,788K; $5.576M at $2 per GPU-hour.
        Assert.Equal([2_664e3, 119e3, 5e3], run.Stages.Select(s => s.GpuHours));
        Assert.Equal(2.788e6, run.GpuHours, 6);
        Assert.Equal(5.576e6, run.Dollars!.Value, 6);
        Assert.Contains("prior research and ablation", run.NotCovered);
    }

    [Fact]
    public void V3_pre_training_implies_about_39_percent_of_H800_BF16_peak_and_half_that_of_FP8()
    {
        var check = TrainingCost.Check(TrainingCost.DeepSeekV3);
        // Closed form with HW25's published 250 GFLOPs: 14.8T × 250e9 / (2,664K h × 3600 s × 989.5 TFLOP/s).
        double published = 14.8e12 * 250e9 / (2_664e3 * 3600 * 989.5e12);

        Assert.Equal(published, check.ImpliedBf16, 2);
        Assert.Equal(check.ImpliedBf16 / 2, check.ImpliedFp8, 12);   // FP8 peak = 2 × BF16 peak
        Assert.Equal(14.8e12 * check.Flops.Training, check.TrainingFlops);
    }

    [Fact]
    public void GPU_hours_and_implied_utilisation_are_inverse()
    {
        double flops = 250e9, tokens = 14.8e12, peak = Hardware.H800.PeakBf16;
        double hours = TrainingCost.GpuHours(tokens, flops, peak, 0.39);
        Assert.Equal(0.39, TrainingCost.ImpliedUtilisation(tokens, flops, hours, peak), 12);
        Assert.Equal(tokens * flops / (peak * 0.39) / 3600, hours, 6);
    }

    [Fact]
    public void Llama_405B_and_V2_runs_imply_utilisations_between_20_and_50_percent()
    {
        // Meta: 30.84M H100 GPU-hours for 15.6T tokens; V2 §3.2.3: 172.8K GPU-hours per T tokens.
        var llama = TrainingCost.Check(TrainingCost.Llama31_405B);
        Assert.Equal(15.6e12 * llama.Flops.Training / (30.84e6 * 3600 * 989.5e12), llama.ImpliedBf16, 12);
        Assert.InRange(llama.ImpliedBf16, 0.2, 0.5);
        var v2 = TrainingCost.Check(TrainingCost.DeepSeekV2);
        Assert.Equal(1e12 * v2.Flops.Training / (172.8e3 * 3600 * 989.5e12), v2.ImpliedBf16, 12);
        Assert.InRange(v2.ImpliedBf16, 0.2, 0.5);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1.5)]
    [InlineData(double.NaN)]
    public void Utilisation_outside_0_to_1_is_an_error_naming_mfu(double mfu)
    {
        var e = Assert.Throws<Research.Experiments.ConfigException>(() => TrainingCost.GpuHours(1e12, 1e9, 1e15, mfu));
        Assert.Contains("mfu must be in (0, 1]", e.Message);
    }
}

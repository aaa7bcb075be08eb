using Research.Statistics;
using Research.Sweeps;
using Xunit;

namespace Research.Tests.Sweeps;

public sealed class SweepReportTableTests
{
    [Fact]
    public void The_arms_table_marks_the_baseline_and_gives_each_other_arm_its_difference_and_verdict()
    {
        var none = new ArmReport("none", new Summary(3, 2.0, 0.1, 0.06, 1.75, 2.25), [], 0, []);
        var free = new ArmReport("aux-loss-free", new Summary(3, 1.5, 0.2, 0.12, 1.0, 2.0), [], 1, []);
        var difference = new PairedDifference("aux-loss-free", 3, -0.5, 0.1, -0.75, -0.25, -0.7, -0.3, 0.01, 0.02, null, null, null, Verdict.Better);
        var metric = new MetricReport("validation loss", "result.loss", Direction.Lower, null, [none, free], [difference]);
        var report = new SweepReport("demo", "moe-balance", "none", ["none", "aux-loss-free"], [0, 1, 2], 6, 5, 0, 1, 0.05, 100, 0,
            "paired t", [metric], DateTime.UnixEpoch);

        var table = report.ArmsTable(metric);
        var rows = table.DisplayRows().ToList();

        Assert.Equal("validation loss (lower is better)", table.Name);
        Assert.Equal(["none", "3", "0", "2", "0.1", "[1.75, 2.25]", "(baseline)", "", "", "–", ""], rows[0]);
        Assert.Equal(["aux-loss-free", "3", "0", "1.5", "0.2", "[1, 2]", "-0.5", "[-0.75, -0.25]", "[-0.7, -0.3]", "0.02", "better"], rows[1]);
    }
}

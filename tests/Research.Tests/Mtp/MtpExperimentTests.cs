using System.Text.Json.Nodes;
using Research.Experiments;
using Research.Mtp;
using Research.Tests.Cli;
using Xunit;

namespace Research.Tests.Mtp;

public sealed class MtpExperimentTests
{
    [Fact]
    public void Lambda_follows_v3s_schedule_over_the_steps()
    {
        // V3: λ = 0.3 for the first 10T of 14.8T tokens, then 0.1. Of 148 steps that is 100 at 0.3 and 48 at 0.1.
        var mtp = new MtpConfig(1, 0.3, 0.1).Validated();
        Assert.Equal(100, Enumerable.Range(1, 148).Count(s => mtp.LambdaAt(s, 148) == 0.3));
        Assert.Equal(0.3, mtp.LambdaAt(100, 148));
        Assert.Equal(0.1, mtp.LambdaAt(101, 148));
        Assert.All(Enumerable.Range(1, 10), s => Assert.Equal(0.5, new MtpConfig(1, 0.5, 0.2, 0).LambdaAt(s, 10)));
        Assert.Throws<ArgumentOutOfRangeException>(() => mtp.LambdaAt(0, 148));
    }

    [Theory]
    [InlineData("depths", "[0, -1]", "Depth")]
    [InlineData("lambda", "-0.1", "Lambda")]
    [InlineData("finalLambda", "-1", "FinalLambda")]
    [InlineData("finalFraction", "1.5", "FinalFraction")]
    [InlineData("decodeRepetitions", "1", "DecodeRepetitions")]
    [InlineData("draftDepth", "2", "DraftDepth must be in 1..1")]   // the workshop config trains D = 0 and 1: no depth-2 draft
    public void Bad_config_values_are_one_line_errors_naming_the_field(string field, string value, string named)
    {
        var node = JsonNode.Parse(ExperimentConfigs.EmbeddedWorkshop(MtpExperiment.Id)!)!.AsObject();
        node[field] = JsonNode.Parse(value);
        InProcessCli.AssertBadConfig(MtpExperiment.Id, node.ToJsonString(), named);
    }
}

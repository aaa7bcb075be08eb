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

    private static MtpRun Run(string task, int depth, params (string Group, int Drafts, int Accepted)[] groups) =>
        new(task, depth, 0, 1000, depth == 0 ? 0 : 100, 3.9, 2.0, [], null, 1, 1, [],
            depth == 0 ? null : new MtpDecoding(groups.Length, 40, 1, groups.Sum(g => g.Drafts), groups.Sum(g => g.Accepted), 1.5, 100, 120, 1.2, true,
                [.. groups.Select(g => new MtpAcceptance(g.Group, g.Drafts, g.Accepted))], new MtpTraceExample("prose", "", [], [], []), new DecodeCost(1, 1, 1, 0.3)));

    [Fact]
    public void Draft_acceptance_compares_the_domains_of_the_smallest_depth_corpus_run_with_code()
    {
        var config = ExperimentConfigs.Load<MtpExperimentConfig>(MtpExperiment.Id) with { Depths = [0, 1, 2] };
        var result = new MtpResult([
            Run("corpus", 0),
            Run("corpus", 2, ("code", 10, 1), ("prose", 10, 2)),
            Run("corpus", 1, ("code", 20, 5), ("prose", 16, 12)),
            Run("addition", 1, ("addition", 30, 30)),
        ], 1);
        var metric = MtpExperiment.Metrics(config).Single(m => m.Name == "draft acceptance");
        Assert.Equal("code", metric.Baseline);
        // Depth 1's corpus run, by domain: 5/20 and 12/16; never depth 2's, never addition's.
        Assert.Equal([("code", 0.25), ("prose", 0.75)], metric.Values(result).ToArray());
        // The fewest checks a domain can have: 3 prompts × 40 tokens, two tokens per accepted check.
        Assert.Equal(config.DecodePromptsPerDomain * config.DecodeTokens / 2, metric.Trials);
        Assert.DoesNotContain(MtpExperiment.Metrics(config with { Depths = [0] }), m => m.Name == "draft acceptance");
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

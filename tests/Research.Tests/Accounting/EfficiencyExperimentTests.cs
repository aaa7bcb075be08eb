using Research.Accounting;
using Research.Experiments;
using Research.Tests.Cli;
using Xunit;

namespace Research.Tests.Accounting;

public sealed class EfficiencyExperimentTests
{
    [Fact]
    public void The_default_config_is_the_repo_file_and_the_experiment_is_in_the_catalog()
    {
        var config = ExperimentConfigs.Load<EfficiencyConfig>(EfficiencyExperiment.Id).Validated();
        Assert.Equal(new EfficiencyConfig().Presets, config.Presets);
        Assert.Contains(ExperimentCatalog.All, e => e.Id == "efficiency");
    }

    [Fact]
    public void The_result_carries_the_headline_numbers_and_the_charts_their_data()
    {
        var output = EfficiencyExperiment.Output(new EfficiencyConfig());
        var r = (EfficiencyResult)output.Result;

        var v3 = r.Sizes.Single(s => s.Name == "deepseek-v3");
        Assert.Equal(671.0, Math.Round(v3.Total / 1e9, 1));                         // V3: 671B
        Assert.Equal(250, Math.Round(v3.TrainingFlops / 1e9));                       // HW25 Table 2
        Assert.Equal(155, Math.Round(r.Sizes.Single(s => s.Name == "deepseek-v2").TrainingFlops / 1e9));
        Assert.Equal(5.576e6, r.Runs.Single(c => c.Run.Preset == "deepseek-v3").Run.Dollars!.Value, 3);   // V3 Table 1
        Assert.Equal(["budget", "total-vs-activated", "flops-vs-activated", "decoding-bound"], output.Charts.Select(c => c.Name));
        // The budget's stacks add up to the stored total (main model + MTP).
        Assert.Equal(ParameterCounting.Count(ModelPresets.Find("deepseek-v3")).Stored, r.BudgetParts.Sum(p => p.Total) + r.BudgetMtp);
        // Decoding: an MLA model and its MHA-cache variant, GQA models, each at both batches.
        Assert.Equal(["gqa", "mha", "mla"], r.Decoding.Select(d => d.Cache).Distinct().Order());
        Assert.All(r.Decoding.GroupBy(d => (d.Model, d.Batch, d.Context)).Where(g => g.Count() == 2),
            g => Assert.True(g.Single(d => d.Cache == "mla").TokensPerSecond > g.Single(d => d.Cache == "mha").TokensPerSecond));
        Assert.Equal(10, r.SeedClaims.Count);   // the nine rows of the reference's §9 table and the 671B / 37B headline
    }

    [Theory]
    [InlineData("""{ "presets": ["gpt-5"] }""", "unknown preset 'gpt-5'")]
    [InlineData("""{ "sequence": 0 }""", "EfficiencyConfig.Sequence")]
    [InlineData("""{ "decodeHardware": "abacus" }""", "unknown hardware 'abacus'")]
    [InlineData("""{ "batches": [0] }""", "EfficiencyConfig.Batches")]
    [InlineData("""{ "wrongField": 1 }""", "wrongField")]
    public void Bad_configs_are_one_line_errors_naming_the_field(string json, string named)
    {
        InProcessCli.AssertBadConfig(EfficiencyExperiment.Id, json, named);
    }
}

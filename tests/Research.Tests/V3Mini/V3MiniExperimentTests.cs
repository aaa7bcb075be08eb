using System.Text.Json;
using System.Text.Json.Nodes;
using Research.Accounting;
using Research.Experiments;
using Research.Models;
using Research.Tests.Cli;
using Research.Training;
using Research.V3Mini;
using Xunit;
using static TorchSharp.torch;

namespace Research.Tests.V3Mini;

public sealed class V3MiniExperimentTests
{
    private static readonly V3MiniExperimentConfig Quick = new()
    {
        Training = new TrainerConfig(Steps: 6, LearningRate: 3e-3, WarmupSteps: 2, LogEvery: 3),
        ValidationBatches = 2,
        DecodePrompts = 1,
        DecodeTokens = 8,
    };

    private static string QuickJson(IEnumerable<string> runs)
    {
        var node = JsonNode.Parse(JsonSerializer.Serialize(Quick with { Runs = [.. runs] }, ExperimentConfigs.Json))!;
        return node.ToJsonString();
    }

    [Fact]
    public void Every_run_reports_its_accounting_its_cache_and_lossless_drafts()
    {
        var seeded = V3MiniExperiment.Run(Quick.Validated(), CPU, cancellation: TestContext.Current.CancellationToken);
        var result = seeded.First;
        var runs = result.Runs.ToDictionary(r => r.Name);
        var full = runs["full"];
        Assert.Equal(V3MiniAblations.Names.OrderBy(n => n), runs.Keys.OrderBy(n => n));
        Assert.All(result.Runs, r => Assert.Equal(0, r.Seed));
        // Each run's parameters are those of its built main model, counted by numel: the weights, and the gate's bias where
        // the run balances with it (aux-loss keeps an unused zero buffer, which a V3 checkpoint would not store)
        foreach (var r in runs.Values)
        {
            var c = V3MiniAblations.Of(r.Name, Quick);
            using (var built = new LanguageModel(c, CPU, new Generator(0)))
            {
                long bias = c.HasGateBias ? built.MainMoeLayers.Sum(m => m.Router.Bias.numel()) : 0;
                Assert.Equal(built.MainParameters + bias, r.TotalParameters);
            }
            Assert.Equal(FlopCounting.PerToken(c, Quick.Corpus.SequenceLength).Training, r.TrainingFlopsPerToken);
            Assert.True(double.IsFinite(r.ValidationLoss) && r.ValidationLoss > 0);
            Assert.True(r.Identical, $"{r.Name}: speculative decoding changed the tokens");
        }
        // FP32 changes only the arithmetic; no-mtp only the depth; the dense FFN activates what the experts did
        Assert.Equal(full.TotalParameters, runs["fp32"].TotalParameters);
        Assert.Equal(0, runs["fp32"].Fp8Tile);
        Assert.Equal(32, full.Fp8Tile);
        Assert.Equal(0, runs["no-mtp"].MtpParameters);
        Assert.Null(runs["no-mtp"].SpeculativeTokensPerSecond);
        Assert.NotNull(full.SpeculativeTokensPerSecond);
        Assert.Null(runs["dense-ffn"].MaxVio);
        Assert.Equal(runs["dense-ffn"].TotalParameters, runs["dense-ffn"].ActivatedParameters);
        Assert.True(full.ActivatedParameters < full.TotalParameters);
        // V2 Table 1 in BF16: MLA (d_c + d_h^R)·l, MHA 2·n_h·d_h·l, GQA 2·n_g·d_h·l
        var m = Quick.Model;
        Assert.Equal(2L * (m.KvLoraRank!.Value + m.QkRopeHeadDim) * m.NumHiddenLayers, full.KvCacheBytesPerToken);
        Assert.Equal(2L * 2 * m.NumAttentionHeads * (m.HiddenSize / m.NumAttentionHeads) * m.NumHiddenLayers, runs["mha"].KvCacheBytesPerToken);
        Assert.Equal(2L * 2 * Quick.GqaKeyValueHeads * (m.HiddenSize / m.NumAttentionHeads) * m.NumHiddenLayers, runs["gqa"].KvCacheBytesPerToken);
        // Matched attention ablations: within one unit of dense width (3·d per dense layer) of the full model
        foreach (var name in new[] { "mha", "gqa" })
            Assert.InRange(Math.Abs(runs[name].TotalParameters + runs[name].MtpParameters - full.TotalParameters - full.MtpParameters), 0, 3 * m.HiddenSize * m.FirstKDenseReplace);
        // Every expert load of the validation set is counted: K_r per token, per MoE layer
        long tokens = Quick.ValidationBatches * Quick.BatchSize * (long)Quick.Corpus.SequenceLength;
        Assert.All(full.ExpertLoads, layer => Assert.Equal(tokens * m.NumExpertsPerTok, layer.Sum()));
        // One seed: every ablation is compared with the full model, and nothing is decided from one pair
        var loss = seeded.Comparison("validation loss");
        Assert.Equal(runs.Keys.Where(n => n != "full").Order(), loss.Comparisons.Select(c => c.Arm).Order());
        Assert.All(loss.Comparisons, c => Assert.Equal(Research.Statistics.Verdict.Inconclusive, c.Verdict));
        Assert.All(loss.Comparisons, c => Assert.Equal(runs[c.Arm].ValidationLoss - full.ValidationLoss, c.Mean, 12));
    }

    [Fact]
    public void The_same_seed_gives_identical_losses_in_two_processes_and_json_lists_the_runs()
    {
        var folder = TestPaths.TempFolder();
        var path = Path.Combine(folder, "quick.json");
        File.WriteAllText(path, QuickJson(["full", "no-mtp"]));
        var cli = TestPaths.Built("Research.Cli", "research.dll");
        string[] Losses()
        {
            var (exit, stdout, stderr) = TestPaths.RunDotnet(cli, ["run", V3MiniExperiment.Id, "--config", path, "--json", "--out", Path.Combine(folder, Guid.NewGuid().ToString("N"))]);
            Assert.True(exit == 0, stderr);
            var runs = JsonNode.Parse(stdout)!["result"]!["perSeed"]![0]!["result"]!["runs"]!.AsArray();
            Assert.Equal(["full", "no-mtp"], runs.Select(r => r!["name"]!.GetValue<string>()));
            foreach (var key in new[] { "validationLoss", "totalParameters", "activatedParameters", "trainingFlopsPerToken", "kvCacheBytesPerToken", "stepMs" })
                Assert.All(runs, r => Assert.NotNull(r![key]));
            Assert.NotNull(runs[0]!["maxVio"]);
            return [.. runs.Select(r => r!["validationLoss"]!.ToJsonString())];
        }
        Assert.Equal(Losses(), Losses());
    }

    [Theory]
    [InlineData("kvLoraRank", "kv_lora_rank")]
    [InlineData("numExpertsPerTok", "num_experts_per_tok")]
    [InlineData("fp8Tile", "fp8Tile")]
    [InlineData("runs", "Runs")]
    [InlineData("gqaKeyValueHeads", "GqaKeyValueHeads")]
    public void Fields_that_do_not_fit_are_bad_input_naming_the_field(string field, string named)
    {
        var node = JsonNode.Parse(QuickJson(["full"]))!.AsObject();
        switch (field)
        {
            case "kvLoraRank": node["model"]!["kvLoraRank"] = 128; break;
            case "numExpertsPerTok": node["model"]!["numExpertsPerTok"] = 9; break;
            case "fp8Tile": node["fp8Tile"] = 24; break;
            case "runs": node["runs"] = new JsonArray("full", "moe-free"); break;
            case "gqaKeyValueHeads": node["gqaKeyValueHeads"] = 3; break;
        }
        InProcessCli.AssertBadConfig(V3MiniExperiment.Id, node.ToJsonString(), named);
    }
}

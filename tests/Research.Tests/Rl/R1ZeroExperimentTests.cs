using System.Text.Json;
using Research.Cli;
using Research.Experiments;
using Research.Models;
using Research.Rl;
using Research.Tests.Cli;
using Research.Training;
using Xunit;
using static TorchSharp.torch;

namespace Research.Tests.Rl;

public sealed class R1ZeroExperimentTests
{
    // Seconds, not minutes: every stage runs, each a few steps.
    internal static readonly R1ZeroConfig Tiny = new(
        new ReasoningTaskConfig(2),
        new ModelConfig(VocabSize: ReasoningVocabulary.Size, HiddenSize: 32, NumHiddenLayers: 1, NumAttentionHeads: 2, IntermediateSize: 64, MaxPositionEmbeddings: 32),
        new ModelConfig(VocabSize: ReasoningVocabulary.Size, HiddenSize: 48, NumHiddenLayers: 1, NumAttentionHeads: 2, IntermediateSize: 96, MaxPositionEmbeddings: 32),
        new PretrainConfig(new TrainerConfig(Steps: 40, WarmupSteps: 5, LogEvery: 10), BatchSize: 32),
        new PretrainConfig(new TrainerConfig(Steps: 40, WarmupSteps: 5, LogEvery: 10), BatchSize: 32),
        new GrpoConfig(Steps: 4, PromptsPerStep: 8, GroupSize: 4, Rollout: new SamplingConfig(1.0, 1.0, 14)),
        new EvaluationConfig(Problems: 24, Samples: 2, Sampling: new SamplingConfig(0.6, 0.95, 14), Every: 2),
        ColdStartExamples: 40, ColdStart: new TrainerConfig(Steps: 6, WarmupSteps: 1, LogEvery: 3));

    [Fact]
    public void Every_run_reports_held_out_scores_and_the_same_seed_gives_the_same_numbers()
    {
        var a = R1ZeroExperiment.Run(Tiny, CPU, cancellation: TestContext.Current.CancellationToken).First;
        var b = R1ZeroExperiment.Run(Tiny, CPU, cancellation: TestContext.Current.CancellationToken).First;

        Assert.Equal(["grpo", "dr-grpo", "distilled", "cold-start-grpo"], a.Runs.Select(r => r.Name));
        // The matched budget: every small run takes Steps × μ updates on the small model (the cold start its SFT as well).
        Assert.All(a.Runs.Take(3), r => Assert.Equal(Tiny.Grpo.Steps * Tiny.Grpo.PolicyUpdates, r.Updates));
        Assert.Equal(Tiny.Grpo.Steps * Tiny.Grpo.PolicyUpdates + Tiny.ColdStart.Steps, a.Runs[3].Updates);
        foreach (var r in a.Runs)
        {
            AssertHeldOutCounts(r.PassAt1, r.ConsAtK);
            Assert.Equal([0, 2, 4], r.Evaluations.Select(e => e.Step));
            Assert.Equal(r.PassAt1, r.Evaluations[^1].PassAt1);
        }
        foreach (var r in a.Runs.Where(r => r.Name != "distilled"))
        {
            Assert.Equal([1, 2, 3, 4], r.Steps.Select(s => s.Step));
            Assert.All(r.Steps, s => Assert.True(s.Kl >= 0 && s.Entropy > 0 && s.ResponseLength >= 1, r.Name));
            Assert.Equal(0, r.Steps[0].Kl, 6);   // before the first update the policy is the reference
        }
        // Step 0 of the plain runs is the base model itself.
        Assert.Equal(a.Base.PassAt1, a.Runs[0].Evaluations[0].PassAt1);
        Assert.Equal(JsonSerializer.Serialize(a with { MemoryFirst = null!, MemoryLast = null! } , Strip),
            JsonSerializer.Serialize(b with { MemoryFirst = null!, MemoryLast = null! }, Strip));
    }

    // pass@1 counts correct samples of N problems × k samples, cons@k correct majority votes of N problems: whole counts.
    private static void AssertHeldOutCounts(double passAt1, double consAtK)
    {
        int n = Tiny.Evaluation.Problems, k = Tiny.Evaluation.Samples;
        Assert.Equal(Math.Round(passAt1 * n * k), passAt1 * n * k, 9);
        Assert.Equal(Math.Round(consAtK * n), consAtK * n, 9);
    }

    // Everything but wall-clock times.
    private static readonly JsonSerializerOptions Strip = new(ExperimentConfigs.Json)
    {
        TypeInfoResolver = new System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver
        {
            Modifiers = { info =>
            {
                foreach (var p in info.Properties.Where(p => p.Name.Contains("seconds", StringComparison.OrdinalIgnoreCase)))
                    p.ShouldSerialize = (_, _) => false;
            } },
        },
    };

    [Fact]
    public void The_cli_prints_base_and_runs_inside_result()
    {
        var folder = TestPaths.TempFolder();
        var path = Path.Combine(folder, "tiny.json");
        File.WriteAllText(path, JsonSerializer.Serialize(Tiny, ExperimentConfigs.Json));
        var (exit, stdout, stderr) = InProcessCli.Run("run", "r1-zero", "--config", path, "--out", folder, "--json");
        Assert.True(exit == ExitCodes.Ok, stderr);
        var result = JsonDocument.Parse(stdout).RootElement.GetProperty("result").GetProperty("perSeed")[0].GetProperty("result");
        var baseModel = result.GetProperty("base");
        AssertHeldOutCounts(baseModel.GetProperty("passAt1").GetDouble(), baseModel.GetProperty("consAtK").GetDouble());
        var runs = result.GetProperty("runs").EnumerateArray().ToList();
        Assert.Equal(["grpo", "dr-grpo", "distilled", "cold-start-grpo"], runs.Select(r => r.GetProperty("name").GetString()));
        Assert.All(runs, r =>
        {
            AssertHeldOutCounts(r.GetProperty("passAt1").GetDouble(), r.GetProperty("consAtK").GetDouble());
            // The headline score is the last held-out evaluation's
            Assert.Equal(r.GetProperty("passAt1").GetDouble(), r.GetProperty("evaluations").EnumerateArray().Last().GetProperty("passAt1").GetDouble());
            Assert.True(r.GetProperty("responseLength").GetDouble() >= 1);
        });
        Assert.True(File.Exists(Path.Combine(folder, "r1-zero", "rl_steps.csv")));
    }

    [Theory]
    [InlineData("groupSize", "1", "GroupSize")]
    [InlineData("epsilon", "0", "Epsilon")]
    [InlineData("beta", "-0.5", "Beta")]
    public void Bad_grpo_fields_are_exit_code_2_and_write_nothing(string field, string value, string named)
    {
        var json = JsonSerializer.Serialize(Tiny, ExperimentConfigs.Json);
        var node = System.Text.Json.Nodes.JsonNode.Parse(json)!;
        node["grpo"]![field] = System.Text.Json.Nodes.JsonNode.Parse(value);
        InProcessCli.AssertBadConfig("r1-zero", node.ToJsonString(), named);
    }

    [Theory]
    [InlineData("{\"name\": \"length\"}", "Rewards[0].Name")]
    public void An_unknown_reward_is_exit_code_2(string reward, string named)
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse(JsonSerializer.Serialize(Tiny, ExperimentConfigs.Json))!;
        node["grpo"]!["rewards"] = System.Text.Json.Nodes.JsonNode.Parse($"[{reward}]");
        InProcessCli.AssertBadConfig("r1-zero", node.ToJsonString(), named);
    }

    [Theory]
    [InlineData("topP", "0", "TopP")]
    [InlineData("temperature", "0", "Temperature")]
    public void Bad_sampling_fields_are_exit_code_2(string field, string value, string named)
    {
        var node = System.Text.Json.Nodes.JsonNode.Parse(JsonSerializer.Serialize(Tiny, ExperimentConfigs.Json))!;
        node["grpo"]!["rollout"]![field] = System.Text.Json.Nodes.JsonNode.Parse(value);
        InProcessCli.AssertBadConfig("r1-zero", node.ToJsonString(), named);
    }
}

using System.Text.Json;
using Research.Cli;
using Research.Experiments;
using Research.Moe;
using Research.Tests.Cli;
using Xunit;
using static TorchSharp.torch;

namespace Research.Tests.Moe;

public sealed class MoeBalanceExperimentTests
{
    // Seconds: short sequences, one layer, a few dozen steps.
    internal static readonly MoeBalanceConfig Tiny = new()
    {
        Corpus = new(SequenceLength: 16),
        Model = new MoeBalanceConfig().Model with { HiddenSize = 16, NumHiddenLayers = 1, NumAttentionHeads = 2, MaxPositionEmbeddings = 16 },
        Router = new(8, 2),
        ExpertHidden = 8,
        Training = new(Steps: 40, LearningRate: 3e-3, WarmupSteps: 4, LogEvery: 20),
        BatchSize = 8,
        ValidationBatches = 2,
        Strategies = [new("none"), new("aux-loss", AuxLossAlpha: 0.01), new("aux-loss-free", BiasUpdateSpeed: 0.01)],
    };

    [Fact]
    public void The_embedded_config_is_the_record_default()
    {
        var embedded = ExperimentConfigs.Load<MoeBalanceConfig>(MoeBalanceExperiment.Id);
        Assert.Equal(JsonSerializer.Serialize(new MoeBalanceConfig(), ExperimentConfigs.Json), JsonSerializer.Serialize(embedded, ExperimentConfigs.Json));
    }

    [Fact]
    public void The_workshop_config_is_the_default_trained_for_fewer_steps()
    {
        var workshop = ExperimentConfigs.Load<MoeBalanceConfig>(MoeBalanceExperiment.Id, workshop: true).Validated();
        var full = new MoeBalanceConfig();
        // The same model, gate, strategies and batches: only the run is shorter (notebook 06 trains it live).
        Assert.Equal(JsonSerializer.Serialize(full with { Training = workshop.Training }, ExperimentConfigs.Json), JsonSerializer.Serialize(workshop, ExperimentConfigs.Json));
        Assert.True(workshop.Training.Steps < full.Training.Steps);
    }

    [Fact]
    public void Every_strategy_sees_the_same_tokens_and_every_assignment_is_counted()
    {
        var result = MoeBalanceExperiment.Run(Tiny, CPU, cancellation: TestContext.Current.CancellationToken).First;

        Assert.Equal(["none", "aux-loss", "aux-loss-free"], result.Strategies.Select(s => s.Name));
        long perStep = Tiny.BatchSize * Tiny.Corpus.SequenceLength * Tiny.Router.TopK;
        long validation = Tiny.ValidationBatches * Tiny.BatchSize * Tiny.Corpus.SequenceLength * Tiny.Router.TopK;
        foreach (var s in result.Strategies)
        {
            Assert.All(s.Loads[0], step => Assert.Equal(perStep, step.Sum()));                 // no token lost, none counted twice
            Assert.Equal(validation, s.DomainLoads[0].Sum(d => d.Sum()));
            Assert.Equal([20, 40], s.Curve.Select(p => p.Step));
            Assert.Equal(40L * Tiny.BatchSize * Tiny.Corpus.SequenceLength, s.Curve[^1].Tokens);
            // MaxVio_global is MaxVio of the validation loads summed over domains
            var global = Enumerable.Range(0, 8).Select(e => s.DomainLoads[0].Sum(d => d[e])).ToArray();
            Assert.Equal(LoadMetrics.MaxVio(global), s.MaxVioGlobal, 1e-12);
            Assert.Equal(s.MaxVioBatchByStep[^10..].Average(), s.MaxVioBatch, 1e-12);
            Assert.True(double.IsFinite(s.FinalLoss) && double.IsFinite(s.ValidationLoss));
        }
        // Only the loss-free strategy moves its bias, and each step moves it by γ at most.
        Assert.All(result.Strategies.Where(s => s.BiasUpdateSpeed == 0), s => Assert.All(s.Bias[0], b => Assert.Equal(0, b)));
        var free = result.Strategies.Single(s => s.Name == "aux-loss-free");
        Assert.Contains(free.Bias[0], b => b != 0);
        Assert.All(free.Bias[0], b => Assert.True(Math.Abs(b) <= 0.01 * 39 + 1e-6));
        // The first step routes identical weights on identical tokens: every strategy's loads agree there.
        Assert.All(result.Strategies, s => Assert.Equal(result.Strategies[0].Loads[0][0], s.Loads[0][0]));
    }

    [Fact]
    public void Same_seed_gives_identical_numbers()
    {
        var config = Tiny with { Strategies = [Tiny.Strategies[2]], Training = Tiny.Training with { Steps = 12, LogEvery = 6 } };
        var a = MoeBalanceExperiment.Run(config, CPU, cancellation: TestContext.Current.CancellationToken).First.Strategies[0];
        var b = MoeBalanceExperiment.Run(config, CPU, cancellation: TestContext.Current.CancellationToken).First.Strategies[0];
        var c = MoeBalanceExperiment.Run(config with { Seeds = [1] }, CPU, cancellation: TestContext.Current.CancellationToken).First.Strategies[0];
        Assert.Equal((a.ValidationLoss, a.MaxVioGlobal, a.FinalLoss), (b.ValidationLoss, b.MaxVioGlobal, b.FinalLoss));
        Assert.Equal(a.Bias[0], b.Bias[0]);
        Assert.NotEqual(a.ValidationLoss, c.ValidationLoss);
    }

    [Theory]
    [InlineData("""{ "strategies": [ { "name": "x", "biasUpdateSpeed": -0.001 } ] }""", "MoeBalanceConfig.Strategies[0]: BalancingConfig.BiasUpdateSpeed (γ) must be a finite number ≥ 0")]
    [InlineData("""{ "router": { "experts": 6, "topK": 7 } }""", "RouterConfig.TopK must be in 1..Experts (6)")]
    [InlineData("""{ "router": { "experts": 16, "topK": 2, "groups": 3 } }""", "RouterConfig.Groups must be a divisor of Experts (16)")]
    [InlineData("""{ "router": { "experts": 16, "topK": 2, "groups": 4, "topGroups": 5 } }""", "RouterConfig.TopGroups must be in 1..Groups (4)")]
    [InlineData("""{ "router": { "experts": 16, "topK": 2, "capacityFactor": 0 } }""", "RouterConfig.CapacityFactor must be a finite number > 0")]
    [InlineData("""{ "strategies": [ { "name": "a" }, { "name": "a" } ] }""", "MoeBalanceConfig.Strategies: the name 'a' is used twice")]
    public void Bad_configs_exit_2_naming_the_field_and_write_nothing(string json, string expected)
    {
        InProcessCli.AssertBadConfig(MoeBalanceExperiment.Id, json, expected);
    }

    [Fact]
    public void Json_lists_the_strategies_with_their_balance_and_losses_but_not_the_per_step_loads()
    {
        var folder = TestPaths.TempFolder();
        var path = Path.Combine(folder, "tiny.json");
        File.WriteAllText(path, JsonSerializer.Serialize(Tiny with { Training = Tiny.Training with { Steps = 6, LogEvery = 3 } }, ExperimentConfigs.Json));

        var (exit, stdout, stderr) = InProcessCli.Run("run", MoeBalanceExperiment.Id, "--config", path, "--out", Path.Combine(folder, "out"), "--json");

        Assert.True(exit == ExitCodes.Ok, stderr);
        var strategies = JsonDocument.Parse(stdout).RootElement.GetProperty("result").GetProperty("perSeed")[0].GetProperty("result").GetProperty("strategies");
        Assert.Equal(["none", "aux-loss", "aux-loss-free"], strategies.EnumerateArray().Select(s => s.GetProperty("name").GetString()));
        foreach (var s in strategies.EnumerateArray())
        {
            foreach (var field in new[] { "maxVioGlobal", "finalLoss", "validationLoss" })
                Assert.True(double.IsFinite(s.GetProperty(field).GetDouble()), field);
            Assert.False(s.TryGetProperty("loads", out _));
        }
        Assert.True(File.Exists(Path.Combine(folder, "out", MoeBalanceExperiment.Id, "expert_loads.csv")));
    }
}

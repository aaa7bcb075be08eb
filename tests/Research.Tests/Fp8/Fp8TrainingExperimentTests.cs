using System.Text.Json;
using Plotly.NET;
using Research.Experiments;
using Research.Fp8;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Research.Tests.Fp8;

public sealed class Fp8TrainingExperimentTests
{
    // A few seconds on a CPU: 64 wide, 32-column tiles and 32×32 blocks so the fine-grained groups are real.
    private static readonly Fp8TrainingConfig Tiny = new(Inputs: 64, Hidden: 64, Classes: 4, TeacherHidden: 16,
        ValidationExamples: 256, TileSize: 32, BlockSize: 32, Steps: 40, BatchSize: 32, LearningRate: 3e-3, LogEvery: 10,
        OutlierTokenFraction: 0.1, OutlierValue: 1000);

    [Fact]
    public void Same_seed_gives_identical_loss_curves_and_gaps_are_relative_to_fp32()
    {
        // Given the tiny config, run twice
        var a = Fp8TrainingExperiment.Run(Tiny, CPU, cancellation: TestContext.Current.CancellationToken).First;
        var b = Fp8TrainingExperiment.Run(Tiny, CPU, cancellation: TestContext.Current.CancellationToken).First;

        // Then every number of every curve repeats exactly, and the gaps follow from the final losses
        Assert.Equal(["FP32", "FP8 per-tensor", "FP8 fine-grained"], a.Runs.Select(r => r.Name));
        Assert.Equal(a.Runs.SelectMany(r => r.Curve), b.Runs.SelectMany(r => r.Curve));
        Assert.Equal(0, a.Runs[0].RelativeGap);
        foreach (var run in a.Runs)
        {
            Assert.Equal([10, 20, 30, 40], run.Curve.Select(p => p.Step));
            Assert.Equal(run.Curve[^1].TrainLoss, run.FinalTrainLoss);
            Assert.Equal(run.FinalTrainLoss / a.Runs[0].FinalTrainLoss - 1, run.RelativeGap, 12);
            Assert.Equal(run.FinalValidationLoss / a.Runs[0].FinalValidationLoss - 1, run.RelativeValidationGap, 12);
        }
    }

    [Fact]
    public void The_shared_trainer_reproduces_torchs_adamw_with_cosine_annealing_step_for_step()
    {
        // Given the fine-grained recipe, the teacher and validation set of the tiny config
        var config = Tiny with { Steps = 20, LogEvery = 5 };
        var recipe = config.Runs()[2].Recipe;
        var teacher = new Fp8TrainingExperiment.Teacher(config, CPU, new Generator(0));
        var (vx, vy, _) = teacher.Sample(config.ValidationExamples, new Generator(1));

        // When it trains on the kit's Trainer, and on a plain loop of torch's AdamW and CosineAnnealingLR (the oracle)
        var shared = Fp8TrainingExperiment.Train(config, recipe, teacher, (vx, vy), CPU, cancellation: TestContext.Current.CancellationToken);
        var oracle = new List<double>();
        using (var model = new Fp8Mlp(config.Inputs, config.Hidden, config.Classes, recipe, CPU, new Generator(2)))   // seed 0's stream 2 (the kit's rule: seed × 32 + stream)
        {
            using var optimizer = optim.AdamW(model.parameters(), lr: config.LearningRate, weight_decay: config.WeightDecay);
            var schedule = optim.lr_scheduler.CosineAnnealingLR(optimizer, config.Steps);
            var batches = new Generator(3);   // seed 0's stream 3
            for (int step = 1; step <= config.Steps; step++)
            {
                using var scope = NewDisposeScope();
                var (x, y, _) = teacher.Sample(config.BatchSize, batches);
                var loss = nn.functional.cross_entropy(model.forward(x), y);
                optimizer.zero_grad();
                loss.backward();
                optimizer.step();
                schedule.step();
                oracle.Add(loss.item<float>());
            }
        }

        // Then every logged window of training losses is the same number
        var windows = oracle.Chunk(config.LogEvery).Select(w => w.Average()).ToList();
        Assert.Equal(windows, shared.Select(p => p.TrainLoss));
    }

    [Fact]
    public void Training_lowers_the_loss_toward_but_not_below_the_bayes_floor_and_fp8_changes_the_numbers()
    {
        var result = Fp8TrainingExperiment.Run(Tiny with { Steps = 120, LogEvery = 40 }, CPU, cancellation: TestContext.Current.CancellationToken).First;

        // Labels are sampled from the teacher, so its cross-entropy is below the uniform guess ln C
        Assert.InRange(result.BayesLoss, 0.1, Math.Log(4));
        foreach (var run in result.Runs)
        {
            Assert.True(run.Curve[^1].ValidationLoss < run.Curve[0].ValidationLoss, $"{run.Name} did not learn");
            Assert.True(run.FinalValidationLoss > result.BayesLoss - 0.05, $"{run.Name} beat the Bayes loss");
        }
        Assert.NotEqual(result.Runs[0].Curve, result.Runs[2].Curve);
    }

    [Fact]
    public void Outlier_tokens_hold_the_outlier_value_in_the_same_few_channels_and_the_rest_is_standard_normal()
    {
        var config = Tiny with { OutlierTokenFraction = 0.25, OutlierChannels = 3, OutlierValue = 500 };
        var teacher = new Fp8TrainingExperiment.Teacher(config, CPU, new Generator(0));

        var (x, y, logProbs) = teacher.Sample(4000, new Generator(1));

        var isOutlier = x.eq(500f);                                             // [n, d_in]
        var channels = isOutlier.any(0);                                        // channels that ever hold it
        var tokens = isOutlier.any(1);                                          // tokens that hold it
        Assert.Equal(3, channels.sum().item<long>());
        Assert.True(isOutlier.index(tokens).index_select(1, channels.nonzero().squeeze(1)).all().item<bool>());   // every outlier token, all 3 channels
        Assert.InRange(tokens.to_type(ScalarType.Float32).mean().item<float>(), 0.22f, 0.28f);
        var ordinary = x.index(~tokens);
        Assert.InRange(ordinary.std().item<float>(), 0.97f, 1.03f);
        Assert.Equal(new long[] { 4000 }, y.shape);
        Assert.True(logProbs.exp().sum(-1).allclose(ones(4000), rtol: 1e-5, atol: 1e-5));
    }

    [Fact]
    public void The_embedded_default_config_is_valid_seeded_and_uses_v3_tile_and_block_sizes()
    {
        var config = ExperimentConfigs.Load<Fp8TrainingConfig>(Fp8TrainingExperiment.Id).Validated();

        Assert.Equal([0], config.Seeds);
        Assert.Equal(128, config.TileSize);
        Assert.Equal(128, config.BlockSize);
        Assert.True(config.Inputs >= 2 * config.TileSize && config.Hidden >= 2 * config.BlockSize, "each layer should span several groups");
        var fineGrained = config.Runs()[2].Recipe;
        Assert.Equal(Granularity.Tile, fineGrained.Activations.Granularity);
        Assert.Equal(Granularity.Block, fineGrained.Weights.Granularity);
        Assert.Equal(Granularity.PerTensor, config.Runs()[1].Recipe.Activations.Granularity);
        Assert.False(config.Runs()[0].Recipe.Enabled);
    }

    [Theory]
    [InlineData("{\"gradientFormat\": \"E3M2\"}", "Fp8TrainingConfig.GradientFormat")]
    [InlineData("{\"inputs\": 8, \"outlierChannels\": 9}", "Fp8TrainingConfig.OutlierChannels")]
    [InlineData("{\"outlierTokenFraction\": 1.5}", "Fp8TrainingConfig.OutlierTokenFraction")]
    [InlineData("{\"steps\": 10, \"logEvery\": 20}", "Fp8TrainingConfig.LogEvery")]
    [InlineData("{\"tileSize\": 0}", "Fp8TrainingConfig.TileSize")]
    public void Bad_config_values_are_errors_naming_the_field(string json, string field)
    {
        var path = Path.Combine(TestPaths.TempFolder(), "bad.json");
        File.WriteAllText(path, json);

        var e = Assert.Throws<ConfigException>(() => ExperimentConfigs.Load<Fp8TrainingConfig>(Fp8TrainingExperiment.Id, path).Validated());

        Assert.Contains(field, e.Message);
    }

    [Fact]
    public void Loss_charts_have_one_trace_per_run_on_a_log_axis_with_units()
    {
        var curve = new List<LossPoint> { new(10, 2.0, 2.1), new(20, 1.5, 1.6) };
        var result = new Fp8TrainingResult(1.2, [new("FP32", "", 1.5, 1.6, 0, 0, 1, curve), new("FP8 per-tensor", "", 1.5, 1.6, 0, 0, 1, curve),
            new("FP8 fine-grained", "", 1.5, 1.6, 0, 0, 1, curve)]);

        foreach (var (chart, values) in new[] { (Fp8TrainingCharts.TrainingLoss(result), new[] { 2.0, 1.5 }), (Fp8TrainingCharts.ValidationLoss(result), new[] { 2.1, 1.6 }) })
        {
            var figure = JsonDocument.Parse(GenericChart.toFigureJson(chart)).RootElement;
            var data = figure.GetProperty("data");
            Assert.Equal(["FP32", "FP8 per-tensor", "FP8 fine-grained"], data.EnumerateArray().Select(t => t.GetProperty("name").GetString()));
            Assert.Equal([10.0, 20.0], data[0].GetProperty("x").EnumerateArray().Select(v => v.GetDouble()));
            Assert.Equal(values, data[0].GetProperty("y").EnumerateArray().Select(v => v.GetDouble()));
            var layout = figure.GetProperty("layout");
            Assert.Equal("log", layout.GetProperty("yaxis").GetProperty("type").GetString());
            Assert.Contains("nats", layout.GetProperty("yaxis").GetProperty("title").GetProperty("text").GetString());
            Assert.Contains("step", layout.GetProperty("xaxis").GetProperty("title").GetProperty("text").GetString());
        }
    }
}

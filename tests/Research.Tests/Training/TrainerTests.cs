using Research.Experiments;
using Research.Models;
using Research.Training;
using Xunit;
using static TorchSharp.torch;

namespace Research.Tests.Training;

public sealed class TrainerTests
{
    private static readonly ModelConfig Model = new(VocabSize: 13, HiddenSize: 32, NumHiddenLayers: 2, NumAttentionHeads: 2, IntermediateSize: 64, MaxPositionEmbeddings: 16);

    private static float[] Values(Tensor t) => t.detach().contiguous().cpu().data<float>().ToArray();

    // Data: sequences counting up mod V from a random start, so every next token is determined by the previous one.
    private static Func<int, StepLoss> CountingTask(LanguageModel model, Generator data, int batch = 16, int length = 12) => _ =>
    {
        var start = randint(0, Model.VocabSize, [batch, 1], generator: data);
        var tokens = (start + arange(length + 1, ScalarType.Int64)) % Model.VocabSize;   // [B, L+1]
        var logits = model.forward(tokens[.., ..^1]);
        var loss = nn.functional.cross_entropy(logits.reshape(-1, Model.VocabSize), tokens[.., 1..].reshape(-1));
        return new StepLoss(loss, batch * length);
    };

    [Fact]
    public void Schedule_warms_up_linearly_then_follows_a_half_cosine_to_its_floor()
    {
        var c = new TrainerConfig(Steps: 110, LearningRate: 1e-2, WarmupSteps: 10, MinLearningRateRatio: 0.1);
        Assert.Equal(1e-3, c.LearningRateAt(1), 12);
        Assert.Equal(5e-3, c.LearningRateAt(5), 12);
        Assert.Equal(1e-2, c.LearningRateAt(10), 12);
        Assert.Equal((1e-2 + 1e-3) / 2, c.LearningRateAt(60), 12);                                   // half way: cos(π/2) = 0
        Assert.Equal(1e-3 + 0.5 * 9e-3 * (1 + Math.Cos(Math.PI * 0.25)), c.LearningRateAt(35), 12);
        Assert.Equal(1e-3, c.LearningRateAt(110), 12);
    }

    [Fact]
    public void Training_learns_a_deterministic_sequence()
    {
        using var model = new LanguageModel(Model, CPU, new Generator(1));
        using var trainer = new Trainer(model, new TrainerConfig(Steps: 150, LearningRate: 1e-2, WarmupSteps: 10, LogEvery: 10));
        var log = trainer.Run(CountingTask(model, new Generator(2)), cancellation: TestContext.Current.CancellationToken);
        Assert.Equal(Enumerable.Range(1, 15).Select(i => 10 * i), log.Select(p => p.Step));
        Assert.True(log[0].TrainLoss > 2.0, $"first window {log[0].TrainLoss}");     // ln 13 ≈ 2.56 at the start
        Assert.True(log[^1].TrainLoss < 0.05, $"last window {log[^1].TrainLoss}");
        Assert.Equal(150L * 16 * 12, log[^1].Tokens);
    }

    [Fact]
    public void Same_seed_gives_an_identical_loss_curve()
    {
        double[] Curve()
        {
            using var model = new LanguageModel(Model, CPU, new Generator(3));
            using var trainer = new Trainer(model, new TrainerConfig(Steps: 12, WarmupSteps: 2, LogEvery: 1));
            return [.. trainer.Run(CountingTask(model, new Generator(4)), cancellation: TestContext.Current.CancellationToken).Select(p => p.TrainLoss)];
        }
        Assert.Equal(Curve(), Curve());
    }

    [Fact]
    public void Checkpoint_resumes_bit_identically()
    {
        var config = new TrainerConfig(Steps: 16, WarmupSteps: 4, LogEvery: 1);
        var path = Path.Combine(TestPaths.TempFolder(), "run.ckpt");

        // Given one uninterrupted run of 16 steps
        using var straightModel = new LanguageModel(Model, CPU, new Generator(5));
        using var straight = new Trainer(straightModel, config);
        var straightLog = straight.Run(CountingTask(straightModel, new Generator(6)), cancellation: TestContext.Current.CancellationToken);

        // And one run stopped after 8 steps, saved, and continued by a new model, trainer and data stream
        using (var firstModel = new LanguageModel(Model, CPU, new Generator(5)))
        using (var first = new Trainer(firstModel, config))
        {
            var data = new Generator(6);
            var task = CountingTask(firstModel, data);
            for (int i = 0; i < 8; i++) first.TrainStep(task);
            first.Save(path, data);
        }
        using var resumedModel = new LanguageModel(Model, CPU, new Generator(99));   // different init: the checkpoint must overwrite it
        using var resumed = new Trainer(resumedModel, config);
        var resumedData = new Generator(123);
        resumed.Load(path, resumedData);
        Assert.Equal(8, resumed.Step);
        var resumedLog = resumed.Run(CountingTask(resumedModel, resumedData), cancellation: TestContext.Current.CancellationToken);

        // Then the last 8 losses and the final weights are the same bits
        Assert.Equal(straightLog.Skip(8).Select(p => p.TrainLoss), resumedLog.Select(p => p.TrainLoss));
        Assert.Equal(straightLog[^1].Tokens, resumedLog[^1].Tokens);
        Assert.Equal(straightModel.parameters().SelectMany(Values), resumedModel.parameters().SelectMany(Values));
    }

    [Fact]
    public void A_checkpoint_from_before_the_one_model_file_is_refused_saying_why()
    {
        // A v1 file (the kit's format before Models/DeepSeekV3.cs renamed the parameters) must not load half-way.
        var path = Path.Combine(TestPaths.TempFolder(), "old.ckpt");
        using (var writer = new BinaryWriter(File.Create(path))) writer.Write("research-kit checkpoint v1");
        using var model = new LanguageModel(Model, CPU, new Generator(5));
        using var trainer = new Trainer(model, new TrainerConfig(Steps: 4, WarmupSteps: 0, LogEvery: 1));
        var before = model.parameters().SelectMany(Values).ToArray();
        var e = Assert.Throws<InvalidDataException>(() => trainer.Load(path));
        Assert.Contains("earlier kit (format v1)", e.Message);
        Assert.Contains("train again", e.Message);
        Assert.Equal(before, model.parameters().SelectMany(Values));
    }

    [Fact]
    public void Clipping_scales_the_global_gradient_norm_down_to_the_limit()
    {
        using var model = new LanguageModel(Model, CPU, new Generator(7));
        using var trainer = new Trainer(model, new TrainerConfig(Steps: 2, WarmupSteps: 0, GradientClip: 0.01, LogEvery: 1));
        var (_, norm, _) = trainer.TrainStep(CountingTask(model, new Generator(8)));
        // Gradients stay on the parameters until the next step's zero_grad.
        var clipped = Math.Sqrt(model.parameters().Sum(p => p.grad!.square().sum().item<float>()));
        Assert.True(norm > 0.01, $"unclipped norm {norm}");
        Assert.Equal(0.01, clipped, 1e-6);
    }

    [Fact]
    public void Weight_decay_shrinks_matrices_and_leaves_norm_gains_alone()
    {
        // With a zero loss every Adam moment is 0, so the only change is AdamW's decoupled decay: W ← W·(1 − lr·λ).
        using var model = new LanguageModel(Model, CPU, new Generator(9));
        var before = model.named_parameters().ToDictionary(p => p.name, p => Values(p.parameter));
        using var trainer = new Trainer(model, new TrainerConfig(Steps: 1, LearningRate: 0.1, WarmupSteps: 0, MinLearningRateRatio: 1, WeightDecay: 0.5, LogEvery: 1));
        trainer.TrainStep(_ => new StepLoss(stack(model.parameters().Select(p => p.sum())).sum() * 0, 1));
        foreach (var (name, p) in model.named_parameters())
        {
            var expected = before[name].Select(v => p.dim() >= 2 ? v * (1 - 0.1f * 0.5f) : v).ToArray();
            Assert.Equal(expected, Values(p), new FloatTolerance(1e-7f));
        }
    }

    [Fact]
    public void Without_clipping_the_reported_norm_is_the_gradients_own_norm()
    {
        // Given clipping off and a large loss whose gradient norm is far above 1
        using var model = new LanguageModel(Model, CPU, new Generator(12));
        using var trainer = new Trainer(model, new TrainerConfig(Steps: 1, WarmupSteps: 0, GradientClip: 0, LogEvery: 1));
        var task = CountingTask(model, new Generator(13));
        var (_, norm, _) = trainer.TrainStep(step =>
        {
            var s = task(step);
            return s with { Loss = s.Loss * 1000 };
        });

        // Then the norm is the L2 norm of the gradients left on the parameters, which were not scaled down
        var own = Math.Sqrt(model.parameters().Sum(p => (double)p.grad!.square().sum().item<float>()));
        Assert.True(norm > 1, $"norm {norm}");
        Assert.Equal(own, norm, own * 1e-5);
    }

    [Fact]
    public void A_given_schedule_and_decay_on_every_parameter_replace_the_defaults()
    {
        // With a zero loss the only change is AdamW's decay W ← W·(1 − lr·λ), here with lr from the given schedule
        using var model = new LanguageModel(Model, CPU, new Generator(14));
        var before = model.named_parameters().ToDictionary(p => p.name, p => Values(p.parameter));
        using var trainer = new Trainer(model, new TrainerConfig(Steps: 1, LearningRate: 0.1, WarmupSteps: 0, WeightDecay: 0.5, LogEvery: 1),
            learningRateAt: step => 0.2 * step, decayAllParameters: true);

        var (_, _, rate) = trainer.TrainStep(_ => new StepLoss(stack(model.parameters().Select(p => p.sum())).sum() * 0, 1));

        Assert.Equal(0.2, rate);
        foreach (var (name, p) in model.named_parameters())
            Assert.Equal(before[name].Select(v => v * (1 - 0.2f * 0.5f)).ToArray(), Values(p), new FloatTolerance(1e-7f));
    }

    [Fact]
    public void Metrics_csv_holds_one_row_per_logged_point()
    {
        var path = Path.Combine(TestPaths.TempFolder(), "metrics.csv");
        using var model = new LanguageModel(Model, CPU, new Generator(10));
        using var trainer = new Trainer(model, new TrainerConfig(Steps: 6, WarmupSteps: 1, LogEvery: 2));
        IReadOnlyList<LogPoint> log;
        using (var csv = new MetricsCsv(path))
            log = trainer.Run(CountingTask(model, new Generator(11)), evaluate: () => 1.5, onLog: csv.Append, cancellation: TestContext.Current.CancellationToken);
        var lines = File.ReadAllLines(path);
        Assert.Equal("step,train_loss,validation_loss,learning_rate,gradient_norm,tokens,seconds", lines[0]);
        Assert.Equal(4, lines.Length);
        var last = lines[^1].Split(',');
        Assert.Equal("6", last[0]);
        Assert.Equal(log[^1].TrainLoss, double.Parse(last[1], System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal("1.5", last[2]);
    }

    [Theory]
    [InlineData("Steps")]
    [InlineData("WarmupSteps")]
    [InlineData("LearningRate")]
    [InlineData("LogEvery")]
    public void Bad_trainer_configs_name_the_field(string field)
    {
        var c = new TrainerConfig(Steps: 10, WarmupSteps: 2, LogEvery: 5);
        c = field switch
        {
            "Steps" => c with { Steps = 0 },
            "WarmupSteps" => c with { WarmupSteps = 11 },
            "LearningRate" => c with { LearningRate = -1 },
            _ => c with { LogEvery = 0 },
        };
        var e = Assert.Throws<ConfigException>(() => c.Validated());
        Assert.Contains($"TrainerConfig.{field}", e.Message);
    }

    private sealed class FloatTolerance(float tolerance) : IEqualityComparer<float>
    {
        public bool Equals(float x, float y) => Math.Abs(x - y) <= tolerance * Math.Max(1, Math.Abs(x));
        public int GetHashCode(float obj) => 0;
    }
}

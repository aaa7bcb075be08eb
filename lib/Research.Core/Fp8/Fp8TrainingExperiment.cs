using System.Diagnostics;
using Research.Experiments;
using Research.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Research.Fp8;

/// <summary>
/// Config of <c>fp8-training</c>: one small classifier trained three times from the same seed (FP32, FP8 with
/// per-tensor scales, FP8 with V3's tiles and blocks) on a synthetic task with outlier tokens.
/// </summary>
/// <param name="Inputs">Input features d_in (two 1×128 tiles at the default).</param>
/// <param name="Hidden">Width of the two FP8 hidden layers (their weights are 2×2 blocks of 128×128).</param>
/// <param name="Classes">Output classes; the head stays FP32, as V3 keeps its output head (§3.3.1).</param>
/// <param name="TeacherHidden">Hidden width of the random teacher that defines the labels.</param>
/// <param name="TeacherScale">Multiplies the teacher's logits; smaller means noisier labels (higher entropy floor).</param>
/// <param name="OutlierTokenFraction">Fraction of examples (tokens) that carry massive activations.</param>
/// <param name="OutlierChannels">How many fixed input channels hold the massive value in those tokens.</param>
/// <param name="OutlierValue">The massive value: LLMs' "massive activations" sit in a few fixed channels of a few
/// tokens and are orders of magnitude above the rest. It carries no label information (the teacher ignores it).</param>
/// <param name="GradientFormat">Format of the output gradients in both FP8 runs: E4M3 (V3) or E5M2 (classic).</param>
/// <param name="TileSize">Columns per activation and gradient tile (V3: 128).</param>
/// <param name="BlockSize">Rows and columns per weight block (V3: 128).</param>
/// <param name="LearningRate">AdamW's peak rate, cosine-annealed to 0 over <paramref name="Steps"/>.</param>
/// <param name="LogEvery">Steps per point of the loss curves (training loss averaged over them; validation at each).</param>
public sealed record Fp8TrainingConfig(
    int Inputs = 256, int Hidden = 256, int Classes = 10, int TeacherHidden = 64, double TeacherScale = 4,
    int ValidationExamples = 2048,
    double OutlierTokenFraction = 1.0 / 64, int OutlierChannels = 2, double OutlierValue = 100000,
    string GradientFormat = "E4M3", int TileSize = 128, int BlockSize = 128,
    int Steps = 400, int BatchSize = 128, double LearningRate = 2e-3, double WeightDecay = 0.01, int LogEvery = 25) : IExperimentConfig<Fp8TrainingConfig>
{
    /// <summary>The seeds to run (JSON <c>seeds</c>); each is the root of every generator one run draws from.</summary>
    public IReadOnlyList<int> Seeds { get; init; } = [0];

    public Fp8TrainingConfig WithSeeds(IReadOnlyList<int> seeds) => this with { Seeds = seeds };

    public Fp8TrainingConfig Validated()
    {
        Range(Inputs, 1, 4096, nameof(Inputs));
        Range(Hidden, 1, 4096, nameof(Hidden));
        Range(Classes, 2, 1000, nameof(Classes));
        Range(TeacherHidden, 1, 4096, nameof(TeacherHidden));
        if (!(TeacherScale > 0 && TeacherScale <= 100))
            throw new ConfigException($"Fp8TrainingConfig.TeacherScale must be in (0, 100] (got {TeacherScale})");
        Range(ValidationExamples, 1, 1_000_000, nameof(ValidationExamples));
        if (!(OutlierTokenFraction >= 0 && OutlierTokenFraction <= 1))
            throw new ConfigException($"Fp8TrainingConfig.OutlierTokenFraction must be in 0..1 (got {OutlierTokenFraction})");
        Range(OutlierChannels, 0, Inputs, nameof(OutlierChannels), $"0..Inputs ({Inputs})");
        if (!(OutlierValue >= 0 && OutlierValue <= 1e6))
            throw new ConfigException($"Fp8TrainingConfig.OutlierValue must be in 0..1e6 (got {OutlierValue})");
        Fp8FormatNames.Parse(GradientFormat, "Fp8TrainingConfig.GradientFormat", Fp8TrainingRecipe.Formats);
        Range(TileSize, 1, 65536, nameof(TileSize));
        Range(BlockSize, 1, 65536, nameof(BlockSize));
        Range(Steps, 1, 1_000_000, nameof(Steps));
        Range(BatchSize, 1, 65536, nameof(BatchSize));
        if (!(LearningRate > 0 && LearningRate <= 1))
            throw new ConfigException($"Fp8TrainingConfig.LearningRate must be in (0, 1] (got {LearningRate})");
        if (!(WeightDecay >= 0 && WeightDecay <= 1))
            throw new ConfigException($"Fp8TrainingConfig.WeightDecay must be in 0..1 (got {WeightDecay})");
        Range(LogEvery, 1, Steps, nameof(LogEvery), $"1..Steps ({Steps})");
        return this;
    }

    /// <summary>The three runs, in the order tables and charts show them. Both FP8 runs use <see cref="GradientFormat"/>,
    /// so they differ only in scaling granularity.</summary>
    public IReadOnlyList<(string Name, Fp8TrainingRecipe Recipe)> Runs()
    {
        var perTensor = Fp8TrainingRecipe.PerTensor with { Gradient = GradientFormat };
        var fineGrained = Fp8TrainingRecipe.DeepSeekV3 with
        {
            Gradient = GradientFormat,
            Activations = new(Granularity.Tile, TileSize, BlockSize),
            Weights = new(Granularity.Block, TileSize, BlockSize),
            Gradients = new(Granularity.Tile, TileSize, BlockSize),
        };
        return [("FP32", Fp8TrainingRecipe.Fp32), ("FP8 per-tensor", perTensor), ("FP8 fine-grained", fineGrained)];
    }

    private static void Range(int value, int min, int max, string field, string? range = null)
    {
        if (value < min || value > max)
            throw new ConfigException($"Fp8TrainingConfig.{field} must be in {range ?? $"{min}..{max}"} (got {value})");
    }
}

/// <summary>Losses of one run at one point of the curve.</summary>
/// <param name="TrainLoss">Mean cross-entropy (nats) of the training batches since the previous point (each batch
/// is fresh data, scored before the step that learns from it).</param>
/// <param name="ValidationLoss">Cross-entropy on the whole validation set, with the run's own (FP8) forward pass.</param>
public sealed record LossPoint(int Step, double TrainLoss, double ValidationLoss);

/// <summary>One training run.</summary>
/// <param name="FinalTrainLoss">The last point's training loss.</param>
/// <param name="RelativeGap">(final training loss − FP32's) / FP32's; 0 for FP32 itself.</param>
/// <param name="RelativeValidationGap">The same for the final validation loss.</param>
public sealed record TrainingRun([property: Column("run")] string Name, string Recipe, [property: Column(Format = "F4")] double FinalTrainLoss,
    [property: Column(Format = "F4")] double FinalValidationLoss, [property: Column(Format = "P2")] double RelativeGap,
    [property: Column(Format = "P2")] double RelativeValidationGap, [property: Column(Format = "F1")] double Seconds, IReadOnlyList<LossPoint> Curve);

/// <summary>Result of <c>fp8-training</c>.</summary>
/// <param name="BayesLoss">Cross-entropy of the teacher's own probabilities on the validation set: the floor no model
/// can beat on average (labels are sampled from the teacher).</param>
public sealed record Fp8TrainingResult(double BayesLoss, IReadOnlyList<TrainingRun> Runs);

/// <summary>The classifier trained by <c>fp8-training</c>: two FP8 hidden layers and an FP32 head.</summary>
public sealed class Fp8Mlp : nn.Module<Tensor, Tensor>
{
    private readonly Models.Linear fc1;    // [d_in → hidden], FP8
    private readonly Models.Linear fc2;    // [hidden → hidden], FP8
    private readonly Models.Linear head;   // [hidden → classes], FP32 as V3's output head

    public Fp8Mlp(int inputs, int hidden, int classes, Fp8TrainingRecipe recipe, Device device, Generator generator) : base(nameof(Fp8Mlp))
    {
        // Every weight and bias uniform in ±1/√in (nn.Linear's bounds), drawn from the run's generator in this order.
        fc1 = new Models.Linear(inputs, hidden, device, recipe, hasBias: true, generator);
        fc2 = new Models.Linear(hidden, hidden, device, recipe, hasBias: true, generator);
        head = new Models.Linear(hidden, classes, device, hasBias: true, generator: generator);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)   // x: [B, d_in] → logits [B, classes]
    {
        using var scope = NewDisposeScope();
        var h = nn.functional.gelu(fc1.forward(x));   // [B, hidden]
        h = nn.functional.gelu(fc2.forward(h));       // [B, hidden]
        return head.forward(h).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// FP8 training at toy scale (V3 §3.3): does a model trained with all hidden-layer GEMMs in FP8 reach FP32's loss?
/// The data hold outlier tokens, so one per-tensor scale must stretch over values ~10⁵ apart while 1×128 tiles give
/// each token its own scale.
/// </summary>
public static class Fp8TrainingExperiment
{
    public const string Id = "fp8-training";

    /// <summary>
    /// The task: a random teacher p(y | z) = softmax(TeacherScale · V · tanh(U·z / √d_in)), U standard normal and V
    /// standard normal / √TeacherHidden, reads z ~ N(0, I) with the outlier channels zeroed; labels are sampled from
    /// it, so even the teacher has a loss (the Bayes loss). The student sees x = z, except that in a fraction
    /// OutlierTokenFraction of the examples the outlier channels hold +OutlierValue: large, label-free and fixed in
    /// position, like the massive activations of LLMs. Fresh examples are drawn for every batch (one epoch, as in
    /// LLM pre-training), so the training loss measures generalisation and no run can memorise its data.
    /// </summary>
    public sealed class Teacher
    {
        private readonly Fp8TrainingConfig config;
        private readonly Tensor channelMask;   // [d_in] true on the outlier channels
        private readonly Tensor u;             // [teacher hidden, d_in]
        private readonly Tensor v;             // [classes, teacher hidden]

        public Teacher(Fp8TrainingConfig config, Device device, Generator generator)
        {
            this.config = config;
            var channels = randperm(config.Inputs, generator: generator, device: device)[..config.OutlierChannels];
            channelMask = zeros(config.Inputs, dtype: ScalarType.Bool, device: device).index_fill_(0, channels, true);
            u = randn([config.TeacherHidden, config.Inputs], generator: generator, device: device);
            v = randn([config.Classes, config.TeacherHidden], generator: generator, device: device) / Math.Sqrt(config.TeacherHidden);
        }

        /// <summary>n examples: X [n, d_in], labels Y [n], and the teacher's log-probabilities [n, classes].</summary>
        public (Tensor X, Tensor Y, Tensor LogProbs) Sample(int n, Generator generator)
        {
            using var scope = NewDisposeScope();
            var z = randn([n, config.Inputs], generator: generator, device: u.device);                        // [n, d_in]
            var hidden = tanh(z.masked_fill(channelMask, 0).matmul(u.T) / Math.Sqrt(config.Inputs));           // [n, teacher hidden]
            var logProbs = (config.TeacherScale * hidden.matmul(v.T)).log_softmax(-1);                         // [n, C]
            var y = multinomial(logProbs.exp(), 1, generator: generator).squeeze(-1);                          // [n]
            var outlierTokens = rand([n], generator: generator, device: u.device) < config.OutlierTokenFraction; // [n]
            var x = where(outlierTokens.unsqueeze(1) & channelMask, (float)config.OutlierValue, z);             // [n, d_in]
            return (x.MoveToOuterDisposeScope(), y.MoveToOuterDisposeScope(), logProbs.MoveToOuterDisposeScope());
        }
    }

    /// <summary>Every seed of <paramref name="config"/>, then the comparisons over them (see <see cref="Experiment"/>).</summary>
    public static SeededResult<Fp8TrainingResult> Run(Fp8TrainingConfig config, Device device, IProgress<ExperimentProgress>? progress = null,
        CancellationToken cancellation = default) => Experiment.Run(config, device, progress, cancellation);

    /// <summary>Trains the three runs of <paramref name="config"/> and reports their loss curves and gaps.</summary>

    private static Fp8TrainingResult Train(Fp8TrainingConfig config, Device device, IProgress<ExperimentProgress>? progress,
        CancellationToken cancellation)
    {
        using var scope = NewDisposeScope();
        // Streams derived from the one seed: teacher and validation set, initial weights, training batches.
        var teacher = new Teacher(config, device, new Generator((ulong)Seeding.Stream(config.RunSeed(), 0), device));
        var validation = teacher.Sample(config.ValidationExamples, new Generator((ulong)Seeding.Stream(config.RunSeed(), 1), device));
        var bayes = nn.functional.nll_loss(validation.LogProbs, validation.Y).item<float>();
        var runs = config.Runs();
        var trained = new List<(string Name, Fp8TrainingRecipe Recipe, double Seconds, List<LossPoint> Curve)>();
        for (int r = 0; r < runs.Count; r++)
        {
            var (name, recipe) = runs[r];
            long start = Stopwatch.GetTimestamp();
            var curve = Train(config, recipe, teacher, (validation.X, validation.Y), device,
                ShiftedProgress.Create(progress, name, r * config.Steps, runs.Count * config.Steps), name, cancellation);
            trained.Add((name, recipe, Stopwatch.GetElapsedTime(start).TotalSeconds, curve));
        }
        progress?.Report(new ExperimentProgress("done", runs.Count * config.Steps, runs.Count * config.Steps));
        var reference = trained[0].Curve[^1];
        return new Fp8TrainingResult(bayes, trained.Select(t => new TrainingRun(
            t.Name, Describe(t.Recipe), t.Curve[^1].TrainLoss, t.Curve[^1].ValidationLoss,
            (t.Curve[^1].TrainLoss - reference.TrainLoss) / reference.TrainLoss,
            (t.Curve[^1].ValidationLoss - reference.ValidationLoss) / reference.ValidationLoss,
            t.Seconds, t.Curve)).ToList());
    }

    /// <summary>
    /// Trains one recipe on the kit's <see cref="Trainer"/>: AdamW on FP32 master weights. Initial weights and batches
    /// come from generators seeded from the config's seed, so every recipe starts from the same weights and sees the
    /// same batches.
    /// </summary>
    public static List<LossPoint> Train(Fp8TrainingConfig config, Fp8TrainingRecipe recipe, Teacher teacher, (Tensor X, Tensor Y) validation,
        Device device, IProgress<ExperimentProgress>? progress = null, string stage = "training", CancellationToken cancellation = default)
    {
        using var model = new Fp8Mlp(config.Inputs, config.Hidden, config.Classes, recipe, device, new Generator((ulong)Seeding.Stream(config.RunSeed(), 2), device));
        // torch's AdamW defaults (β₂ = 0.999, ε = 1e-8) with decay on every parameter and no clipping: the settings
        // this experiment has always used, so its curves did not move when it joined the shared loop.
        var training = new TrainerConfig(Steps: config.Steps, LearningRate: config.LearningRate, WarmupSteps: 0, MinLearningRateRatio: 0,
            WeightDecay: config.WeightDecay, Beta1: 0.9, Beta2: 0.999, Epsilon: 1e-8, GradientClip: 0, LogEvery: config.LogEvery);
        // CosineAnnealingLR over the run: the peak at step 1, decaying toward 0 after the last step, so the last steps
        // are small and final losses compare runs, not step noise.
        double RateAt(int step) => config.LearningRate * 0.5 * (1 + Math.Cos(Math.PI * (step - 1) / config.Steps));
        using var trainer = new Trainer(model, training, RateAt, decayAllParameters: true);
        var batches = new Generator((ulong)Seeding.Stream(config.RunSeed(), 3), device);
        var points = trainer.Run(_ =>
            {
                var (x, y, _) = teacher.Sample(config.BatchSize, batches);
                return new StepLoss(nn.functional.cross_entropy(model.forward(x), y), y.shape[0]);
            },
            () => Evaluate(model, validation.X, validation.Y, config.BatchSize), progress: progress, stage: stage, cancellation: cancellation);
        return [.. points.Select(p => new LossPoint(p.Step, p.TrainLoss, p.ValidationLoss!.Value))];
    }

    /// <summary>Mean cross-entropy of <paramref name="model"/> on (<paramref name="x"/>, <paramref name="y"/>), in batches, without gradients.</summary>
    public static double Evaluate(nn.Module<Tensor, Tensor> model, Tensor x, Tensor y, int batchSize)
    {
        using var noGrad = no_grad();
        int n = (int)y.shape[0];
        double sum = 0;
        for (int i = 0; i < n; i += batchSize)
        {
            using var scope = NewDisposeScope();
            int end = Math.Min(n, i + batchSize);
            var logits = model.forward(x[i..end]);
            sum += nn.functional.cross_entropy(logits, y[i..end], reduction: nn.Reduction.Sum).item<float>();
        }
        return sum / n;
    }

    private static string Describe(Fp8TrainingRecipe r) => !r.Enabled ? "no quantization"
        : $"x {r.Forward} {Describe(r.Activations)}, W {r.Forward} {Describe(r.Weights)}, dy {r.Gradient} {Describe(r.Gradients)}";

    private static string Describe(ScalingConfig s) => s.Granularity switch
    {
        Granularity.PerTensor => "per tensor",
        Granularity.PerRow => "per row",
        Granularity.Tile => $"1×{s.TileSize} tiles",
        Granularity.Block => $"{s.BlockSize}×{s.BlockSize} blocks",
        _ => s.Granularity.ToString(),
    };

    /// <summary>The experiment: default config from data/configs/fp8-training.json.</summary>
    public static Experiment<Fp8TrainingConfig, Fp8TrainingResult> Experiment { get; } = new(
        Id,
        "FP8 training: per-tensor vs fine-grained scaling",
        "The same classifier trained in FP32, in FP8 with one scale per tensor and in FP8 with V3's 1×128 tiles and " +
        "128×128 blocks (all hidden-layer GEMMs: Fprop, Dgrad, Wgrad), on synthetic data with outlier tokens.",
        (config, _, request) => Train(config, request.Device, request.Progress, request.Cancellation),
        (config, seeded) =>
        {
            var result = seeded.First;
            var summary = new List<string>
            {
                $"{config.Steps} steps of {config.BatchSize} fresh examples ({config.OutlierTokenFraction:P2} outlier tokens); Bayes loss {result.BayesLoss:F4} nats",
            };
            var finals = ResultTable.Of("final", result.Runs);
            var curves = ResultTable.Of("loss_curves", "run", result.Runs.SelectMany(r => r.Curve.Select(p => (r.Name, p))), display: false);
            return new ExperimentOutput(config, config.Seeds, result, summary, [finals, curves],
            [
                new NamedChart("training-loss", "Training loss by step", Fp8TrainingCharts.TrainingLoss(result)),
                new NamedChart("validation-loss", "Validation loss by step", Fp8TrainingCharts.ValidationLoss(result)),
            ]);
        },
        config => Metrics(config))
    {
        Cached = true,
    };

    public static ExperimentDefinition Definition => Experiment.Definition;

    /// <summary>The reference run every FP8 recipe is compared with.</summary>
    public const string Baseline = "FP32";

    /// <summary>
    /// The equivalence margin of the final validation loss, in nats: differences inside ±0.01 count as none (about 1 % of
    /// the losses this task reaches; V3 reports its FP8 loss within 0.25 % of BF16's at scale, a bar a toy run cannot resolve).
    /// </summary>
    public const double LossMargin = 0.01;

    /// <summary>
    /// Each FP8 recipe's final validation loss against FP32's, paired by seed. Only a non-finite loss counts as diverged:
    /// with outlier inputs of 10⁵ the losses start in the tens of nats, so no bound separates a slow run from a broken one.
    /// </summary>
    public static IReadOnlyList<ExperimentMetric<Fp8TrainingResult>> Metrics(Fp8TrainingConfig config) =>
    [
        new("final validation loss", Baseline, Statistics.Direction.Lower, r => r.Runs.Select(x => (x.Name, x.FinalValidationLoss)), LossMargin)
            { Source = "runs[name].finalValidationLoss (nats)" },
    ];
}

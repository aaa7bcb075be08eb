using System.Diagnostics;
using Research.Experiments;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Research.Training;

/// <summary>What a step function hands the trainer: the scalar loss to minimise and the tokens it was computed on.</summary>
public readonly record struct StepLoss(Tensor Loss, long Tokens);

/// <summary>One logged point of a run.</summary>
/// <param name="TrainLoss">Mean training loss of the steps since the previous point.</param>
/// <param name="ValidationLoss">The evaluation callback's value at this step, when one was given.</param>
/// <param name="LearningRate">The rate the last step used.</param>
/// <param name="GradientNorm">Global gradient L2 norm of the last step, before clipping.</param>
/// <param name="Tokens">Training tokens seen so far.</param>
/// <param name="Seconds">Wall time of the run so far (evaluations excluded), for tokens per second.</param>
public sealed record LogPoint(int Step, double TrainLoss, double? ValidationLoss, double LearningRate, double GradientNorm, long Tokens, double Seconds);

/// <summary>
/// The kit's one training loop. It owns the optimizer and the schedule, not the model or the data: each step asks a
/// step function for the loss of that step's batch, so distillation, MoE balancing and attention variants reuse it.
/// Every step runs in its own dispose scope, so a long run keeps a flat memory footprint.
/// </summary>
public sealed class Trainer : IDisposable
{
    // v2: the model's parameter names follow Models/DeepSeekV3.cs (layers.N.attn.wq, …); v1 files used the names before it.
    private const string CheckpointMagic = "research-kit checkpoint v2";
    private const string CheckpointV1 = "research-kit checkpoint v1";
    private readonly nn.Module _model;
    private readonly AdamW _optimizer;
    private readonly Parameter[] _parameters;
    private readonly Func<int, double> _learningRateAt;
    private long _tokens;
    private double _seconds;

    /// <param name="learningRateAt">The rate of each step (1-based); <see cref="TrainerConfig.LearningRateAt"/> when null.
    /// For a run that must keep another schedule's numbers, such as fp8-training's CosineAnnealingLR.</param>
    /// <param name="decayAllParameters">Decay norm gains and biases too, as AdamW over <c>model.parameters()</c> does;
    /// by default only matrices are decayed.</param>
    public Trainer(nn.Module model, TrainerConfig config, Func<int, double>? learningRateAt = null, bool decayAllParameters = false)
    {
        Config = config.Validated();
        _model = model;
        _learningRateAt = learningRateAt ?? Config.LearningRateAt;
        _parameters = [.. model.parameters().Where(p => p.requires_grad)];
        // Decay matrices only: shrinking norm gains or biases towards 0 regularises nothing useful (GPT-2/nanoGPT practice).
        AdamW.ParamGroup Group(IEnumerable<Parameter> ps, double decay) =>
            new(ps, config.LearningRate, config.Beta1, config.Beta2, config.Epsilon, decay, false, false);
        AdamW.ParamGroup[] groups = decayAllParameters
            ? [Group(_parameters, config.WeightDecay)]
            : [Group(_parameters.Where(p => p.dim() >= 2), config.WeightDecay), Group(_parameters.Where(p => p.dim() < 2), 0)];
        _optimizer = optim.AdamW(groups, config.LearningRate, config.Beta1, config.Beta2, config.Epsilon, config.WeightDecay);
    }

    public TrainerConfig Config { get; }

    /// <summary>Wall time spent inside <see cref="TrainStep"/> so far (evaluations excluded).</summary>
    public double TrainingSeconds => _seconds;

    /// <summary>Steps taken so far (restored by <see cref="Load"/>).</summary>
    public int Step { get; private set; }

    /// <summary>
    /// One optimizer step: <paramref name="lossAt"/>(step) builds the loss inside this step's dispose scope; then
    /// backward, clipping of the global norm (torch.nn.utils.clip_grad_norm_), the scheduled rate and AdamW. Returns (loss, gradient norm, rate).
    /// </summary>
    public (double Loss, double GradientNorm, double LearningRate) TrainStep(Func<int, StepLoss> lossAt)
    {
        if (Step >= Config.Steps) throw new InvalidOperationException($"Trainer: all {Config.Steps} steps of TrainerConfig.Steps are done");
        using var scope = NewDisposeScope();
        long start = Stopwatch.GetTimestamp();
        int step = Step + 1;
        _model.train();
        _optimizer.zero_grad();
        var (loss, tokens) = lossAt(step);
        if (loss.numel() != 1) throw new InvalidOperationException($"Trainer: the step function must return a scalar loss, got shape [{string.Join(", ", loss.shape)}]");
        loss.backward();
        // torch's clip_grad_norm_ returns the norm before clipping; an infinite bound scales by clamp(∞, max 1) = 1, so
        // the norm is still logged when clipping is off and the gradients stay exactly as they were.
        double norm = nn.utils.clip_grad_norm_(_parameters, Config.GradientClip > 0 ? Config.GradientClip : double.PositiveInfinity);
        double rate = _learningRateAt(step);
        foreach (var group in _optimizer.ParamGroups) group.LearningRate = rate;
        _optimizer.step();
        double value = loss.item<float>();
        Step = step;
        _tokens += tokens;
        _seconds += Stopwatch.GetElapsedTime(start).TotalSeconds;
        return (value, norm, rate);
    }

    /// <summary>
    /// Trains from the current step to <see cref="TrainerConfig.Steps"/>. Every <see cref="TrainerConfig.LogEvery"/>
    /// steps (and at the last) it logs a point, calling <paramref name="evaluate"/> for a validation loss when given.
    /// </summary>
    public IReadOnlyList<LogPoint> Run(Func<int, StepLoss> lossAt, Func<double>? evaluate = null, Action<LogPoint>? onLog = null,
        IProgress<ExperimentProgress>? progress = null, string stage = "training", CancellationToken cancellation = default)
    {
        var points = new List<LogPoint>();
        double window = 0;
        int windowSteps = 0;
        while (Step < Config.Steps)
        {
            cancellation.ThrowIfCancellationRequested();
            var (loss, norm, rate) = TrainStep(lossAt);
            window += loss;
            windowSteps++;
            if (Step % Config.LogEvery == 0 || Step == Config.Steps)
            {
                double? validation = null;
                if (evaluate is not null)
                {
                    _model.eval();
                    using var noGrad = no_grad();
                    validation = evaluate();
                }
                var point = new LogPoint(Step, window / windowSteps, validation, rate, norm, _tokens, _seconds);
                points.Add(point);
                onLog?.Invoke(point);
                window = 0;
                windowSteps = 0;
            }
            progress?.Report(new ExperimentProgress(stage, Step, Config.Steps));
        }
        return points;
    }

    /// <summary>
    /// Writes the model's weights, AdamW's moments and step counts, the trainer's step and the states of
    /// <paramref name="generators"/> (the data streams), so <see cref="Load"/> continues bit-identically.
    /// The file is written beside <paramref name="path"/> and renamed into place: a crash leaves the old one.
    /// </summary>
    public void Save(string path, params Generator[] generators)
    {
        AtomicFile.Write(path, partial =>
        {
            using var writer = new BinaryWriter(File.Create(partial));
            writer.Write(CheckpointMagic);
            writer.Write(Step);
            writer.Write(_tokens);
            writer.Write(_seconds);
            _model.save(writer);
            _optimizer.save_state_dict(writer);
            writer.Write(generators.Length);
            foreach (var g in generators)
            {
                using var state = g.get_state();
                state.Save(writer);
            }
        });
    }

    /// <summary>Restores what <see cref="Save"/> wrote into this trainer's model and optimizer and into <paramref name="generators"/>.</summary>
    public void Load(string path, params Generator[] generators)
    {
        using var reader = new BinaryReader(File.OpenRead(path));
        var magic = reader.ReadString();
        if (magic == CheckpointV1)
            throw new InvalidDataException($"'{path}' is a checkpoint of an earlier kit (format v1): its parameter names predate the one model file (Models/DeepSeekV3.cs), so it cannot be loaded; train again to write a v2 checkpoint");
        if (magic != CheckpointMagic) throw new InvalidDataException($"'{path}' is not a research-kit checkpoint (header '{magic}')");
        int step = reader.ReadInt32();
        if (step > Config.Steps)
            throw new InvalidDataException($"checkpoint '{path}' is at step {step}, beyond TrainerConfig.Steps ({Config.Steps})");
        long tokens = reader.ReadInt64();
        double seconds = reader.ReadDouble();
        _model.load(reader);
        _optimizer.load_state_dict(reader);
        int count = reader.ReadInt32();
        if (count != generators.Length)
            throw new InvalidDataException($"checkpoint '{path}' holds {count} generator states; {generators.Length} were passed");
        foreach (var g in generators)
        {
            using var state = Tensor.Load(reader);
            g.set_state(state);
        }
        (Step, _tokens, _seconds) = (step, tokens, seconds);
    }

    public void Dispose() => _optimizer.Dispose();
}

/// <summary>Writes a run's log points as CSV while it trains (one flushed row per point), so a long run can be watched.</summary>
public sealed class MetricsCsv : IDisposable
{
    private readonly StreamWriter _writer;

    // The columns and number formats of ResultTable, so this file and an experiment's loss_curves.csv read alike.
    public MetricsCsv(string path)
    {
        _writer = new StreamWriter(path) { AutoFlush = true };
        _writer.Write(ResultTable.Of("metrics", Array.Empty<LogPoint>()).ToCsv());
    }

    public void Append(LogPoint p) => _writer.WriteLine(string.Join(',', ResultTable.Of("metrics", [p]).CsvRows().Single()));

    public void Dispose() => _writer.Dispose();
}

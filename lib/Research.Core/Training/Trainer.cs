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
    private const string CheckpointMagic = "research-kit checkpoint v1";
    private readonly nn.Module _model;
    private readonly AdamW _optimizer;
    private readonly Parameter[] _parameters;
    private long _tokens;
    private double _seconds;

    public Trainer(nn.Module model, TrainerConfig config)
    {
        Config = config.Validated();
        _model = model;
        _parameters = [.. model.parameters().Where(p => p.requires_grad)];
        // Decay matrices only: shrinking norm gains or biases towards 0 regularises nothing useful (GPT-2/nanoGPT practice).
        AdamW.ParamGroup Group(IEnumerable<Parameter> ps, double decay) =>
            new(ps, config.LearningRate, config.Beta1, config.Beta2, config.Epsilon, decay, false, false);
        _optimizer = optim.AdamW(
            [Group(_parameters.Where(p => p.dim() >= 2), config.WeightDecay), Group(_parameters.Where(p => p.dim() < 2), 0)],
            config.LearningRate, config.Beta1, config.Beta2, config.Epsilon, config.WeightDecay);
    }

    public TrainerConfig Config { get; }

    /// <summary>Wall time spent inside <see cref="TrainStep"/> so far (evaluations excluded).</summary>
    public double TrainingSeconds => _seconds;

    /// <summary>Steps taken so far (restored by <see cref="Load"/>).</summary>
    public int Step { get; private set; }

    /// <summary>
    /// One optimizer step: <paramref name="lossAt"/>(step) builds the loss inside this step's dispose scope; then
    /// backward, clipping of the global norm, the scheduled rate and AdamW. Returns (loss, gradient norm, rate).
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
        double norm = GlobalNorm();
        if (Config.GradientClip > 0 && norm > Config.GradientClip)
        {
            using var noGrad = no_grad();
            foreach (var p in _parameters) p.grad?.mul_(Config.GradientClip / norm);
        }
        double rate = Config.LearningRateAt(step);
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

    private double GlobalNorm()
    {
        using var scope = NewDisposeScope();
        var squares = _parameters.Where(p => p.grad is not null).Select(p => p.grad!.square().sum()).ToList();
        return squares.Count == 0 ? 0 : stack(squares).sum().sqrt().item<float>();
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

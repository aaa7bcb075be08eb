using System.Diagnostics;
using Research.Data;
using Research.Distillation;
using Research.Experiments;
using Research.Models;
using Research.Training;
using static TorchSharp.torch;

namespace Research.Rl;

/// <summary>Held-out scores of a model at one point of a run.</summary>
/// <param name="PassAt1">Mean correctness of the k samples per problem (R1's pass@1).</param>
/// <param name="ConsAtK">Share of problems whose majority answer among the k samples is correct (R1's cons@k).</param>
/// <param name="ResponseLength">Mean tokens per response, EOS included.</param>
/// <param name="FormatShare">Share of responses the format rule accepts.</param>
/// <param name="ScratchpadShare">Share of responses that write a scratchpad inside the think markers.</param>
/// <param name="FaithfulShare">Share of the scratchpads written that are the problem's exact working (NaN when none is written).</param>
public sealed record EvalPoint(int Step, [property: Column("pass_at_1")] double PassAt1, double ConsAtK, double ResponseLength, double FormatShare, double ScratchpadShare,
    double FaithfulShare);

/// <summary>The rollouts and the update of one RL step.</summary>
/// <param name="Reward">Mean total reward of the step's responses.</param>
/// <param name="AccuracyReward">Mean accuracy reward (share correct).</param>
/// <param name="FormatReward">Mean format reward (share well formed).</param>
/// <param name="Kl">Mean k3 estimate of KL(π_θ ‖ π_ref) over the response tokens, before the step's first update.</param>
/// <param name="Entropy">Mean entropy of the policy's next-token distribution over the response tokens (nats).</param>
/// <param name="SilentGroups">Share of groups whose rewards were all equal (advantage 0: no signal).</param>
public sealed record RlStep(int Step, double Reward, double AccuracyReward, double FormatReward, double ResponseLength,
    double ScratchpadShare, double Kl, double Entropy, double SilentGroups, double SampleSeconds, double UpdateSeconds);

/// <summary>A sampled response as text, with what the rules made of it.</summary>
public sealed record SampleResponse(int Step, string Problem, string Response, double Reward, bool Correct);

/// <summary>How a quantity moved over the RL steps: the mean of the first and of the last tenth of the steps, and the
/// least-squares slope over all of them.</summary>
public sealed record Trend(double Start, double End, double SlopePerStep)
{
    /// <summary>The last tenth is above the first and the fitted slope is positive.</summary>
    public bool Rose => End > Start && SlopePerStep > 0;

    public static Trend Of(IReadOnlyList<RlStep> steps, Func<RlStep, double> value)
    {
        int tenth = Math.Max(1, steps.Count / 10);
        var x = steps.Select(s => (double)s.Step).ToArray();
        var y = steps.Select(value).ToArray();
        double slope = steps.Count < 2 ? 0 : MathNet.Numerics.Fit.Line(x, y).B;
        return new Trend(y.Take(tenth).Average(), y.TakeLast(tenth).Average(), slope);
    }
}

/// <summary>One trained model of the experiment; its headline scores are those of its last evaluation.</summary>
/// <param name="Name">grpo, dr-grpo, distilled, cold-start-grpo (or large-grpo, the distillation's teacher: cold start, then GRPO, as R1 was made).</param>
/// <param name="Updates">Optimizer steps on the small model (the matched budget), SFT and RL together.</param>
/// <param name="Steps">Per RL step (empty for the distilled run, which has no RL).</param>
/// <param name="Evaluations">Held-out scores along the run (step 0 is its starting model).</param>
public sealed record RunResult(string Name, long Parameters, int Updates, double Seconds, Trend? LengthTrend, Trend? ScratchpadTrend,
    IReadOnlyList<RlStep> Steps, IReadOnlyList<EvalPoint> Evaluations, IReadOnlyList<SampleResponse> Samples)
{
    /// <summary>Final held-out pass@1.</summary>
    public double PassAt1 => Evaluations[^1].PassAt1;
    /// <summary>Final held-out cons@k.</summary>
    public double ConsAtK => Evaluations[^1].ConsAtK;
    /// <summary>Final held-out mean response length.</summary>
    public double ResponseLength => Evaluations[^1].ResponseLength;
    public double FormatShare => Evaluations[^1].FormatShare;
    public double ScratchpadShare => Evaluations[^1].ScratchpadShare;
}

/// <summary>The base model every small run starts from, and its held-out <paramref name="Evaluation"/>.</summary>
public sealed record BaseResult(long Parameters, int PretrainingSteps, double Seconds, EvalPoint Evaluation)
{
    /// <summary>Held-out pass@1 (R1-Zero's starting point: weak, not zero).</summary>
    public double PassAt1 => Evaluation.PassAt1;
    public double ConsAtK => Evaluation.ConsAtK;
    public double ResponseLength => Evaluation.ResponseLength;
    public double FormatShare => Evaluation.FormatShare;
    public double ScratchpadShare => Evaluation.ScratchpadShare;
}

/// <summary>Result of <c>r1-zero</c>.</summary>
/// <param name="MemoryFirst">Process memory at the first RL step of the grpo run.</param>
/// <param name="MemoryLast">Process memory at its last RL step.</param>
public sealed record R1ZeroResult(BaseResult Base, BaseResult LargeBase, RunResult Teacher, IReadOnlyList<RunResult> Runs,
    MemorySample MemoryFirst, MemorySample MemoryLast);

/// <summary>
/// R1-Zero in miniature (R1 §2.2, §2.4): from one weak base model, reasoning by RL alone with rule-based rewards
/// (GRPO and Dr. GRPO), against distilling a larger GRPO-trained model into the small one (R1's finding: for small
/// models, distillation wins), and against a short SFT cold start followed by GRPO (R1's recipe).
/// </summary>
public static partial class R1ZeroExperiment
{
    public const string Id = "r1-zero";

    private const int SmallInitStream = 0, LargeInitStream = 1, PretrainStream = 2, ValidationStream = 3, PromptStream = 4,
        RolloutStream = 5, EvaluationStream = 6, ColdStartStream = 7, DistillPromptStream = 8, DistillSampleStream = 9, ColdStartBatchStream = 10;

    /// <summary>Every seed of <paramref name="config"/>, then the comparisons over them (see <see cref="Experiment"/>).</summary>
    public static SeededResult<R1ZeroResult> Run(R1ZeroConfig config, Device device, IProgress<ExperimentProgress>? progress = null,
        CancellationToken cancellation = default) => Experiment.Run(config, device, progress, cancellation);


    private static R1ZeroResult Train(R1ZeroConfig config, Device device, IProgress<ExperimentProgress>? progress, CancellationToken cancellation)
    {
        var task = new ReasoningTask(config.Task);
        var g = config.Grpo;
        var heldOut = task.Sample(config.Evaluation.Problems, Stream(config, ValidationStream));
        // One unit per pretraining or SFT step and per RL step of the five runs (the distilled run counts its updates ÷ μ).
        int total = config.Pretraining.Training.Steps + config.LargePretraining.Training.Steps + 5 * g.Steps + 2 * config.ColdStart.Steps;
        var tracker = new Tracker(progress, total, cancellation);

        using var small = new LanguageModel(config.Small, device, DeviceStream(config, SmallInitStream, device));
        var baseResult = Pretrain(config, config.Pretraining, task, small, heldOut, device, tracker, "base");
        using var large = new LanguageModel(config.Large, device, DeviceStream(config, LargeInitStream, device));
        var largeBase = Pretrain(config, config.LargePretraining, task, large, heldOut, device, tracker, "large base");

        MemorySample? first = null, last = null;
        var grpo = RunGrpo("grpo", config, g, task, small, null, heldOut, device, tracker, (step, steps) =>
        {
            if (step == 1) first = MemorySample.Now(step);
            if (step == steps) last = MemorySample.Now(step);
        });
        var drGrpo = RunGrpo("dr-grpo", config, g.AsDrGrpo(), task, small, null, heldOut, device, tracker);
        // The teacher is made as R1 was: a cold start on worked solutions, then GRPO. (Trained from its base by GRPO
        // alone, a larger model that can add without the scratchpad drops it, and its students learn no working.)
        var teacher = RunGrpo("large-grpo", config, g, task, large, ColdStartSft, heldOut, device, tracker, keep: true);
        var distilled = Distill(config, task, small, large, heldOut, device, tracker);
        var coldStart = RunGrpo("cold-start-grpo", config, g, task, small, ColdStartSft, heldOut, device, tracker);
        progress?.Report(new ExperimentProgress("done", total, total));
        return new R1ZeroResult(baseResult, largeBase, teacher, [grpo, drGrpo, distilled, coldStart], first!, last!);

        // The cold start: SFT on a fixed pool of correct scratchpad solutions (R1 §2.3.1), then the same GRPO.
        int ColdStartSft(LanguageModel policy)
        {
            var pool = task.Sample(config.ColdStartExamples, Stream(config, ColdStartStream));
            var batches = Stream(config, ColdStartBatchStream);
            using var trainer = new Trainer(policy, config.ColdStart);
            while (trainer.Step < config.ColdStart.Steps)
            {
                trainer.TrainStep(_ =>
                {
                    var index = randint(0, pool.Count, [config.Pretraining.BatchSize], generator: batches).data<long>().ToArray();
                    var rows = index.Select(i => pool[(int)i]).ToList();
                    using var batch = SftBatch(task, rows, [.. rows.Select(p => task.Solution(p, SolutionStyle.Scratchpad))], device);
                    return new StepLoss(LanguageModel.CrossEntropy(policy.forward(batch.Inputs), batch.Targets, batch.LossMask), batch.Inputs.numel());
                });
                tracker.Advance("cold-start sft");
            }
            return config.ColdStart.Steps;
        }
    }

    /// <summary>Trains <paramref name="model"/> into a base model as <paramref name="pretraining"/> says and scores it.</summary>
    private static BaseResult Pretrain(R1ZeroConfig config, PretrainConfig pretraining, ReasoningTask task, LanguageModel model,
        IReadOnlyList<ArithmeticProblem> heldOut, Device device, Tracker tracker, string stage)
    {
        double seconds = Pretrain(model, pretraining, task, Stream(config, PretrainStream), device, () => tracker.Advance(stage));
        return new BaseResult(model.ParameterCount, pretraining.Training.Steps, seconds,
            Evaluate(model, task, heldOut, config.Evaluation, EvaluationSeed(config), 0, device));
    }

    /// <summary>
    /// Makes a base model: next-token training on reference solutions of fresh problems from <paramref name="data"/>,
    /// each in a style drawn with the shares of <paramref name="pretraining"/>, the response tokens scored. Returns
    /// the training seconds.
    /// </summary>
    public static double Pretrain(LanguageModel model, PretrainConfig pretraining, ReasoningTask task, Generator data, Device device, Action? onStep = null)
    {
        pretraining.Validated();
        long start = Stopwatch.GetTimestamp();
        using var trainer = new Trainer(model, pretraining.Training);
        while (trainer.Step < pretraining.Training.Steps)
        {
            trainer.TrainStep(_ =>
            {
                var problems = task.Sample(pretraining.BatchSize, data);
                var styles = rand([pretraining.BatchSize], generator: data, dtype: ScalarType.Float64).data<double>().ToArray()
                    .Select(u => u < pretraining.ScratchpadShare ? SolutionStyle.Scratchpad
                        : u < pretraining.ScratchpadShare + pretraining.TemplateShare ? SolutionStyle.TemplateOnly : SolutionStyle.Bare).ToArray();
                using var batch = SftBatch(task, problems, [.. problems.Select((p, i) => task.Solution(p, styles[i]))], device);
                return new StepLoss(LanguageModel.CrossEntropy(model.forward(batch.Inputs), batch.Targets, batch.LossMask), batch.Inputs.numel());
            });
            onStep?.Invoke();
        }
        return Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

    /// <summary>
    /// GRPO from a copy of <paramref name="start"/> (which is left unchanged unless <paramref name="keep"/>), with the
    /// copy before RL as the frozen reference. <paramref name="before"/> may fine-tune the copy first (the cold start)
    /// and returns its optimizer steps.
    /// </summary>
    private static RunResult RunGrpo(string name, R1ZeroConfig config, GrpoConfig g, ReasoningTask task, LanguageModel start,
        Func<LanguageModel, int>? before, IReadOnlyList<ArithmeticProblem> heldOut, Device device, Tracker tracker,
        Action<int, int>? onStep = null, bool keep = false)
    {
        using var copy = keep ? null : Copy(start, device);
        var policy = copy ?? start;
        long begin = Stopwatch.GetTimestamp();
        int updates = before?.Invoke(policy) ?? 0;
        using var reference = g.Beta > 0 ? Copy(policy, device) : null;
        reference?.eval();
        var prompts = Stream(config, PromptStream);
        var rollouts = DeviceStream(config, RolloutStream, device);
        var steps = new List<RlStep>();
        var evaluations = new List<EvalPoint> { Evaluate(policy, task, heldOut, config.Evaluation, EvaluationSeed(config), 0, device) };
        var samples = new List<SampleResponse>();
        using var trainer = new Trainer(policy, TrainerConfig.Constant(g.Steps * g.PolicyUpdates, g.LearningRate));
        for (int step = 1; step <= g.Steps; step++)
        {
            tracker.Cancellation.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            var (point, shown) = Grpo.Step(policy, reference, trainer, g, task, task.Sample(g.PromptsPerStep, prompts), rollouts, step, device);
            steps.Add(point);
            if (step == 1 || step == g.Steps) samples.AddRange(shown);
            onStep?.Invoke(step, g.Steps);
            if (step % config.Evaluation.Every == 0 || step == g.Steps)
                evaluations.Add(Evaluate(policy, task, heldOut, config.Evaluation, EvaluationSeed(config), step, device));
            tracker.Advance(name);
        }
        return new RunResult(name, policy.ParameterCount, updates + g.Steps * g.PolicyUpdates, Stopwatch.GetElapsedTime(begin).TotalSeconds,
            Trend.Of(steps, s => s.ResponseLength), Trend.Of(steps, s => s.ScratchpadShare), steps, evaluations, samples);
    }

    /// <summary>
    /// R1's distillation at toy scale: the small base model fine-tuned on the large GRPO model's sampled solutions,
    /// kept only when correct (rejection sampling, R1 §2.3.3), at the small model's RL budget: Steps × μ updates of up
    /// to PromptsPerStep × G sequences each.
    /// </summary>
    private static RunResult Distill(R1ZeroConfig config, ReasoningTask task, LanguageModel small, LanguageModel teacher,
        IReadOnlyList<ArithmeticProblem> heldOut, Device device, Tracker tracker)
    {
        var g = config.Grpo;
        using var student = Copy(small, device);
        long begin = Stopwatch.GetTimestamp();
        var prompts = Stream(config, DistillPromptStream);
        var samples = DeviceStream(config, DistillSampleStream, device);
        var evaluations = new List<EvalPoint> { Evaluate(student, task, heldOut, config.Evaluation, EvaluationSeed(config), 0, device) };
        int updates = g.Steps * g.PolicyUpdates;
        using var trainer = new Trainer(student, TrainerConfig.Constant(updates, config.DistillationLearningRate));
        for (int update = 1; update <= updates; update++)
        {
            trainer.TrainStep(_ =>
            {
                var problems = task.Sample(g.PromptsPerStep, prompts);
                using var rollout = Sampler.Sample(teacher, task.Prompts(problems, device), g.GroupSize, config.Evaluation.SamplingOrDefault, samples);
                var read = task.ReadRows(problems, g.GroupSize, rollout.Tokens);
                var kept = Enumerable.Range(0, read.Readings.Length).Where(i => read.Readings[i].Correct).ToList();
                if (kept.Count == 0) kept = [.. Enumerable.Range(0, read.Readings.Length)];   // never an empty batch
                using var batch = SftBatch(task, [.. kept.Select(i => problems[i / g.GroupSize])], [.. kept.Select(read.Response)], device);
                return new StepLoss(LanguageModel.CrossEntropy(student.forward(batch.Inputs), batch.Targets, batch.LossMask), batch.Inputs.numel());
            });
            if (update % g.PolicyUpdates == 0)
            {
                int step = update / g.PolicyUpdates;
                if (step % config.Evaluation.Every == 0 || step == g.Steps)
                    evaluations.Add(Evaluate(student, task, heldOut, config.Evaluation, EvaluationSeed(config), step, device));
                tracker.Advance("distilled");
            }
        }
        return new RunResult("distilled", student.ParameterCount, updates, Stopwatch.GetElapsedTime(begin).TotalSeconds, null, null, [], evaluations, []);
    }

    /// <summary>
    /// pass@1 and cons@k on the held-out problems: k samples each at the evaluation's temperature and top-p.
    /// </summary>
    /// <param name="seed">Seeds a fresh generator per call, so every evaluation, of every run, draws with the same randomness.</param>
    public static EvalPoint Evaluate(LanguageModel model, ReasoningTask task, IReadOnlyList<ArithmeticProblem> problems, EvaluationConfig evaluation,
        ulong seed, int step, Device device)
    {
        using var scope = NewDisposeScope();
        int k = evaluation.Samples;
        using var draws = new Generator(seed, device);
        using var rollout = Sampler.Sample(model, task.Prompts(problems, device), k, evaluation.SamplingOrDefault, draws);
        var readings = task.ReadRows(problems, k, rollout.Tokens).Readings;
        int consensus = 0;
        for (int p = 0; p < problems.Count; p++)
        {
            var vote = readings.Skip(p * k).Take(k).Where(r => r.Answer is not null).GroupBy(r => r.Answer)
                .OrderByDescending(group => group.Count()).FirstOrDefault();
            if (vote is not null && vote.Key == problems[p].Sum) consensus++;
        }
        var written = readings.Where(r => r.UsesScratchpad).ToList();
        return new EvalPoint(step, readings.Average(r => r.Correct ? 1.0 : 0), (double)consensus / problems.Count,
            readings.Average(r => (double)r.Length), readings.Average(r => r.WellFormed ? 1.0 : 0), readings.Average(r => r.UsesScratchpad ? 1.0 : 0),
            written.Count == 0 ? double.NaN : written.Average(r => r.FaithfulScratchpad ? 1.0 : 0));
    }

    /// <summary>A next-token batch of the problems' prompts followed by <paramref name="responses"/>, scored on the responses.</summary>
    public static LmBatch SftBatch(ReasoningTask task, IReadOnlyList<ArithmeticProblem> problems, IReadOnlyList<long[]> responses, Device device) =>
        LmBatch.PromptsAndResponses([.. problems.Select(task.PromptTokens)], responses, ArithmeticVocabulary.Pad, device);

    private static LanguageModel Copy(LanguageModel model, Device device)
    {
        var copy = new LanguageModel(model.Config, device, new Generator(0, device));
        using (no_grad())
            foreach (var (target, source) in copy.parameters().Zip(model.parameters())) target.copy_(source);
        return copy;
    }

    private static Generator Stream(R1ZeroConfig config, int offset) => new((ulong)Seeding.Stream(config.RunSeed(), offset));

    private static ulong EvaluationSeed(R1ZeroConfig config) => (ulong)Seeding.Stream(config.RunSeed(), EvaluationStream);

    private static Generator DeviceStream(R1ZeroConfig config, int offset, Device device) => new((ulong)Seeding.Stream(config.RunSeed(), offset), device);

    // Progress over the whole run, one unit per SFT update or RL step.
    private sealed class Tracker(IProgress<ExperimentProgress>? progress, int total, CancellationToken cancellation)
    {
        private int done;
        public CancellationToken Cancellation => cancellation;

        public void Advance(string stage)
        {
            cancellation.ThrowIfCancellationRequested();
            progress?.Report(new ExperimentProgress(stage, Math.Min(++done, total), total));
        }
    }
}

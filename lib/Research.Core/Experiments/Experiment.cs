using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Serialization;
using Research.Statistics;
using Research.Sweeps;
using TorchSharp;

namespace Research.Experiments;

/// <summary>
/// One metric an experiment compares across its arms, seed by seed: <see cref="Values"/> reads each arm's value out of one
/// seed's result; every arm but <see cref="Baseline"/> is compared with it by paired differences over the seeds.
/// </summary>
/// <param name="Name">The metric as tables name it ("validation loss").</param>
/// <param name="Margin">The equivalence margin Δ, in the metric's units, declared with the experiment (not after a run).</param>
/// <param name="DivergedAbove">A value beyond this bound counts as a diverged run (for a loss: above it; for a
/// higher-is-better metric: below it), like NaN: left out and counted. Null: only NaN and ±∞ diverge.</param>
public sealed record ExperimentMetric<TResult>(string Name, string Baseline, Direction Direction,
    Func<TResult, IEnumerable<(string Arm, double Value)>> Values, double? Margin = null, double? DivergedAbove = null)
{
    /// <summary>Where the value comes from, for people (shown as the metric's path in tables and JSON).</summary>
    public string Source { get; init; } = "";

    /// <summary>For an accuracy-type metric (pass@1, exact match, draft acceptance), the trials each seed scores: the output then gives each
    /// arm's binomial standard error over trials (problems, or draft checks) × seeds. Null for other metrics.</summary>
    public int? Trials { get; init; }
}

/// <summary>One seed's result.</summary>
public sealed record SeedRun<TResult>(int Seed, TResult Result);

/// <summary>
/// What running an experiment over its seeds gives: every seed's own result and, per metric, the paired comparison of
/// its arms over the seeds (<see cref="SeedComparison"/>). An experiment that draws nothing at random runs once:
/// <see cref="Seeds"/> is empty and its one run carries seed 0.
/// </summary>
public sealed record SeededResult<TResult>(IReadOnlyList<int> Seeds, IReadOnlyList<SeedRun<TResult>> PerSeed,
    IReadOnlyList<MetricReport> Comparisons, double Seconds)
{
    /// <summary>The first seed's result: what a notebook shows as "this run".</summary>
    [JsonIgnore]
    public TResult First => PerSeed[0].Result;

    /// <summary>The comparison of metric <paramref name="name"/>; an unknown name is an error naming the known ones.</summary>
    public MetricReport Comparison(string name) => Comparisons.Named(name, "this result");
}

/// <summary>
/// An experiment: what one seed runs (<c>runSeed</c>), which metrics it compares across its arms, and how a run reads to a
/// person (<c>output</c>). Seeds are handled here and nowhere else: a config lists its <c>seeds</c>, each seed runs the
/// whole experiment once with that seed as the root of every generator it draws from, and the metrics' paired
/// comparisons are made over the seeds (paired t, Holm across a metric's arms, TOST against the declared margin).
/// </summary>
public sealed class Experiment<TConfig, TResult> where TConfig : IExperimentConfig<TConfig> where TResult : notnull
{
    private readonly Func<TConfig, int, ExperimentRequest, TResult> _runSeed;
    private readonly Func<TConfig, SeededResult<TResult>, ExperimentOutput> _output;
    private readonly Func<TConfig, IReadOnlyList<ExperimentMetric<TResult>>> _metrics;

    /// <param name="runSeed">Runs the experiment at one seed; receives the config with only that seed in its list.</param>
    /// <param name="output">Summary lines, tables and charts of a run; the comparisons' tables and lines are added after them.</param>
    /// <param name="metrics">The metrics compared across arms for a config (none: the experiment compares nothing).</param>
    public Experiment(string id, string title, string description, Func<TConfig, int, ExperimentRequest, TResult> runSeed,
        Func<TConfig, SeededResult<TResult>, ExperimentOutput> output, Func<TConfig, IReadOnlyList<ExperimentMetric<TResult>>>? metrics = null)
    {
        (Id, Title, Description, _runSeed, _output) = (id, title, description, runSeed, output);
        _metrics = metrics ?? (_ => []);
        Definition = new ExperimentDefinition(id, title, description, RunRequest)
        {
            Schema = ExperimentSchema.Of<TConfig, TResult>(c => c.Validated()),
            Resolve = request => Resolve(request),
            RunSeedJson = (config, seed, request) =>
                System.Text.Json.JsonSerializer.SerializeToNode(RunSeed(FromJson(config), seed, request), ExperimentConfigs.Json)!,
            CompareJson = (config, runs) => Compare(FromJson(config),
                [.. runs.Select(r => new SeedRun<TResult>(r.Seed, r.Result.Deserialize<TResult>(ExperimentConfigs.Json)!))]),
        };
    }

    public string Id { get; }

    public string Title { get; }

    public string Description { get; }

    /// <summary>
    /// Whether a seed's result may come from <see cref="ResultCache"/> (when the cache is on): for the experiments that
    /// train models, whose results the reproduce test and the notebooks share.
    /// </summary>
    public bool Cached { get; init; }

    /// <summary>The catalog's entry: the CLI, <c>reproduce</c>, sweeps and notebooks run it by id.</summary>
    public ExperimentDefinition Definition { get; }

    /// <summary>The metrics compared for <paramref name="config"/>.</summary>
    public IReadOnlyList<ExperimentMetric<TResult>> Metrics(TConfig config) => _metrics(config);

    /// <summary>The config checked: its fields (<see cref="IExperimentConfig{TSelf}.Validated"/>) and its seeds.</summary>
    public TConfig Checked(TConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var owner = typeof(TConfig).Name;
        ExperimentConfigs.CheckSeeds(owner, config.Seeds);
        if (config.Seeds.Count == 0 && config.WithSeeds([0]).Seeds.Count > 0)
            throw new ConfigException($"{owner}.Seeds must list at least one seed, e.g. [0]");
        return config.Validated();
    }

    /// <summary>
    /// The experiment at one seed. For a <see cref="Cached"/> experiment with the result cache on, a result already computed
    /// for the same config, seed, kit and libraries is read back instead.
    /// </summary>
    public TResult RunSeed(TConfig config, int seed, torch.Device device, IProgress<ExperimentProgress>? progress = null,
        CancellationToken cancellation = default) =>
        RunSeed(config, seed, new ExperimentRequest(device, Progress: progress, Cancellation: cancellation));

    /// <summary><see cref="RunSeed(TConfig, int, torch.Device, IProgress{ExperimentProgress}?, CancellationToken)"/> with a whole request (its cache folder too).</summary>
    public TResult RunSeed(TConfig config, int seed, ExperimentRequest request)
    {
        if (seed < 0) throw new ArgumentOutOfRangeException(nameof(seed), seed, $"{Id}: a seed must be ≥ 0");
        return RunChecked(Checked(config.WithSeeds([seed])), seed, request);
    }

    // One seed of a config already checked whose seeds list is that seed alone.
    private TResult RunChecked(TConfig single, int seed, ExperimentRequest request) =>
        Cached ? ResultCache.Through(Id, single, request.Device, () => _runSeed(single, seed, request)) : _runSeed(single, seed, request);

    /// <summary>Every seed of <paramref name="config"/>, then the comparisons over them.</summary>
    public SeededResult<TResult> Run(TConfig config, torch.Device device, IProgress<ExperimentProgress>? progress = null,
        CancellationToken cancellation = default) =>
        Run(config, new ExperimentRequest(device, Progress: progress, Cancellation: cancellation));

    /// <summary>Every seed of <paramref name="config"/> with a whole request, then the comparisons over them.</summary>
    public SeededResult<TResult> Run(TConfig config, ExperimentRequest request) => RunChecked(Checked(config), request);

    // Every seed of a config already checked: a seed of a checked list needs no second check.
    private SeededResult<TResult> RunChecked(TConfig config, ExperimentRequest request)
    {
        var watch = Stopwatch.StartNew();
        var seeds = config.Seeds;
        var runs = new List<SeedRun<TResult>>();
        if (seeds.Count == 0)
            runs.Add(new SeedRun<TResult>(0, _runSeed(config, 0, request)));   // draws nothing at random: seeds mean nothing
        foreach (int seed in seeds)
        {
            request.Cancellation.ThrowIfCancellationRequested();
            var progress = seeds.Count == 1 || request.Progress is null ? request.Progress
                : new Progress(request.Progress, $"seed {seed} ({runs.Count + 1} of {seeds.Count})");
            runs.Add(new SeedRun<TResult>(seed, RunChecked(config.WithSeeds([seed]), seed, request with { Progress = progress })));
        }
        return new SeededResult<TResult>(seeds, runs, Compare(config, runs), watch.Elapsed.TotalSeconds);
    }

    /// <summary>The metrics' comparisons over <paramref name="runs"/> (one result per seed).</summary>
    /// <param name="bootstrap">Whether to add the percentile-bootstrap intervals (reported only: verdicts are the same without).</param>
    public IReadOnlyList<MetricReport> Compare(TConfig config, IReadOnlyList<SeedRun<TResult>> runs, bool bootstrap = true)
    {
        var reports = new List<MetricReport>();
        foreach (var metric in Metrics(config))
        {
            var values = new Dictionary<string, SortedDictionary<int, double>>();
            var arms = new List<string>();
            foreach (var run in runs)
                foreach (var (arm, value) in metric.Values(run.Result))
                {
                    if (!values.TryGetValue(arm, out var bySeed)) { values[arm] = bySeed = []; arms.Add(arm); }
                    bySeed[run.Seed] = value;
                }
            // A config that leaves the baseline out (one arm alone, as a sweep cell runs it) has nothing to compare.
            if (!values.ContainsKey(metric.Baseline) || arms.Count < 2) continue;
            arms.Remove(metric.Baseline);
            arms.Insert(0, metric.Baseline);
            reports.Add(SeedComparison.Build(metric.Name, metric.Source, metric.Direction, metric.Margin, metric.DivergedAbove,
                arms, metric.Baseline, values, runs.Count, bootstrap: bootstrap, trialsPerSeed: metric.Trials));
        }
        return reports;
    }

    /// <summary>The output of a run: the experiment's own lines, tables and charts, then one table and lines per comparison.</summary>
    public ExperimentOutput Output(TConfig config, SeededResult<TResult> result)
    {
        var own = _output(config, result);
        var summary = own.Summary.ToList();
        var tables = own.Tables.ToList();
        var charts = own.Charts.ToList();
        if (result.PerSeed.Count > 1)
            summary.Add($"Every seed's result is in result.json; tables and charts that do not name a seed show seed {result.PerSeed[0].Seed}.");
        if (result.Comparisons.Count > 0)
        {
            summary.AddRange(ComparisonOutput.Preamble(result.Seeds));
            if (result.Seeds.Count < ComparisonOutput.RecommendedSeeds && References.Of(Id, config) is { } reference)
                summary.Add($"The kit's reference results of this config hold {reference.Seeds.Count} seeds ({References.SeedRange(reference.Seeds)}): " +
                            $"research results show data/results/{Id}/{reference.Name}.json");
        }
        foreach (var metric in result.Comparisons)
        {
            summary.AddRange(ComparisonOutput.Lines(metric));
            tables.Add(ComparisonOutput.Table(metric));
            if (result.Seeds.Count > 1)
                charts.Add(new NamedChart(ComparisonOutput.ChartName(metric), $"{metric.Name}: every seed and each arm's interval", SweepCharts.Arms(metric)));
        }
        return own with { Seeds = result.Seeds, Result = result, Summary = summary, Tables = tables, Charts = charts };
    }

    private static TConfig FromJson(System.Text.Json.Nodes.JsonObject config) =>
        config.Deserialize<TConfig>(ExperimentConfigs.StrictRead) ?? throw new ConfigException($"{typeof(TConfig).Name}: the config is null");

    /// <summary>The checked config a request runs: the embedded default, the workshop size or a file, then <c>--seed</c> or <c>--seeds</c>.</summary>
    public TConfig Resolve(ExperimentRequest request)
    {
        var config = ExperimentConfigs.Load<TConfig>(Id, request.ConfigPath, request.Workshop);
        if (request.SeedList is { } seeds) config = config.WithSeeds(seeds);
        return Checked(config);
    }

    private ExperimentOutput RunRequest(ExperimentRequest request)
    {
        var config = Resolve(request);
        return Output(config, RunChecked(config, request));
    }

    private sealed class Progress(IProgress<ExperimentProgress> inner, string prefix) : IProgress<ExperimentProgress>
    {
        public void Report(ExperimentProgress value) => inner.Report(value with { Stage = $"{prefix}: {value.Stage}" });
    }
}

using Plotly.NET;
using TorchSharp;

namespace Research.Experiments;

/// <summary>How far a run has got: <paramref name="Done"/> of <paramref name="Total"/> steps of <paramref name="Stage"/>.</summary>
public sealed record ExperimentProgress(string Stage, int Done, int Total);

/// <summary>What the caller chooses for one run; everything else comes from the experiment's config.</summary>
/// <param name="Device">Where tensors live; only the CLI and notebooks pick it.</param>
/// <param name="Seed">Overrides the config's seed when set.</param>
/// <param name="ConfigPath">A JSON config file replacing the embedded default (data/configs/&lt;id&gt;.json).</param>
/// <param name="CacheFolder">Where an experiment may keep expensive intermediate results between runs (a trained
/// teacher); the CLI uses &lt;out&gt;/cache. Null: nothing is cached.</param>
/// <param name="Workshop">Use the experiment's workshop-sized config (data/configs/workshop/) where it has one,
/// instead of its default; ignored with <paramref name="ConfigPath"/>.</param>
public sealed record ExperimentRequest(
    torch.Device Device,
    int? Seed = null,
    string? ConfigPath = null,
    string? CacheFolder = null,
    IProgress<ExperimentProgress>? Progress = null,
    CancellationToken Cancellation = default,
    bool Workshop = false);

/// <summary>A chart with a file-safe name and a title for the index page.</summary>
public sealed record NamedChart(string Name, string Title, GenericChart Chart);

/// <summary>
/// Everything one run produced. <paramref name="Config"/> and <paramref name="Result"/> are plain records
/// (serialised to JSON as they are); <paramref name="Summary"/> holds the sentences a person reads (headline,
/// comparisons, the paper's numbers) and <paramref name="Tables"/> the rows, printed as tables.
/// </summary>
public sealed record ExperimentOutput(
    object Config,
    int Seed,
    object Result,
    IReadOnlyList<string> Summary,
    IReadOnlyList<ResultTable> Tables,
    IReadOnlyList<NamedChart> Charts);

/// <summary>An experiment the CLI, <c>reproduce</c> and notebooks can run by id.</summary>
/// <param name="Id">Kebab-case id used on the command line and as the output folder name.</param>
/// <param name="Run">Runs the experiment: config, runner and chart builders, nothing else.</param>
public sealed record ExperimentDefinition(string Id, string Title, string Description, Func<ExperimentRequest, ExperimentOutput> Run)
{
    /// <summary>The types of its config and result: what <c>research sweep</c> checks patches and metric paths against.</summary>
    public ExperimentSchema? Schema { get; init; }

    /// <summary>
    /// The one way an experiment is run by id: its config from the request (embedded default, workshop size or a file),
    /// <c>--seed</c> applied, checked, then <paramref name="run"/> and <paramref name="output"/>.
    /// </summary>
    public static ExperimentDefinition Of<TConfig, TResult>(string id, string title, string description,
        Func<TConfig, ExperimentRequest, TResult> run, Func<TConfig, TResult, ExperimentOutput> output)
        where TConfig : IExperimentConfig<TConfig> where TResult : notnull =>
        new(id, title, description, request =>
        {
            var config = ExperimentConfigs.Load<TConfig>(id, request.ConfigPath, request.Workshop);
            if (request.Seed is int seed) config = config.WithSeed(seed);
            config = config.Validated();
            return output(config, run(config, request));
        })
        { Schema = ExperimentSchema.Of<TConfig, TResult>(c => c.Validated()) };
}

/// <summary>What the registry needs of an experiment's config: a copy with another seed, and its checks.</summary>
public interface IExperimentConfig<TSelf> where TSelf : IExperimentConfig<TSelf>
{
    /// <summary>This config with <paramref name="seed"/> as the run's seed (a config that draws nothing at random returns itself).</summary>
    TSelf WithSeed(int seed);

    /// <summary>This config, or a <see cref="ConfigException"/> naming the field that is out of range.</summary>
    TSelf Validated();
}

/// <summary>
/// An experiment's config and result types, and its config check. Sweeps resolve configs as JSON; this lets them refuse a
/// patch naming a field the config does not have, or a metric the result cannot hold, before anything runs.
/// </summary>
public sealed record ExperimentSchema(Type ConfigType, Type ResultType, Func<object, object> Validate)
{
    public static ExperimentSchema Of<TConfig, TResult>(Func<TConfig, TConfig> validate) where TConfig : notnull =>
        new(typeof(TConfig), typeof(TResult), config => validate((TConfig)config));
}

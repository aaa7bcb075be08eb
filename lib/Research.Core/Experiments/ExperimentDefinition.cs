using Plotly.NET;
using TorchSharp;

namespace Research.Experiments;

/// <summary>How far a run has got: <paramref name="Done"/> of <paramref name="Total"/> steps of <paramref name="Stage"/>.</summary>
public sealed record ExperimentProgress(string Stage, int Done, int Total);

/// <summary>What the caller chooses for one run; everything else comes from the experiment's config.</summary>
/// <param name="Device">Where tensors live; only the CLI and notebooks pick it.</param>
/// <param name="Seed">Runs this one seed instead of the config's seeds (<c>--seed</c>).</param>
/// <param name="Seeds">Runs these seeds instead of the config's (<c>--seeds</c>); not together with <paramref name="Seed"/>.</param>
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
    bool Workshop = false,
    IReadOnlyList<int>? Seeds = null)
{
    /// <summary>The seeds the caller asked for, or null for the config's own.</summary>
    public IReadOnlyList<int>? SeedList => (Seed, Seeds) switch
    {
        (int, not null) => throw new ArgumentException("give --seed or --seeds, not both"),
        (int one, null) => [one],
        (null, var many) => many,
    };
}

/// <summary>A chart with a file-safe name and a title for the index page.</summary>
public sealed record NamedChart(string Name, string Title, GenericChart Chart);

/// <summary>
/// Everything one run produced. <paramref name="Config"/> and <paramref name="Result"/> are plain records
/// (serialised to JSON as they are); <paramref name="Summary"/> holds the sentences a person reads (headline,
/// comparisons, the paper's numbers) and <paramref name="Tables"/> the rows, printed as tables.
/// </summary>
/// <param name="Seeds">The seeds it ran (empty for an experiment that draws nothing at random).</param>
public sealed record ExperimentOutput(
    object Config,
    IReadOnlyList<int> Seeds,
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

    /// <summary>The checked config a request would run (its seeds included), without running it.</summary>
    public Func<ExperimentRequest, object>? Resolve { get; init; }

    /// <summary>One seed of a config given as JSON, its result as JSON (what a reference's verification re-runs).</summary>
    public Func<System.Text.Json.Nodes.JsonObject, int, ExperimentRequest, System.Text.Json.Nodes.JsonNode>? RunSeedJson { get; init; }

    /// <summary>The experiment's comparisons over per-seed results given as JSON (what a reference is built from).</summary>
    public Func<System.Text.Json.Nodes.JsonObject, IReadOnlyList<(int Seed, System.Text.Json.Nodes.JsonNode Result)>, IReadOnlyList<Statistics.MetricReport>>? CompareJson { get; init; }
}

/// <summary>What <see cref="Experiment{TConfig, TResult}"/> needs of a config: its seeds, a copy with others, and its checks.</summary>
public interface IExperimentConfig<TSelf> where TSelf : IExperimentConfig<TSelf>
{
    /// <summary>
    /// The seeds to run, each the root of every generator one run draws from (init, data, sampling); JSON <c>seeds</c>.
    /// Empty for a config that draws nothing at random.
    /// </summary>
    IReadOnlyList<int> Seeds { get; }

    /// <summary>This config with <paramref name="seeds"/> (a config that draws nothing at random returns itself).</summary>
    TSelf WithSeeds(IReadOnlyList<int> seeds);

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

/// <summary>The seed rule every experiment follows.</summary>
public static class Seeding
{
    /// <summary>Streams per run: one run's generators are <c>seed × 32 + stream</c>, so the streams of two seeds never meet.</summary>
    public const int StreamsPerSeed = 32;

    /// <summary>
    /// The seed of a per-seed run. <see cref="Experiment{TConfig, TResult}"/> hands each run a config whose seeds list is
    /// that one seed; anything else is a programming error.
    /// </summary>
    public static int RunSeed<T>(this T config) where T : IExperimentConfig<T> =>
        config.Seeds is [var seed] ? seed
            : throw new InvalidOperationException($"{typeof(T).Name}: a per-seed run needs exactly one seed (got [{string.Join(", ", config.Seeds)}])");

    /// <summary>
    /// The generator seed of <paramref name="stream"/> (0..31: init, data, validation, sampling, … as each experiment names
    /// them) in the run of <paramref name="seed"/>: seed × 32 + stream. Seed 0's streams are 0, 1, 2, …, the offsets the
    /// kit used before the rule, so seed 0's numbers did not change when it came in.
    /// </summary>
    public static long Stream(int seed, int stream)
    {
        if (stream is < 0 or >= StreamsPerSeed)
            throw new ArgumentOutOfRangeException(nameof(stream), stream, $"a stream must be in 0..{StreamsPerSeed - 1}");
        return seed * (long)StreamsPerSeed + stream;
    }
}

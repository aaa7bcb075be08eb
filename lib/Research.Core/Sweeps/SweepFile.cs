using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Research.Experiments;
using Research.Statistics;

namespace Research.Sweeps;

/// <summary>
/// A sweep file as written (data/sweeps/*.json): one experiment, a base config, the seeds every arm runs, the arms as
/// JSON merge patches on the base (or a grid of config paths × values), the baseline arm and the metrics to compare.
/// </summary>
/// <param name="Name">Names the sweep (default: the file's name); a directory planned from another sweep is refused.</param>
/// <param name="Base"><c>default</c>, <c>workshop</c> or a config file (relative to the sweep file).</param>
/// <param name="Seeds">A list of seeds, or a count n meaning 0..n−1.</param>
/// <param name="Patch">A merge patch applied to the base before each arm's: what every arm shares.</param>
/// <param name="Grid">Config paths (<c>router.topK</c>) to lists of values; every combination is an arm.</param>
public sealed record SweepFile(
    string? Name, string? Description, string? Experiment, string? Base, JsonObject? Patch, JsonElement Seeds,
    IReadOnlyList<SweepArmSpec>? Arms, JsonObject? Grid, string? Baseline, IReadOnlyList<SweepMetricSpec>? Metrics);

/// <summary>One arm: a name and the merge patch (RFC 7386) it applies to the base config (empty: the base itself).</summary>
public sealed record SweepArmSpec(string? Name, JsonObject? Patch);

/// <summary>A metric: a path into the result, which way is better, and an optional equivalence margin (same units).</summary>
public sealed record SweepMetricSpec(string? Name, string? Path, Direction? Direction, double? Margin);

/// <summary>An arm resolved: its name and its patch.</summary>
public sealed record SweepArm(string Name, JsonObject Patch);

/// <summary>A metric resolved.</summary>
public sealed record SweepMetric(string Name, MetricPath Path, Direction Direction, double? Margin)
{
    /// <summary>
    /// The metric a spec names (its name defaults to its path); <paramref name="where"/> names the spec in errors.
    /// Checks the form only; <see cref="MetricPath.CheckAgainst"/> checks the path against a result type.
    /// </summary>
    public static SweepMetric From(SweepMetricSpec spec, string where)
    {
        if (string.IsNullOrWhiteSpace(spec.Path)) throw new ConfigException($"{where}.path is required: a path into the result, e.g. runs[name=full].validationLoss");
        if (spec.Direction is not { } direction) throw new ConfigException($"{where}.direction is required; allowed values: lower, higher (which is better)");
        if (spec.Margin is { } m && !(m > 0 && double.IsFinite(m))) throw new ConfigException($"{where}.margin must be a positive number (got {m.ToString(CultureInfo.InvariantCulture)})");
        var path = MetricPath.Parse(spec.Path, $"{where}.path");
        return new SweepMetric(string.IsNullOrWhiteSpace(spec.Name) ? spec.Path : spec.Name.Trim(), path, direction, spec.Margin);
    }
}

/// <summary>A sweep file checked against its experiment: every field named, every patch and metric path valid.</summary>
public sealed record SweepDefinition(
    string Name, string? Description, ExperimentDefinition Experiment, string BaseName, JsonObject BaseConfig,
    IReadOnlyList<int> Seeds, IReadOnlyList<SweepArm> Arms, string Baseline, IReadOnlyList<SweepMetric> Metrics)
{
    /// <summary>The config field every seeded experiment has; each cell sets it to its one seed.</summary>
    public const string SeedsField = "seeds";

    /// <summary>The full config of one cell: the base, the arm's patch, the seed (the cell's <c>seeds</c> is that seed alone).</summary>
    public JsonObject CellConfig(SweepArm arm, int seed)
    {
        var config = (JsonObject)JsonMergePatch.Apply(BaseConfig, arm.Patch)!;
        config[SeedsField] = new JsonArray(seed);
        return config;
    }
}

/// <summary>Reads and checks sweep files.</summary>
public static class SweepFiles
{
    /// <summary>Most arms a sweep may have; a grid that expands beyond it is almost always a mistake.</summary>
    public const int MaxArms = 256;

    /// <summary>Reads <paramref name="path"/> and checks it; errors name the file and the field.</summary>
    public static SweepDefinition Load(string path)
    {
        if (Directory.Exists(path)) throw new ConfigException($"sweep file '{path}' is a directory, not a JSON file");
        if (!File.Exists(path)) throw new ConfigException($"sweep file '{path}' does not exist");
        SweepFile file;
        try
        {
            // Strict like a config: a key given twice or a null where a value belongs is an error, not the last value.
            file = JsonSerializer.Deserialize<SweepFile>(File.ReadAllText(path), ExperimentConfigs.StrictRead)
                   ?? throw new ConfigException($"{path}: the file holds null, expected a sweep object");
        }
        catch (JsonException e)
        {
            var where = e.Path is { Length: > 0 } p ? $" at {p}" : "";
            throw new ConfigException($"{path}{where}: {e.Message.Split(" Path:")[0]}", e);
        }
        return Resolve(file, path);
    }

    /// <summary>Checks <paramref name="file"/>; <paramref name="source"/> is the file it came from (for names and relative paths).</summary>
    public static SweepDefinition Resolve(SweepFile file, string source)
    {
        string Field(string field) => $"{source}: {field}";

        if (string.IsNullOrWhiteSpace(file.Experiment))
            throw new ConfigException($"{Field("experiment")} is required; known experiments: {string.Join(", ", ExperimentCatalog.All.Select(e => e.Id))}");
        var experiment = ExperimentCatalog.All.FirstOrDefault(e => e.Id == file.Experiment)
            ?? throw new ConfigException($"{Field("experiment")}: unknown experiment '{file.Experiment}'; known experiments: {string.Join(", ", ExperimentCatalog.All.Select(e => e.Id))}");
        var schema = experiment.Schema ?? throw new ConfigException($"{Field("experiment")}: '{experiment.Id}' does not describe its config and result, so it cannot be swept");
        if (JsonShape.Fields(schema.ConfigType)?.Any(f => f.Name == SweepDefinition.SeedsField) != true)
            throw new ConfigException($"{Field("experiment")}: '{experiment.Id}' has no seed (its result does not vary with one), so there is nothing to sweep over seeds");

        var (baseName, baseConfig) = LoadBase(file.Base, experiment.Id, source);
        if (file.Patch is { } shared)
        {
            JsonShape.CheckPatch(shared, schema.ConfigType, $"{source}: patch");
            baseConfig = (JsonObject)JsonMergePatch.Apply(baseConfig, shared)!;
        }
        var seeds = Seeds(file.Seeds, Field("seeds"));
        var arms = Arms(file, schema.ConfigType, source);
        if (string.IsNullOrWhiteSpace(file.Baseline))
            throw new ConfigException($"{Field("baseline")} is required: the arm the others are compared with; arms: {string.Join(", ", arms.Select(a => a.Name))}");
        if (arms.All(a => a.Name != file.Baseline))
            throw new ConfigException($"{Field("baseline")}: '{file.Baseline}' is not an arm; arms: {string.Join(", ", arms.Select(a => a.Name))}");
        var metrics = Metrics(file.Metrics, schema.ResultType, source);

        var definition = new SweepDefinition(
            string.IsNullOrWhiteSpace(file.Name) ? Path.GetFileNameWithoutExtension(source) : file.Name.Trim(),
            file.Description, experiment, baseName, baseConfig, seeds, arms, file.Baseline, metrics);

        // Every arm's config must load and pass the experiment's own checks: found now, not in the middle of a run.
        foreach (var arm in arms)
        {
            var config = definition.CellConfig(arm, seeds[0]);
            try
            {
                var typed = config.Deserialize(schema.ConfigType, ExperimentConfigs.StrictRead)
                            ?? throw new ConfigException("the config is null");
                if (ExperimentConfigs.NullElement(typed, "$", 0) is { } at) throw new ConfigException($"null at {at} is not allowed in this list");
                schema.Validate(typed);
            }
            catch (Exception e) when (e is JsonException or ConfigException or ArgumentException)
            {
                var at = e is JsonException { Path: { Length: > 0 } p } ? $" at {p}" : "";
                throw new ConfigException($"{source}: arm '{arm.Name}': its config{at} is not valid for {experiment.Id}: {e.Message.Split(" Path:")[0]}", e);
            }
        }
        return definition;
    }

    private static (string Name, JsonObject Config) LoadBase(string? name, string id, string source)
    {
        name = string.IsNullOrWhiteSpace(name) ? "default" : name.Trim();
        string? text = name switch
        {
            "default" => ExperimentConfigs.EmbeddedDefault(id),
            // As `research run --workshop`: experiments without a workshop size use their default.
            "workshop" => ExperimentConfigs.EmbeddedWorkshop(id) ?? ExperimentConfigs.EmbeddedDefault(id),
            _ => null,
        };
        if (text is null && name is not ("default" or "workshop"))
        {
            var file = Path.IsPathRooted(name) ? name : Path.Combine(Path.GetDirectoryName(Path.GetFullPath(source)) ?? ".", name);
            if (!File.Exists(file)) throw new ConfigException($"{source}: base: '{name}' is not default, workshop or an existing config file ({file})");
            text = File.ReadAllText(file);
        }
        if (text is null) throw new ConfigException($"{source}: base: no {name} config embedded for '{id}'");
        try
        {
            return (name, JsonNode.Parse(text) as JsonObject ?? throw new ConfigException($"{source}: base: '{name}' does not hold a JSON object"));
        }
        catch (JsonException e)
        {
            throw new ConfigException($"{source}: base: '{name}' is not valid JSON: {e.Message.Split(" Path:")[0]}", e);
        }
    }

    private static IReadOnlyList<int> Seeds(JsonElement seeds, string where)
    {
        switch (seeds.ValueKind)
        {
            case JsonValueKind.Number when seeds.TryGetInt32(out int n):
                if (n < 1 || n > 10_000) throw new ConfigException($"{where}: a count must be between 1 and 10000 (got {n})");
                return Enumerable.Range(0, n).ToList();
            case JsonValueKind.Array:
                var list = new List<int>();
                foreach (var s in seeds.EnumerateArray())
                {
                    if (s.ValueKind != JsonValueKind.Number || !s.TryGetInt32(out int seed))
                        throw new ConfigException($"{where}: '{s}' is not a whole number");
                    if (seed < 0) throw new ConfigException($"{where}: seeds must be ≥ 0 (got {seed})");
                    if (list.Contains(seed)) throw new ConfigException($"{where}: seed {seed} is listed twice");
                    list.Add(seed);
                }
                if (list.Count == 0) throw new ConfigException($"{where}: the list is empty; give at least one seed (three or more for a verdict)");
                return list;
            case JsonValueKind.Undefined or JsonValueKind.Null:
                throw new ConfigException($"{where} is required: a list of seeds, or a count n meaning 0..n−1");
            default:
                throw new ConfigException($"{where}: expected a list of seeds or a count, got {seeds}");
        }
    }

    private static IReadOnlyList<SweepArm> Arms(SweepFile file, Type configType, string source)
    {
        var arms = new List<SweepArm>();
        for (int i = 0; i < (file.Arms?.Count ?? 0); i++)
        {
            var spec = file.Arms![i];
            string where = $"{source}: arms[{i}]";
            if (string.IsNullOrWhiteSpace(spec.Name)) throw new ConfigException($"{where}.name is required");
            CheckArmName(spec.Name, $"{where}.name");
            var patch = spec.Patch ?? new JsonObject();
            JsonShape.CheckPatch(patch, configType, $"{where}.patch ('{spec.Name}')");
            arms.Add(new SweepArm(spec.Name, patch));
        }
        if (file.Grid is { Count: > 0 } grid) arms.AddRange(GridArms(grid, configType, source));
        if (arms.Count == 0) throw new ConfigException($"{source}: arms: give at least one arm (or a grid); a comparison needs two");
        var twice = arms.GroupBy(a => a.Name).FirstOrDefault(g => g.Count() > 1);
        if (twice is not null) throw new ConfigException($"{source}: arms: the arm '{twice.Key}' is named twice");
        if (arms.Count > MaxArms) throw new ConfigException($"{source}: arms: {arms.Count} arms is more than {MaxArms}; split the sweep");
        return arms;
    }

    /// <summary>Every combination of the grid's values, named by the last part of each path (the whole path where those clash).</summary>
    private static IEnumerable<SweepArm> GridArms(JsonObject grid, Type configType, string source)
    {
        var axes = new List<(string Path, string Label, List<JsonNode?> Values)>();
        foreach (var (path, values) in grid)
        {
            string where = $"{source}: grid.{path}";
            if (values is not JsonArray list || list.Count == 0) throw new ConfigException($"{where}: expected a non-empty list of values");
            var parts = path.Split('.');
            if (parts.Any(p => p.Length == 0)) throw new ConfigException($"{where}: '{path}' is not a config path (fields joined by dots)");
            JsonShape.CheckPatch(Nest(parts, JsonValue.Create(0)), configType, $"{source}: grid");
            axes.Add((path, parts[^1], list.Select(v => v?.DeepClone()).ToList()));
        }
        bool clash = axes.Select(a => a.Label).Distinct().Count() != axes.Count;
        IEnumerable<(string Name, JsonObject Patch)> combos = [("", new JsonObject())];
        foreach (var axis in axes)
        {
            var current = axis;
            combos = combos.SelectMany(c => current.Values.Select(v =>
            {
                string label = $"{(clash ? current.Path : current.Label)}={Label(v)}";
                var patch = (JsonObject)JsonMergePatch.Apply(c.Patch, Nest(current.Path.Split('.'), v?.DeepClone()))!;
                return (c.Name.Length == 0 ? label : $"{c.Name},{label}", patch);
            })).ToList();
        }
        foreach (var (name, patch) in combos)
        {
            CheckArmName(name, $"{source}: grid");
            yield return new SweepArm(name, patch);
        }
    }

    private static JsonObject Nest(string[] parts, JsonNode? leaf)
    {
        JsonNode? node = leaf;
        for (int i = parts.Length - 1; i >= 0; i--) node = new JsonObject { [parts[i]] = node };
        return (JsonObject)node!;
    }

    private static string Label(JsonNode? value) => value switch
    {
        null => "null",
        JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
        _ => value.ToJsonString(),
    };

    // Arm names become folder names: keep them to characters every file system and shell takes.
    private static void CheckArmName(string name, string where)
    {
        if (name.Length > 100 || name is "." or ".." || !name.All(c => char.IsAsciiLetterOrDigit(c) || "._-=,+".Contains(c)))
            throw new ConfigException($"{where}: '{name}' is not a usable arm name: use at most 100 letters, digits and . _ - = , + (it names a folder)");
    }

    private static IReadOnlyList<SweepMetric> Metrics(IReadOnlyList<SweepMetricSpec>? specs, Type resultType, string source)
    {
        if (specs is not { Count: > 0 }) throw new ConfigException($"{source}: metrics: give at least one metric (name, path, direction)");
        var metrics = new List<SweepMetric>();
        for (int i = 0; i < specs.Count; i++)
        {
            var spec = specs[i];
            string where = $"{source}: metrics[{i}]";
            var metric = SweepMetric.From(spec, where);
            metric.Path.CheckAgainst(resultType, $"{where}.path");
            if (metrics.Any(x => x.Name == metric.Name)) throw new ConfigException($"{where}.name: the metric '{metric.Name}' is named twice");
            metrics.Add(metric);
        }
        return metrics;
    }
}

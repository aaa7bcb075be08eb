using System.Collections;
using System.Reflection;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Research.Experiments;

/// <summary>
/// Loads experiment configs: the default for an id is embedded from <c>data/configs/&lt;id&gt;.json</c>;
/// a user's file replaces it. Unknown or mistyped fields are errors naming the field.
/// </summary>
public static class ExperimentConfigs
{
    /// <summary>JSON conventions of every file the kit reads or writes: camelCase, strict on unknown fields.</summary>
    public static readonly JsonSerializerOptions Json = ReadOnly(new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        // Results hold symbols like "·" and "∇"; keep them readable (the JSON is never embedded in HTML unescaped).
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    });

    /// <summary>
    /// <see cref="Json"/> made stricter for reading configs: null where the record declares no null ("training": null)
    /// and a key given twice ("seed" then "seed" or "Seed", which case-insensitive matching maps to one field) are errors,
    /// where the defaults would crash later or silently keep the last value. Only for reading: results may hold nulls.
    /// </summary>
    public static readonly JsonSerializerOptions StrictRead = ReadOnly(new(Json)
    {
        RespectNullableAnnotations = true,
        AllowDuplicateProperties = false,
    });

    // Frozen with their resolver at once: GetTypeInfo (sweeps' JsonShape) then works before the first (de)serialization.
    private static JsonSerializerOptions ReadOnly(JsonSerializerOptions options)
    {
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }

    /// <summary>
    /// The config for <paramref name="id"/>: from <paramref name="path"/> when given, else the embedded default, or with
    /// <paramref name="workshop"/> its workshop size (data/configs/workshop/&lt;id&gt;.json) where the experiment has one.
    /// </summary>
    public static T Load<T>(string id, string? path = null, bool workshop = false)
    {
        string text, source;
        if (path is not null)
        {
            text = ReadFile(path);
            source = path;
        }
        else
        {
            var sized = workshop ? EmbeddedWorkshop(id) : null;
            text = sized ?? EmbeddedDefault(id) ?? throw new ConfigException($"no default config embedded for experiment '{id}'");
            source = sized is null ? $"data/configs/{id}.json" : $"data/configs/workshop/{id}.json";
        }
        try
        {
            var config = JsonSerializer.Deserialize<T>(text, StrictRead) ?? throw new ConfigException($"{source}: the file holds null, expected a {typeof(T).Name} object");
            if (NullElement(config, "$", 0) is { } at) throw new ConfigException($"{source} at {at}: null is not allowed in this list");
            return config;
        }
        catch (JsonException e)
        {
            var where = e.Path is { Length: > 0 } p ? $" at {p}" : "";
            // The serializer's own wording for a null suggests editing the C# annotations; the user edits the file.
            var message = e.Message.Contains("doesn't allow setting null", StringComparison.Ordinal)
                ? "null is not allowed here; give a value or leave the field out for its default" : e.Message.Split(" Path:")[0];
            throw new ConfigException($"{source}{where}: {message}", e);
        }
    }

    /// <summary>The text of a config file, or a <see cref="ConfigException"/> saying why it cannot be read.</summary>
    public static string ReadFile(string path)
    {
        if (Directory.Exists(path)) throw new ConfigException($"config file '{path}' is a directory, not a JSON file");
        if (!File.Exists(path)) throw new ConfigException($"config file '{path}' does not exist");
        try { return File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException($"config file '{path}' cannot be read: {e.Message}", e);
        }
    }

    /// <summary>
    /// The JSON path of the first null element in a list of <paramref name="value"/> (a loaded config) whose element type
    /// is not nullable, or null. RespectNullableAnnotations checks properties but not list elements ("variants": [null]).
    /// </summary>
    public static string? NullElement(object value, string path, int depth)
    {
        // Configs nest a few records deep; the bound only guards against a cycle through a non-record type.
        if (depth > 8 || value is string || value.GetType().IsPrimitive || value.GetType().IsEnum) return null;
        if (value.GetType().Namespace?.StartsWith("Research", StringComparison.Ordinal) != true) return null;
        foreach (var property in value.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.GetIndexParameters().Length > 0 || property.GetMethod is null) continue;
            var name = $"{path}.{JsonNamingPolicy.CamelCase.ConvertName(property.Name)}";
            switch (property.GetValue(value))
            {
                case null or string:
                    continue;
                case IEnumerable items:
                    bool nullable = new NullabilityInfoContext().Create(property) is { ElementType: { } e } ? e.ReadState != NullabilityState.NotNull
                        : new NullabilityInfoContext().Create(property).GenericTypeArguments is [{ } g] && g.ReadState != NullabilityState.NotNull;
                    int i = 0;
                    foreach (var item in items)
                    {
                        if (item is null && !nullable) return $"{name}[{i}]";
                        if (item is not null && NullElement(item, $"{name}[{i}]", depth + 1) is { } inner) return inner;
                        i++;
                    }
                    break;
                case var child:
                    if (NullElement(child, name, depth + 1) is { } found) return found;
                    break;
            }
        }
        return null;
    }

    /// <summary>Most seeds one run takes: more is a sweep's job (research sweep), which can spread them over machines.</summary>
    public const int MaxSeeds = 100;

    /// <summary>
    /// The checks on a config's seeds: a list of 1..<see cref="MaxSeeds"/> distinct seeds ≥ 0 (empty only for a config that
    /// draws nothing at random, which never lists any). <paramref name="owner"/> names the config in the error.
    /// </summary>
    public static void CheckSeeds(string owner, IReadOnlyList<int>? seeds)
    {
        if (seeds is null) throw new ConfigException($"{owner}.Seeds must be a list of seeds ≥ 0, e.g. [0, 1, 2]");
        if (seeds.Count > MaxSeeds) throw new ConfigException($"{owner}.Seeds lists {seeds.Count} seeds; at most {MaxSeeds} run in one process (use research sweep for more)");
        foreach (int s in seeds)
            if (s < 0) throw new ConfigException($"{owner}.Seeds must be seeds ≥ 0 (got {s})");
        CheckDistinct($"{owner}.Seeds", seeds);
    }

    /// <summary>
    /// Refuses a list that names the same value twice (<paramref name="field"/> as "Config.Field"): a repeated size,
    /// depth or temperature repeats work and draws the same point twice, and is almost always a typo.
    /// </summary>
    public static void CheckDistinct<T>(string field, IReadOnlyList<T>? values)
    {
        if (values is null) return;
        var repeated = values.GroupBy(v => v).FirstOrDefault(g => g.Count() > 1);
        if (repeated is not null)
            throw new ConfigException($"{field} lists {repeated.Key} twice (got [{string.Join(", ", values)}]); each value must appear once");
    }

    /// <summary>The text of an embedded default config, or null.</summary>
    public static string? EmbeddedDefault(string id) => Embedded($"configs/{id}.json");

    /// <summary>
    /// The text of an experiment's workshop-sized config, or null when its default already runs in a workshop's
    /// time (a notebook in at most 2 minutes on a 2-core laptop) or the id is unknown.
    /// </summary>
    public static string? EmbeddedWorkshop(string id) => Embedded($"configs/workshop/{id}.json");

    private static string? Embedded(string name)
    {
        using var stream = typeof(ExperimentConfigs).Assembly.GetManifestResourceStream(name);
        return stream is null ? null : new StreamReader(stream).ReadToEnd();
    }
}

/// <summary>A config file or value that cannot be used; the message names the file or field.</summary>
public sealed class ConfigException(string message, Exception? inner = null) : Exception(message, inner);

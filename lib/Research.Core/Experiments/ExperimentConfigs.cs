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
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        // Results hold symbols like "·" and "∇"; keep them readable (the JSON is never embedded in HTML unescaped).
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    };

    /// <summary>
    /// The config for <paramref name="id"/>: from <paramref name="path"/> when given, else the embedded default, or with
    /// <paramref name="workshop"/> its workshop size (data/configs/workshop/&lt;id&gt;.json) where the experiment has one.
    /// </summary>
    public static T Load<T>(string id, string? path = null, bool workshop = false)
    {
        string text, source;
        if (path is not null)
        {
            if (!File.Exists(path)) throw new ConfigException($"config file '{path}' does not exist");
            text = File.ReadAllText(path);
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
            return JsonSerializer.Deserialize<T>(text, Json) ?? throw new ConfigException($"{source}: the file holds null, expected a {typeof(T).Name} object");
        }
        catch (JsonException e)
        {
            var where = e.Path is { Length: > 0 } p ? $" at {p}" : "";
            throw new ConfigException($"{source}{where}: {e.Message.Split(" Path:")[0]}", e);
        }
    }

    /// <summary>The text of an embedded default config, or null.</summary>
    /// <summary>
    /// The checks every config with a run seed and noise seeds makes: Seed ≥ 0, NoiseSeeds a list (possibly empty) of
    /// distinct seeds ≥ 0 other than Seed. <paramref name="owner"/> names the config in the error.
    /// </summary>
    public static void CheckSeeds(string owner, int seed, IReadOnlyList<int>? noiseSeeds)
    {
        if (seed < 0) throw new ConfigException($"{owner}.Seed must be ≥ 0 (got {seed})");
        if (noiseSeeds is null) throw new ConfigException($"{owner}.NoiseSeeds must be a list of seeds (possibly empty)");
        foreach (int s in noiseSeeds)
            if (s < 0 || s == seed) throw new ConfigException($"{owner}.NoiseSeeds must be seeds ≥ 0 other than Seed ({seed}) (got {s})");
        if (noiseSeeds.Distinct().Count() != noiseSeeds.Count) throw new ConfigException($"{owner}.NoiseSeeds lists a seed twice");
    }

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

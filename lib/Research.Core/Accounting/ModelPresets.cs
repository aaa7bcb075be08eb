using Research.Models;
using System.Text.Json;
using System.Text.Json.Nodes;
using Research.Experiments;

namespace Research.Accounting;

/// <summary>
/// Published models as <see cref="ModelConfig"/>s, read from <c>data/models/presets.json</c> (embedded in the library):
/// one file for the parameter/FLOP accounting and the KV-cache calculator (<see cref="Research.Mla.KvCachePresets"/>).
/// Each entry holds the fields of the model's config.json under their published names, plus the kit's
/// <c>name</c>, <c>source</c>, <c>max_context</c> and <c>qkv_bias</c>.
/// </summary>
public static class ModelPresets
{
    /// <summary>config.json conventions: snake_case names; fields the calculators do not use (rope_scaling, torch_dtype,
    /// …) are skipped so a downloaded config.json reads as is.</summary>
    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        Encoder = ExperimentConfigs.Json.Encoder,
    };

    private static readonly Lazy<IReadOnlyList<ModelConfig>> all = new(() =>
    {
        using var stream = typeof(ModelPresets).Assembly.GetManifestResourceStream("models/presets.json")
            ?? throw new InvalidOperationException("models/presets.json is not embedded in Research.Core");
        using var reader = new StreamReader(stream);
        var array = JsonNode.Parse(reader.ReadToEnd())?.AsArray() ?? throw new InvalidOperationException("models/presets.json holds null");
        return [.. array.Select((node, i) => Parse(node, $"models/presets.json[{i}]", null))];
    });

    /// <summary>Every preset, in the file's order (DeepSeek models first).</summary>
    public static IReadOnlyList<ModelConfig> All => all.Value;

    /// <summary>The preset names.</summary>
    public static IReadOnlyList<string> Names => [.. All.Select(m => m.Name)];

    /// <summary>The preset called <paramref name="name"/>; an unknown name is an error listing the known ones.</summary>
    public static ModelConfig Find(string name) => All[IndexOf(name)];

    /// <summary>The position of the preset called <paramref name="name"/> (any case) in <see cref="All"/>; an unknown name
    /// is an error listing the known ones.</summary>
    public static int IndexOf(string name)
    {
        int i = All.ToList().FindIndex(m => string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase));
        return i >= 0 ? i : throw new ConfigException($"unknown preset '{name}'; known presets: {string.Join(", ", Names)}");
    }

    /// <summary>A model's config.json (or a preset-style entry), validated; <c>name</c> defaults to the file's name.</summary>
    public static ModelConfig Load(string path)
    {
        if (!File.Exists(path)) throw new ConfigException($"config file '{path}' does not exist");
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(File.ReadAllText(path));
        }
        catch (JsonException e)
        {
            throw new ConfigException($"{path}: malformed JSON: {e.Message.Split(" Path:")[0]}", e);
        }
        return Parse(node, path, Path.GetFileNameWithoutExtension(path));
    }

    /// <summary>One model object: the fields its kind needs must be present (a missing one is named), then the record
    /// is read and validated.</summary>
    public static ModelConfig Parse(JsonNode? node, string source, string? defaultName)
    {
        if (node is not JsonObject obj) throw new ConfigException($"{source}: expected a JSON object with a model's config.json fields");
        bool Has(string key) => obj.ContainsKey(key);
        bool Set(string key) => obj.TryGetPropertyValue(key, out var v) && v is not null;
        var required = new List<string> { "hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size" };
        if (Set("kv_lora_rank")) required.AddRange(["q_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim"]);
        if (Set("n_routed_experts")) required.AddRange(["n_shared_experts", "num_experts_per_tok", "moe_intermediate_size", "first_k_dense_replace"]);
        bool hasDenseLayers = !Set("n_routed_experts") || (obj["first_k_dense_replace"] is JsonValue k && k.TryGetValue<int>(out var first) && first > 0);
        if (hasDenseLayers) required.Add("intermediate_size");
        if (required.FirstOrDefault(key => !Has(key)) is string missing)
            throw new ConfigException($"{source}: field '{missing}' is missing (needed: {string.Join(", ", required)})");
        if (defaultName is not null && !Has("name")) obj["name"] = defaultName;
        try
        {
            var model = obj.Deserialize<ModelConfig>(Json) ?? throw new ConfigException($"{source}: expected a model object");
            return model.Validated();
        }
        catch (JsonException e)
        {
            var where = e.Path is { Length: > 1 } p ? $" at {p}" : "";
            throw new ConfigException($"{source}{where}: {e.Message.Split(" Path:")[0]}", e);
        }
        catch (ConfigException e)
        {
            throw new ConfigException($"{source}: {e.Message}", e);
        }
    }
}

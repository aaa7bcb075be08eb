using System.Text.Json;
using Research.Accounting;
using Research.Experiments;

namespace Research.Mla;

/// <summary>
/// Published models as <see cref="KvCacheModel"/>s: the attention of the <see cref="ModelPresets"/> (<c>data/models/presets.json</c>,
/// embedded in the library, the file the parameter and FLOP accounting reads too); each entry's <see cref="KvCacheModel.Source"/>
/// cites the paper table and config.json it was checked against.
/// </summary>
public static class KvCachePresets
{
    /// <summary>Model JSON is strict: unknown fields and missing required ones (all but kvLatentDim, ropeHeadDim and
    /// source) are errors naming the field.</summary>
    public static readonly JsonSerializerOptions Json = new(ExperimentConfigs.Json) { RespectRequiredConstructorParameters = true };

    private static readonly Lazy<IReadOnlyList<KvCacheModel>> all = new(() => [.. ModelPresets.All.Select(m => m.ToKvCacheModel())]);

    /// <summary>Every preset, in the file's order (DeepSeek models first).</summary>
    public static IReadOnlyList<KvCacheModel> All => all.Value;

    /// <summary>The preset names (those of <see cref="ModelPresets"/>).</summary>
    public static IReadOnlyList<string> Names => ModelPresets.Names;

    /// <summary>The preset called <paramref name="name"/>; an unknown name is an error listing the known ones.</summary>
    public static KvCacheModel Find(string name) => All[ModelPresets.IndexOf(name)];

    /// <summary>A model described by a JSON file, validated: the fields of <see cref="KvCacheModel"/> (camelCase), or a
    /// model's config.json (recognised by its <c>hidden_size</c>; see <see cref="ModelPresets.Load"/>).</summary>
    public static KvCacheModel Load(string path)
    {
        if (!File.Exists(path)) throw new ConfigException($"config file '{path}' does not exist");
        if (IsModelConfig(path)) return ModelPresets.Load(path).ToKvCacheModel();
        try
        {
            var model = JsonSerializer.Deserialize<KvCacheModel>(File.ReadAllText(path), Json)
                ?? throw new ConfigException($"{path}: the file holds null, expected a KvCacheModel object");
            return model.Validated();
        }
        catch (JsonException e)
        {
            var where = e.Path is { Length: > 1 } p ? $" at {p}" : "";
            // The serializer names the target type, not the values it accepts; say them for the one enum field.
            var allowed = e.Path == "$.kind" ? " (allowed: mha, gqa, mqa, mla)" : "";
            throw new ConfigException($"{path}{where}: {e.Message.Split(" Path:")[0]}{allowed}", e);
        }
        catch (ConfigException e)
        {
            throw new ConfigException($"{path}: {e.Message}", e);
        }
    }

    private static bool IsModelConfig(string path)
    {
        try
        {
            return System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path)) is System.Text.Json.Nodes.JsonObject o && o.ContainsKey("hidden_size");
        }
        catch (JsonException)
        {
            return false;   // malformed: the KvCacheModel reader below reports where
        }
    }
}

using System.Text.Json;
using System.Text.Json.Nodes;
using Research.Experiments;
using Xunit;
using static TorchSharp.torch;

namespace Research.Tests.Experiments;

/// <summary>What every experiment of the catalog shares: its embedded default, how it refuses a bad config, its seed.</summary>
public sealed class ExperimentCatalogTests
{
    public static TheoryData<string> Ids => new(ExperimentCatalog.All.Select(e => e.Id));

    // Experiments that draw at random (efficiency and mla-cache compute closed forms and have no seed).
    public static TheoryData<string> Seeded => new(ExperimentCatalog.All.Where(e => HasSeed(e.Schema!.ConfigType)).Select(e => e.Id));

    // Cheap enough to run in a test (a few seconds each at their defaults).
    public static TheoryData<string> Quick => new("fp8-formats", "mla-equivalence");

    private static ExperimentSchema Schema(string id) =>
        ExperimentCatalog.Find(id).Schema ?? throw new InvalidOperationException($"{id} has no schema");

    private static bool HasSeed(Type config) => Research.Sweeps.JsonShape.Fields(config)?.Any(f => f.Name == "seeds") == true;

    // A run that passes validation stops at its first cancellation check, so a missing check fails fast, not slowly.
    private static ExperimentRequest Refused(string? path = null, int? seed = null) =>
        new(CPU, Seed: seed, ConfigPath: path, Cancellation: new CancellationToken(canceled: true));

    /// <summary>The record's C# default: a parameterless constructor, or the primary constructor with every default.</summary>
    private static object Default(Type config)
    {
        if (config.GetConstructor(Type.EmptyTypes) is { } empty) return empty.Invoke([]);
        var ctor = config.GetConstructors().Single(c => c.GetParameters().Length > 0 && c.GetParameters().All(p => p.HasDefaultValue));
        return ctor.Invoke([.. ctor.GetParameters().Select(p => p.DefaultValue)]);
    }

    private static string WriteConfig(string id, Action<JsonObject> change)
    {
        var node = JsonNode.Parse(ExperimentConfigs.EmbeddedDefault(id)!)!.AsObject();
        change(node);
        var path = Path.Combine(TestPaths.TempFolder(), $"{id}.json");
        File.WriteAllText(path, node.ToJsonString());
        return path;
    }

    [Theory]
    [MemberData(nameof(Ids))]
    public void The_embedded_default_config_is_the_config_records_default(string id)
    {
        // Given the experiment's config type and its embedded data/configs/<id>.json
        var type = Schema(id).ConfigType;
        var embedded = JsonSerializer.Deserialize(ExperimentConfigs.EmbeddedDefault(id)!, type, ExperimentConfigs.Json)!;

        // Then the file and `new TConfig()` are the same config (compared as JSON: lists compare by content there)
        Assert.Equal(JsonSerializer.Serialize(Default(type), type, ExperimentConfigs.Json), JsonSerializer.Serialize(embedded, type, ExperimentConfigs.Json));
    }

    [Theory]
    [MemberData(nameof(Ids))]
    public void An_unknown_field_is_a_config_error_naming_it(string id)
    {
        var path = WriteConfig(id, o => o["noSuchField"] = 1);

        var e = Assert.Throws<ConfigException>(() => ExperimentCatalog.Find(id).Run(Refused(path)));

        Assert.Contains("noSuchField", e.Message);
    }

    [Theory]
    [MemberData(nameof(Seeded))]
    public void A_negative_seed_in_the_file_or_from_seed_is_a_config_error_naming_seeds(string id)
    {
        var path = WriteConfig(id, o => o["seeds"] = new JsonArray(0, -1));

        var fromFile = Assert.Throws<ConfigException>(() => ExperimentCatalog.Find(id).Run(Refused(path)));
        // --seed goes into the config before it is checked, so the same check refuses it
        var fromOption = Assert.Throws<ConfigException>(() => ExperimentCatalog.Find(id).Run(Refused(seed: -1)));

        Assert.Contains("Seeds", fromFile.Message);
        Assert.Contains("Seeds", fromOption.Message);
    }

    [Theory]
    [MemberData(nameof(Quick))]
    public void The_seed_option_is_the_seed_of_the_run_and_of_its_config(string id)
    {
        var output = ExperimentCatalog.Find(id).Run(new ExperimentRequest(CPU, Seed: 7, Cancellation: TestContext.Current.CancellationToken));

        Assert.Equal([7], output.Seeds);
        Assert.Equal([7], (IReadOnlyList<int>)output.Config.GetType().GetProperty("Seeds")!.GetValue(output.Config)!);
    }

    [Theory]
    [MemberData(nameof(Ids))]
    public void Seed_and_seeds_choose_the_seeds_the_config_runs(string id)
    {
        var definition = ExperimentCatalog.Find(id);
        IReadOnlyList<int> SeedsOf(ExperimentRequest request) =>
            (IReadOnlyList<int>)definition.Resolve!(request).GetType().GetProperty("Seeds")!.GetValue(definition.Resolve(request))!;
        bool seeded = HasSeed(definition.Schema!.ConfigType);

        // --seed N runs N alone, --seeds the list, and neither the config's own; an experiment that draws nothing at random has none
        Assert.Equal(seeded ? [7] : [], SeedsOf(new ExperimentRequest(CPU, Seed: 7)));
        Assert.Equal(seeded ? [3, 5, 8] : [], SeedsOf(new ExperimentRequest(CPU, Seeds: [3, 5, 8])));
        Assert.Equal(seeded ? [0] : [], SeedsOf(new ExperimentRequest(CPU)));
        Assert.Throws<ArgumentException>(() => SeedsOf(new ExperimentRequest(CPU, Seed: 1, Seeds: [2])));
    }

    [Theory]
    [MemberData(nameof(Quick))]
    public void Each_seed_of_a_multi_seed_run_is_the_run_of_that_seed_alone(string id)
    {
        var definition = ExperimentCatalog.Find(id);
        var token = TestContext.Current.CancellationToken;

        var both = definition.Run(new ExperimentRequest(CPU, Seeds: [2, 1], Cancellation: token));
        var alone = definition.Run(new ExperimentRequest(CPU, Seed: 1, Cancellation: token));

        Assert.Equal([2, 1], both.Seeds);
        var perSeed = JsonSerializer.SerializeToNode(both.Result, ExperimentConfigs.Json)!["perSeed"]!.AsArray();
        Assert.Equal([2, 1], perSeed.Select(r => (int)r!["seed"]!));
        var single = JsonSerializer.SerializeToNode(alone.Result, ExperimentConfigs.Json)!["perSeed"]![0]!;
        // Timings aside, seed 1 gives the same numbers whether it runs alone or after seed 2
        Assert.Equal(Strip(single["result"]!).ToJsonString(), Strip(perSeed[1]!["result"]!).ToJsonString());
        Assert.NotEqual(Strip(perSeed[0]!["result"]!).ToJsonString(), Strip(perSeed[1]!["result"]!).ToJsonString());
    }

    // Removes wall-clock fields, which differ between any two runs.
    private static JsonNode Strip(JsonNode node)
    {
        var copy = node.DeepClone();
        void Walk(JsonNode? n)
        {
            if (n is JsonObject o)
            {
                foreach (var key in o.Select(kv => kv.Key).Where(k => k.Contains("seconds", StringComparison.OrdinalIgnoreCase) || k.EndsWith("Ms", StringComparison.Ordinal)).ToList()) o.Remove(key);
                foreach (var kv in o) Walk(kv.Value);
            }
            else if (n is JsonArray a) foreach (var item in a) Walk(item);
        }
        Walk(copy);
        return copy;
    }
}

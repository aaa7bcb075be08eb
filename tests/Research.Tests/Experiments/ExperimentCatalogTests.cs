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

    private static bool HasSeed(Type config) => config.GetProperty("Seed") is not null;

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
    public void A_negative_seed_in_the_file_or_from_seed_is_a_config_error_naming_seed(string id)
    {
        var path = WriteConfig(id, o => o["seed"] = -1);

        var fromFile = Assert.Throws<ConfigException>(() => ExperimentCatalog.Find(id).Run(Refused(path)));
        // --seed goes into the config before it is checked, so the same check refuses it
        var fromOption = Assert.Throws<ConfigException>(() => ExperimentCatalog.Find(id).Run(Refused(seed: -1)));

        Assert.Contains("Seed", fromFile.Message);
        Assert.Contains("Seed", fromOption.Message);
    }

    [Theory]
    [MemberData(nameof(Quick))]
    public void The_seed_option_is_the_seed_of_the_run_and_of_its_config(string id)
    {
        var output = ExperimentCatalog.Find(id).Run(new ExperimentRequest(CPU, Seed: 7, Cancellation: TestContext.Current.CancellationToken));

        Assert.Equal(7, output.Seed);
        Assert.Equal(7, output.Config.GetType().GetProperty("Seed")!.GetValue(output.Config));
    }
}

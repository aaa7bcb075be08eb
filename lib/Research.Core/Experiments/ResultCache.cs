using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Research.Sweeps;
using TorchSharp;

namespace Research.Experiments;

/// <summary>
/// Finished results kept under what decides them: the experiment, its resolved config (keys sorted), the kit's commit,
/// TorchSharp, libtorch and the device (the sweep cells' hash). Off unless <see cref="Variable"/> names a folder: the
/// test suite sets it so that the reproduce test and the notebooks, which train the same workshop models, train each
/// once. A user's run, in the CLI or a notebook, always trains.
/// </summary>
public static class ResultCache
{
    /// <summary>The environment variable naming the cache folder.</summary>
    public const string Variable = "RESEARCH_RESULT_CACHE";

    /// <summary>The kit's JSON conventions, with the fields result.json leaves out ([JsonIgnore], e.g. moe-balance's
    /// expert loads by step) written too: a cached result is the whole result.</summary>
    public static JsonSerializerOptions Json { get; } = new(ExperimentConfigs.Json)
    {
        TypeInfoResolver = new DefaultJsonTypeInfoResolver { Modifiers = { IncludeIgnored } },
    };

    /// <summary>The cached result of <paramref name="experiment"/> for <paramref name="config"/>, or <paramref name="run"/>'s
    /// (then kept, when the cache is on).</summary>
    public static TResult Through<TConfig, TResult>(string experiment, TConfig config, torch.Device device, Func<TResult> run)
    {
        var folder = Environment.GetEnvironmentVariable(Variable);
        if (string.IsNullOrEmpty(folder)) return run();
        var resolved = JsonSerializer.SerializeToNode(config, ExperimentConfigs.Json)!.AsObject();
        var path = Path.Combine(folder, $"{experiment}-{SweepPlanner.Hash(experiment, resolved, SweepEnvironment.Current(device.ToString()))}.json");
        if (File.Exists(path)) return JsonSerializer.Deserialize<TResult>(File.ReadAllText(path), Json)!;
        var result = run();
        Directory.CreateDirectory(folder);
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(result, Json));
        return result;
    }

    private static void IncludeIgnored(JsonTypeInfo type)
    {
        // Stored fields only (a record's positional or init properties); a computed get-only one stays out.
        foreach (var property in type.Properties)
            if (property.AttributeProvider is PropertyInfo { CanWrite: true } p && p.GetCustomAttribute<JsonIgnoreAttribute>() is not null)
            {
                property.Get = p.GetValue;
                property.Set = p.SetValue;
                property.ShouldSerialize = null;
            }
    }
}

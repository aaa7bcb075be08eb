using System.Text.Json;
using System.Text.Json.Nodes;
using Research.Experiments;

namespace Research.Tests;

/// <summary>
/// The one <see cref="ResultCache"/> folder of this test run. Only the reproduce test and the kit's notebooks use it:
/// they train the same workshop models, and with it each model is trained once per run, whichever comes first. Every
/// other test trains what it checks (a determinism test must never compare a result with its cached copy).
/// </summary>
public static class SharedResults
{
    private static readonly Lazy<string> Shared = new(TestPaths.TempFolder);

    /// <summary>The folder (new for this test process, so no result outlives the build that made it).</summary>
    public static string Folder => Shared.Value;

    /// <summary>The environment that turns the cache on for a notebook kernel.</summary>
    public static IReadOnlyDictionary<string, string> Environment => new Dictionary<string, string> { [ResultCache.Variable] = Folder };

    /// <summary>Runs <paramref name="action"/> in this process with the cache on (tests run one at a time).</summary>
    public static T With<T>(Func<T> action)
    {
        var before = System.Environment.GetEnvironmentVariable(ResultCache.Variable);
        System.Environment.SetEnvironmentVariable(ResultCache.Variable, Folder);
        try { return action(); }
        finally { System.Environment.SetEnvironmentVariable(ResultCache.Variable, before); }
    }

    /// <summary>The experiments whose results are in the cache.</summary>
    public static IEnumerable<string> Experiments => Directory.GetFiles(Folder, "*.json").Select(ExperimentOf).Distinct().Order();

    // <id>-<SHA-256 in hex>.json
    private static string ExperimentOf(string file) => Path.GetFileNameWithoutExtension(file)[..^65];

    /// <summary>Each cached result read back as its experiment's result type and written again: the same JSON, so a
    /// notebook reading the cache sees every field the run produced.</summary>
    public static void AssertRoundTrips()
    {
        foreach (var file in Directory.GetFiles(Folder, "*.json"))
        {
            var experiment = ExperimentCatalog.All.Single(e => e.Id == ExperimentOf(file));
            var text = File.ReadAllText(file);
            var again = JsonSerializer.Serialize(JsonSerializer.Deserialize(text, experiment.Schema!.ResultType, ResultCache.Json), experiment.Schema.ResultType, ResultCache.Json);
            Xunit.Assert.True(JsonNode.DeepEquals(JsonNode.Parse(text), JsonNode.Parse(again)), $"{file} does not read back as {experiment.Schema.ResultType.Name}");
        }
    }
}

using System.Text.Json.Nodes;
using Research.Experiments;
using Research.Sweeps;
using Research.Tests.Cli;
using Xunit;

namespace Research.Tests.Sweeps;

public class JsonMergePatchTests
{
    // RFC 7386, Appendix A: the standard's own examples (original, patch, result).
    [Theory]
    [InlineData("""{"a":"b"}""", """{"a":"c"}""", """{"a":"c"}""")]
    [InlineData("""{"a":"b"}""", """{"b":"c"}""", """{"a":"b","b":"c"}""")]
    [InlineData("""{"a":"b"}""", """{"a":null}""", """{}""")]
    [InlineData("""{"a":"b","b":"c"}""", """{"a":null}""", """{"b":"c"}""")]
    [InlineData("""{"a":["b"]}""", """{"a":"c"}""", """{"a":"c"}""")]
    [InlineData("""{"a":"c"}""", """{"a":["b"]}""", """{"a":["b"]}""")]
    [InlineData("""{"a":{"b":"c"}}""", """{"a":{"b":"d","c":null}}""", """{"a":{"b":"d"}}""")]
    [InlineData("""{"a":[{"b":"c"}]}""", """{"a":[1]}""", """{"a":[1]}""")]
    [InlineData("""["a","b"]""", """["c","d"]""", """["c","d"]""")]
    [InlineData("""{"a":"b"}""", """["c"]""", """["c"]""")]
    [InlineData("""{"a":"foo"}""", "null", "null")]
    [InlineData("""{"a":"foo"}""", "\"bar\"", "\"bar\"")]
    [InlineData("""{"e":null}""", """{"a":1}""", """{"e":null,"a":1}""")]
    [InlineData("""[1,2]""", """{"a":"b","c":null}""", """{"a":"b"}""")]
    [InlineData("""{}""", """{"a":{"bb":{"ccc":null}}}""", """{"a":{"bb":{}}}""")]
    public void Rfc7386AppendixA(string original, string patch, string expected)
    {
        var target = JsonNode.Parse(original);
        var before = target?.ToJsonString();
        var result = JsonMergePatch.Apply(target, JsonNode.Parse(patch));
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(expected), result), $"got {result?.ToJsonString() ?? "null"}");
        Assert.Equal(before, target?.ToJsonString());   // the target is not changed
    }
}

public class MetricPathTests
{
    private static readonly JsonNode Result = JsonNode.Parse("""
        { "runs": [ { "name": "full", "task": "corpus", "depth": 0, "loss": 1.5 },
                    { "name": "mha", "task": "corpus", "depth": 1, "loss": 1.75 },
                    { "name": "mha", "task": "addition", "depth": 1, "loss": "NaN" } ],
          "seconds": 3 }
        """)!;

    [Theory]
    [InlineData("seconds", 3.0)]
    [InlineData("runs[0].loss", 1.5)]
    [InlineData("runs[name=full].loss", 1.5)]
    [InlineData("runs[name=mha,task=corpus].loss", 1.75)]
    [InlineData("runs[depth=1,task=corpus].loss", 1.75)]
    public void EvaluatesFieldsIndicesAndSelectors(string path, double expected) =>
        Assert.Equal(expected, MetricPath.Parse(path, "test").Evaluate(Result));

    [Fact]
    public void ReadsTheKitsNonFiniteLiterals() =>
        Assert.True(double.IsNaN(MetricPath.Parse("runs[task=addition].loss", "test").Evaluate(Result)));

    [Theory]
    [InlineData("runs[name=mha].loss", "selects 2 elements")]
    [InlineData("runs[name=gqa].loss", "selects 0 elements")]
    [InlineData("runs[5].loss", "has 3 elements")]
    [InlineData("runs[0].nope", "no field 'nope'")]
    [InlineData("runs[0]", "not a number")]
    public void MismatchesNameTheStep(string path, string message) =>
        Assert.Contains(message, Assert.Throws<MetricException>(() => MetricPath.Parse(path, "test").Evaluate(Result)).Message);

    [Theory]
    [InlineData("runs[0].validationLoss")]
    [InlineData("runs[name=full].validationLoss")]
    [InlineData("seconds")]
    public void PathsOfTheResultTypePassTheCheck(string path) =>
        MetricPath.Parse(path, "test").CheckAgainst(typeof(Research.V3Mini.V3MiniResult), "test");

    [Theory]
    [InlineData("runs[0].validationLos", "no field 'validationLos'")]
    [InlineData("runs[label=full].validationLoss", "no field 'label' to select on")]
    [InlineData("seconds[0]", "is not a list")]
    [InlineData("runs[0]", "not a number")]
    [InlineData("runs[0].name", "not a number")]
    [InlineData("runs..x", "not a step")]
    public void TypeCheckNamesWhatIsWrong(string path, string message) =>
        Assert.Contains(message, Assert.Throws<ConfigException>(() =>
            MetricPath.Parse(path, "metrics[0].path").CheckAgainst(typeof(Research.V3Mini.V3MiniResult), "metrics[0].path")).Message);
}

public class SweepFileTests
{
    private static string Examples => Path.Combine(TestPaths.RepoRoot, "data", "sweeps");

    [Fact]
    public void The_distill_pilot_resolves_on_seeds_no_distill_reference_uses()
    {
        // The pilot chose the distill config; its seeds must not be the references' own, or the choice would select on
        // the references' noise.
        var pilots = Directory.GetFiles(Path.Combine(Examples, "distill-pilot"), "*.json").Select(SweepFiles.Load).ToList();
        Assert.Equal(5, pilots.Count);
        var referenceSeeds = Research.Experiments.References.LoadShipped().Where(r => r.Experiment == "distill").SelectMany(r => r.Seeds).ToHashSet();
        Assert.NotEmpty(referenceSeeds);
        Assert.All(pilots, p =>
        {
            Assert.Equal("distill", p.Experiment.Id);
            Assert.Empty(p.Seeds.Intersect(referenceSeeds));
        });
    }

    [Fact]
    public void EveryExampleResolvesAgainstItsExperiment()
    {
        var files = Directory.GetFiles(Examples, "*.json");
        var experiments = files.Select(f => SweepFiles.Load(f).Experiment.Id).ToHashSet();
        // The issue's list: v3-mini, mtp, moe-balance, distill, r1-zero, a grid and the small one the tests use.
        Assert.Superset(new HashSet<string> { "v3-mini", "mtp", "moe-balance", "distill", "r1-zero" }, experiments);
        var grid = SweepFiles.Load(Path.Combine(Examples, "moe-topk-experts-grid.json"));
        Assert.Equal(6, grid.Arms.Count);   // 3 top-k × 2 expert counts
        Assert.Contains(grid.Arms, a => a.Name == "topK=1,experts=8");
        var cell = grid.CellConfig(grid.Arms.Single(a => a.Name == "topK=4,experts=8"), 3);
        Assert.Equal(4, (int)cell["router"]!["topK"]!);
        Assert.Equal(8, (int)cell["router"]!["experts"]!);
        Assert.Equal("sigmoid", (string)cell["router"]!["affinity"]!);   // the rest of the router is the base's
        Assert.Equal([3], cell["seeds"]!.AsArray().Select(s => (int)s!));
        Assert.Single(cell["strategies"]!.AsArray());                    // the sweep's shared patch
    }

    [Fact]
    public void A_cell_runs_its_one_seed()
    {
        var sweep = SweepFiles.Load(Path.Combine(Examples, "mtp-depths.json"));
        var config = sweep.CellConfig(sweep.Arms[1], 7);
        Assert.Equal([7], config["seeds"]!.AsArray().Select(s => (int)s!));
        Assert.Equal([1], config["depths"]!.AsArray().Select(d => (int)d!));
    }

    [Fact]
    public void SeedsAsACountMeanZeroToNMinusOne()
    {
        var sweep = SweepFiles.Load(Path.Combine(Examples, "v3-mini-ablations.json"));
        Assert.Equal(Enumerable.Range(0, 10), sweep.Seeds);
    }
}

/// <summary>Each bad sweep file: one "research:" line naming the problem, exit 2, nothing written.</summary>
public class SweepBadInputTests
{
    private const string Good = """
        { "experiment": "moe-balance", "seeds": [0, 1, 2],
          "arms": [ { "name": "a", "patch": { "training": { "steps": 5, "warmupSteps": 1, "logEvery": 5 } } }, { "name": "b", "patch": { "router": { "topK": 1 } } } ],
          "baseline": "a",
          "metrics": [ { "name": "loss", "path": "strategies[0].validationLoss", "direction": "lower" } ] }
        """;

    private static void AssertRefused(string json, string named)
    {
        var folder = TestPaths.TempFolder();
        var file = Path.Combine(folder, "sweep.json");
        File.WriteAllText(file, json);
        var outDir = Path.Combine(folder, "out");
        InProcessCli.AssertBadInput(InProcessCli.Run("sweep", "plan", file, "--out", outDir), named);
        Assert.False(Directory.Exists(outDir));
    }

    private static string With(string from, string to)
    {
        Assert.Contains(from, Good);
        return Good.Replace(from, to);
    }

    [Fact]
    public void TheGoodFilePlans()
    {
        var folder = TestPaths.TempFolder();
        var file = Path.Combine(folder, "sweep.json");
        File.WriteAllText(file, Good);
        var (exit, stdout, _) = InProcessCli.Run("sweep", "plan", file, "--out", Path.Combine(folder, "out"));
        Assert.Equal(0, exit);
        Assert.Contains("planned 6 cells (2 arms × 3 seeds)", stdout);
    }

    [Fact] public void UnknownExperiment() => AssertRefused(With("\"moe-balance\"", "\"moe-balanse\""), "unknown experiment 'moe-balanse'");
    [Fact] public void UnknownPatchFieldListsTheValidOnes() => AssertRefused(With("\"topK\": 1", "\"topk\": 1"), "no field 'topk' (did you mean 'topK'?); valid fields here: experts, topK");
    [Fact] public void UnknownTopLevelPatchField() => AssertRefused(With("\"training\": { \"steps\": 5, \"warmupSteps\": 1, \"logEvery\": 5 }", "\"trainning\": 5"), "no field 'trainning'");
    [Fact] public void UnknownGridPath() => AssertRefused(With("\"baseline\"", "\"grid\": { \"router.topKay\": [1, 2] }, \"baseline\""), "no field 'topKay'");
    [Fact] public void PatchValueTheExperimentRefuses() => AssertRefused(With("\"topK\": 1", "\"topK\": 99"), "arm 'b'");
    [Fact] public void MetricPathNotInTheResult() => AssertRefused(With("validationLoss", "validationLos"), "no field 'validationLos'");
    [Fact] public void MetricWithoutDirection() => AssertRefused(With(", \"direction\": \"lower\"", ""), "direction is required; allowed values: lower, higher");
    [Fact] public void SeedsEmpty() => AssertRefused(With("[0, 1, 2]", "[]"), "seeds: the list is empty");
    [Fact] public void SeedsNegative() => AssertRefused(With("[0, 1, 2]", "[0, -1]"), "seeds must be ≥ 0");
    [Fact] public void SeedsRepeated() => AssertRefused(With("[0, 1, 2]", "[0, 1, 1]"), "seed 1 is listed twice");
    [Fact] public void ArmNamedTwice() => AssertRefused(With("\"name\": \"b\"", "\"name\": \"a\""), "the arm 'a' is named twice");
    [Fact] public void BaselineNotAnArm() => AssertRefused(With("\"baseline\": \"a\"", "\"baseline\": \"c\""), "'c' is not an arm; arms: a, b");
    [Fact] public void UnknownSweepField() => AssertRefused(With("\"baseline\"", "\"baselin\": 1, \"baseline\""), "baselin");
    [Fact] public void ArmNameThatCannotBeAFolder() => AssertRefused(With("\"name\": \"b\"", "\"name\": \"../b\""), "not a usable arm name");
    [Fact] public void ExperimentWithoutSeed() => AssertRefused(With("\"moe-balance\"", "\"efficiency\""), "has no seed");
    [Fact] public void MissingFile() => InProcessCli.AssertBadInput(InProcessCli.Run("sweep", "plan", "/nonexistent/sweep.json", "--out", TestPaths.TempFolder() + "/o"), "does not exist");
}

using System.Text.Json;
using Research.Charts;
using Research.Cli;
using Xunit;

namespace Research.Tests.Cli;

public sealed class CliTests
{
    private static (int Exit, string Out, string Err) Research(params string[] args) => InProcessCli.Run(args);

    private static string TinyConfig(string folder, string json = """{ "sizes": [8, 16], "repeats": 2, "warmup": 0, "seeds": [1] }""")
    {
        var path = Path.Combine(folder, "tiny.json");
        File.WriteAllText(path, json);
        return path;
    }

    [Fact]
    public void Doctor_json_reports_a_working_TorchSharp()
    {
        var (exit, output, _) = Research("doctor", "--json");

        Assert.Equal(ExitCodes.Ok, exit);
        var report = JsonDocument.Parse(output).RootElement;
        Assert.True(report.GetProperty("healthy").GetBoolean());
        Assert.Equal("cpu", report.GetProperty("backend").GetString());
        Assert.Equal("0.107.0", report.GetProperty("torchSharp").GetString());
        Assert.StartsWith("2.10", report.GetProperty("libTorch").GetString());
        var checks = report.GetProperty("checks").EnumerateArray().ToList();
        Assert.Equal(["matmul", "autograd", "float8"], checks.Select(c => c.GetProperty("name").GetString()));
        Assert.All(checks, c => Assert.True(c.GetProperty("passed").GetBoolean(), c.GetProperty("detail").GetString()));
        Assert.True(report.GetProperty("compatibilityFix").TryGetProperty("fixActive", out _));
        // The notebook kernel: the one the repo's tool manifest pins, started over stdio as VS Code starts it.
        var kernel = report.GetProperty("kernel");
        Assert.True(kernel.GetProperty("starts").GetBoolean(), kernel.GetProperty("detail").GetString());
        var pinned = kernel.GetProperty("pinnedVersion").GetString();
        Assert.Equal(PinnedKernelVersion(), pinned);
        Assert.StartsWith(pinned + "+", kernel.GetProperty("version").GetString());
        Assert.Contains("2026-04-24", kernel.GetProperty("deprecated").GetString());
        Assert.Contains("dotnet/interactive/issues/4163", kernel.GetProperty("deprecated").GetString());
        // The three routes to the notebooks: Polyglot works when the stdio kernel does; this machine has .NET 10 for
        // file-based apps; Jupyter with the kit's kernelspec where .ci/run installed it.
        var routes = report.GetProperty("notebookRoutes").EnumerateArray().ToDictionary(r => r.GetProperty("name").GetString()!, r => r);
        Assert.Equal(["polyglot", "jupyter", "app"], routes.Keys);
        Assert.True(routes["polyglot"].GetProperty("works").GetBoolean());
        Assert.True(routes["app"].GetProperty("works").GetBoolean(), routes["app"].GetProperty("detail").GetString());
        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
            Assert.True(routes["jupyter"].GetProperty("works").GetBoolean(), routes["jupyter"].GetProperty("detail").GetString());
    }

    // Read from the manifest itself, so the test follows a deliberate bump of the pin.
    private static string PinnedKernelVersion() =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(TestPaths.RepoRoot, ".config", "dotnet-tools.json"))).RootElement
            .GetProperty("tools").GetProperty("microsoft.dotnet-interactive").GetProperty("version").GetString()!;

    [Fact]
    public void Run_writes_json_csv_and_an_offline_chart_page_and_prints_the_same_json()
    {
        var folder = TestPaths.TempFolder();

        var (exit, output, error) = Research("run", "matmul-throughput", "--config", TinyConfig(folder), "--out", folder, "--json", "--seed", "7");

        Assert.True(exit == ExitCodes.Ok, error);
        var printed = JsonDocument.Parse(output).RootElement;
        Assert.Equal("matmul-throughput", printed.GetProperty("id").GetString());
        Assert.Equal([7], printed.GetProperty("seeds").EnumerateArray().Select(s => s.GetInt32()));
        var points = printed.GetProperty("result").GetProperty("perSeed")[0].GetProperty("result").GetProperty("points").EnumerateArray().ToList();
        Assert.Equal([8, 16], points.Select(p => p.GetProperty("size").GetInt32()));
        Assert.All(points, p => Assert.True(p.GetProperty("bestGflops").GetDouble() >= p.GetProperty("medianGflops").GetDouble()));

        var dir = Path.Combine(folder, "matmul-throughput");
        var stored = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "result.json"))).RootElement;
        Assert.Equal(printed.GetProperty("result").ToString(), stored.GetProperty("result").ToString());
        var csv = File.ReadAllLines(Path.Combine(dir, "throughput.csv"));
        Assert.Equal("size,median_ms,best_ms,median_gflops,best_gflops", csv[0]);
        Assert.Equal(3, csv.Length);
        var page = File.ReadAllText(Path.Combine(dir, "index.html"));
        Assert.Contains(ChartHtml.PlotlyJs[..2000], page);          // plotly.js inline: works offline
        Assert.Contains("id=\"gflops-by-size\"", page);
        Assert.Empty(Directory.GetDirectories(folder, ".*"));      // no temporary folders left behind
    }

    [Fact]
    public void Reproduce_runs_every_experiment_and_links_every_chart_from_the_index()
    {
        // Workshop sizes keep the suite within its time; the full sizes are the same code with bigger numbers, and
        // every experiment's default config is loaded and validated by its own tests.
        var folder = TestPaths.TempFolder();

        // The notebooks train five of these models too; the run's shared cache trains each once (SharedResults).
        var (exit, output, error) = SharedResults.With(() => Research("reproduce", "--workshop", "--out", folder));

        Assert.True(exit == ExitCodes.Ok, error);
        Assert.Subset(SharedResults.Experiments.ToHashSet(), new HashSet<string> { "distill", "fp8-training", "mla-quality", "moe-balance", "mtp", "r1-zero", "v3-mini" });
        SharedResults.AssertRoundTrips();
        var index = File.ReadAllText(Path.Combine(folder, "index.html"));
        foreach (var experiment in global::Research.Experiments.ExperimentCatalog.All)
        {
            Assert.True(File.Exists(Path.Combine(folder, experiment.Id, "result.json")), experiment.Id);
            Assert.Contains($"href=\"{experiment.Id}/index.html", index);
        }
        Assert.Contains("matmul-throughput/index.html#gflops-by-size", index);
        int count = global::Research.Experiments.ExperimentCatalog.All.Count;
        Assert.Contains($"reproduced {count} of {count}", output);
        // --workshop reached the experiments: each ran its workshop config where it has one, else its default.
        foreach (var experiment in global::Research.Experiments.ExperimentCatalog.All)
        {
            var expected = global::Research.Experiments.ExperimentConfigs.EmbeddedWorkshop(experiment.Id)
                ?? global::Research.Experiments.ExperimentConfigs.EmbeddedDefault(experiment.Id)!;
            var ran = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, experiment.Id, "result.json"))).RootElement.GetProperty("config");
            AssertSameJson(JsonDocument.Parse(expected).RootElement, ran, experiment.Id);
        }

        // The README's gallery is drawn from these outputs' figures (here the workshop sizes'), one PNG per picture.
        global::Research.Tests.Browser.HeadlessChromium.RequireChromium();
        var gallery = Path.Combine(folder, "gallery");
        var drawn = Research("gallery", "--from", folder, "--out", gallery);
        Assert.True(drawn.Exit == ExitCodes.Ok, drawn.Err);
        foreach (var picture in global::Research.Experiments.Gallery.Pictures)
        {
            var figure = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, picture.Experiment, "charts", picture.Chart + ".json"))).RootElement;
            var png = global::Research.Tests.Charts.PngPixels.Decode(File.ReadAllBytes(Path.Combine(gallery, picture.File)));
            // Drawn at the size the chart builder gave the figure, and not blank.
            Assert.Equal((figure.GetProperty("layout").GetProperty("width").GetInt32(), figure.GetProperty("layout").GetProperty("height").GetInt32()), (png.Width, png.Height));
            Assert.True(png.DominantShare() < 0.95, $"{picture.File} is nearly one colour");
        }
    }

    [Fact]
    public void Gallery_without_a_reproduction_is_bad_input_naming_the_command_that_makes_one()
    {
        var folder = TestPaths.TempFolder();

        InProcessCli.AssertBadInput(Research("gallery", "--from", folder, "--out", Path.Combine(folder, "pictures")), "research reproduce");
        Assert.False(Directory.Exists(Path.Combine(folder, "pictures")));
    }

    [Fact]
    public void The_readme_shows_every_gallery_picture_and_each_is_committed()
    {
        var readme = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "README.md"));
        foreach (var picture in global::Research.Experiments.Gallery.Pictures)
        {
            Assert.Contains($"(data/gallery/{picture.File})", readme);
            var png = global::Research.Tests.Charts.PngPixels.Decode(File.ReadAllBytes(Path.Combine(TestPaths.RepoRoot, "data", "gallery", picture.File)));
            Assert.True(png.Width >= 400, picture.File);
        }
    }

    // Same values, ignoring property-name case and order; the stored config also holds fields a file may leave at
    // their default, so only the file's own fields are compared.
    private static void AssertSameJson(JsonElement expected, JsonElement actual, string where)
    {
        switch (expected.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var property in expected.EnumerateObject())
                {
                    var match = actual.EnumerateObject().Where(a => string.Equals(a.Name, property.Name, StringComparison.OrdinalIgnoreCase)).ToList();
                    Assert.True(match.Count == 1, $"{where}.{property.Name} missing from the stored config");
                    AssertSameJson(property.Value, match[0].Value, $"{where}.{property.Name}");
                }
                break;
            case JsonValueKind.Array:
                var (e, a) = (expected.EnumerateArray().ToList(), actual.EnumerateArray().ToList());
                Assert.True(e.Count == a.Count, $"{where}: {e.Count} items expected, {a.Count} stored");
                for (var i = 0; i < e.Count; i++) AssertSameJson(e[i], a[i], $"{where}[{i}]");
                break;
            case JsonValueKind.Number:
                Assert.True(expected.GetDouble() == actual.GetDouble(), $"{where}: {expected} expected, {actual} stored");
                break;
            case JsonValueKind.String:
                Assert.True(string.Equals(expected.GetString(), actual.GetString(), StringComparison.OrdinalIgnoreCase), $"{where}: {expected} expected, {actual} stored");
                break;
            default:
                Assert.True(expected.ValueKind == actual.ValueKind, $"{where}: {expected} expected, {actual} stored");
                break;
        }
    }

    [Theory]
    [InlineData(new[] { "frobnicate" }, "frobnicate")]
    [InlineData(new[] { "run", "no-such-experiment" }, "matmul-throughput")]
    [InlineData(new[] { "run", "matmul-throughput", "--device", "tpu" }, "cpu, cuda")]
    [InlineData(new[] { "run", "matmul-throughput", "--config", "/nonexistent/config.json" }, "/nonexistent/config.json")]
    public void Bad_input_is_one_line_naming_the_thing_with_exit_code_2(string[] args, string named)
    {
        InProcessCli.AssertBadInput(Research(args), named);
    }

    [Theory]
    [InlineData("""{ "sizez": [8] }""", "sizez")]
    [InlineData("""{ "sizes": [0, 8] }""", "Sizes")]
    [InlineData("""{ "sizes": [8], "repeats": 0 }""", "Repeats")]
    [InlineData("""{ "sizes": "big" }""", "sizes")]
    [InlineData("""{ "sizes": [8] """, "tiny.json")]
    public void A_bad_config_names_the_field_and_writes_nothing(string json, string named)
    {
        var folder = TestPaths.TempFolder();
        var config = TinyConfig(folder, json);
        var outDir = Path.Combine(folder, "out");

        var (exit, _, error) = Research("run", "matmul-throughput", "--config", config, "--out", outDir);

        Assert.Equal(ExitCodes.BadInput, exit);
        Assert.Contains(named, error);
        Assert.False(Directory.Exists(Path.Combine(outDir, "matmul-throughput")));
    }

    [Fact]
    public void An_unwritable_output_folder_is_reported_before_any_work()
    {
        var folder = TestPaths.TempFolder();
        var file = Path.Combine(folder, "a-file");
        File.WriteAllText(file, "");

        var (exit, _, error) = Research("run", "matmul-throughput", "--out", Path.Combine(file, "out"));

        Assert.Equal(ExitCodes.BadInput, exit);
        Assert.Contains("not writable", error);
        Assert.Contains("a-file", error);
    }

    [Fact]
    public void The_built_command_exits_non_zero_on_bad_input()
    {
        var (exit, _, error) = TestPaths.RunDotnet(TestPaths.Built("Research.Cli", "research.dll"), ["run", "no-such-experiment"]);

        Assert.Equal(ExitCodes.BadInput, exit);
        Assert.Contains("unknown experiment 'no-such-experiment'", error);
    }
}

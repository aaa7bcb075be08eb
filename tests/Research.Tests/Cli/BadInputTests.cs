using System.Reflection;
using System.Text.Json.Nodes;
using Research.Experiments;
using Xunit;

namespace Research.Tests.Cli;

/// <summary>
/// Input that used to crash or mislead (issue #29 part 4): each is one "research:" line naming the field, exit 2, and
/// no output folder. Everything here is refused before a tensor is allocated, so the tests take milliseconds.
/// </summary>
public sealed class BadInputTests
{
    // The embedded default of an experiment with one change: a file must be complete, so tests patch a real config.
    private static string Patched(string id, Action<JsonObject> change)
    {
        var config = JsonNode.Parse(ExperimentConfigs.EmbeddedDefault(id)!)!.AsObject();
        change(config);
        return config.ToJsonString();
    }

    [Theory]
    [InlineData("v3-mini", """{ "training": null }""", "training")]
    [InlineData("mla-quality", """{ "variants": [null] }""", "variants[0]")]
    [InlineData("distill", """{ "methods": [null] }""", "methods[0]")]
    [InlineData("mtp", """{ "depths": null }""", "depths")]
    public void Null_for_an_object_or_a_list_element_names_the_field(string id, string json, string named)
    {
        InProcessCli.AssertBadConfig(id, json, named);
    }

    [Fact]
    public void Null_in_any_field_of_any_experiments_config_is_refused_or_means_the_default_never_a_crash()
    {
        // Given every experiment's default config with one top-level field set to null at a time
        foreach (var definition in ExperimentCatalog.All.Where(d => d.Schema is not null))
        {
            var load = typeof(ExperimentConfigs).GetMethod(nameof(ExperimentConfigs.Load))!.MakeGenericMethod(definition.Schema!.ConfigType);
            var names = JsonNode.Parse(ExperimentConfigs.EmbeddedDefault(definition.Id)!)!.AsObject().Select(p => p.Key).ToList();
            foreach (var name in names)
            {
                var folder = TestPaths.TempFolder();
                var path = Path.Combine(folder, "null.json");
                File.WriteAllText(path, Patched(definition.Id, c => c[name] = null));
                try
                {
                    // When it loads (a nullable field: null is its default), it validates without a crash
                    var config = load.Invoke(null, [definition.Id, path, false])!;
                    definition.Schema.Validate(config);
                }
                catch (TargetInvocationException e) when (e.InnerException is ConfigException c)
                {
                    // Then a refusal names the field
                    Assert.Contains(name, c.Message, StringComparison.OrdinalIgnoreCase);
                }
                catch (ConfigException c)
                {
                    Assert.Contains(name, c.Message, StringComparison.OrdinalIgnoreCase);
                }
            }
        }
    }

    [Fact]
    public void Every_shipped_config_passes_the_stricter_checks_and_fits_in_memory()
    {
        foreach (var definition in ExperimentCatalog.All.Where(d => d.Schema is not null))
            foreach (bool workshop in new[] { false, true })
            {
                var load = typeof(ExperimentConfigs).GetMethod(nameof(ExperimentConfigs.Load))!.MakeGenericMethod(definition.Schema!.ConfigType);
                definition.Schema.Validate(load.Invoke(null, [definition.Id, null, workshop])!);
            }
    }

    [Theory]
    [InlineData("""{ "seeds": [0], "seeds": [1] }""")]
    [InlineData("""{ "seeds": [0], "Seeds": [1] }""")]
    public void A_key_given_twice_even_in_another_case_is_refused(string json)
    {
        InProcessCli.AssertBadConfig("v3-mini", json, "Duplicate property 'seeds'");
    }

    [Fact]
    public void A_config_path_that_is_a_directory_says_so()
    {
        var folder = TestPaths.TempFolder();
        var output = Path.Combine(folder, "out");

        var run = InProcessCli.Run("run", "matmul-throughput", "--config", folder, "--out", output);

        InProcessCli.AssertBadInput(run, "is a directory");
        Assert.False(Directory.Exists(Path.Combine(output, "matmul-throughput")));
    }

    [Fact]
    public void An_unreadable_config_file_says_it_cannot_be_read()
    {
        Assert.SkipWhen(OperatingSystem.IsWindows() || Environment.UserName == "root", "needs a POSIX user that file permissions apply to");
        var folder = TestPaths.TempFolder();
        var path = Path.Combine(folder, "secret.json");
        File.WriteAllText(path, "{}");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.None);

        var run = InProcessCli.Run("run", "matmul-throughput", "--config", path, "--out", Path.Combine(folder, "out"));

        InProcessCli.AssertBadInput(run, "cannot be read");
    }

    [Theory]
    [InlineData("distill", "teacher")]
    [InlineData("mla-quality", "model")]
    [InlineData("mtp", "corpusModel")]
    public void A_model_too_wide_and_deep_for_memory_is_refused_with_its_estimate(string id, string model)
    {
        var json = Patched(id, c =>
        {
            c[model] ??= new JsonObject();
            c[model]!["hiddenSize"] = 65536;
            c[model]!["numHiddenLayers"] = 1000;
            c[model]!["numAttentionHeads"] = 4;
        });

        InProcessCli.AssertBadConfig(id, json, "hidden_size 65536 × num_hidden_layers 1000");
    }

    [Fact]
    public void R1_zero_rollouts_too_large_for_memory_are_refused_with_their_estimate()
    {
        var json = Patched("r1-zero", c =>
        {
            c["grpo"]!["promptsPerStep"] = 65536;
            c["grpo"]!["groupSize"] = 1024;
        });

        InProcessCli.AssertBadConfig("r1-zero", json, "Grpo.PromptsPerStep 65536 × Grpo.GroupSize 1024");
        InProcessCli.AssertBadConfig("r1-zero", json, "exceeds the memory limit");
    }

    [Fact]
    public void A_million_validation_examples_in_one_forward_are_refused_with_their_estimate()
    {
        var json = Patched("distill", c =>
        {
            c["validationExamples"] = 1_000_000;
            c["teacher"]!["hiddenSize"] = 1024;
            c["teacher"]!["numAttentionHeads"] = 8;
            c["teacher"]!["intermediateSize"] = 2752;
        });

        InProcessCli.AssertBadConfig("distill", json, "ValidationExamples 1000000");
    }

    [Fact]
    public void A_negative_seed_on_the_command_line_is_refused()
    {
        var output = Path.Combine(TestPaths.TempFolder(), "out");

        InProcessCli.AssertBadInput(InProcessCli.Run("run", "matmul-throughput", "--seed", "-1", "--out", output), "--seed");
        Assert.False(Directory.Exists(output));
    }

    [Theory]
    [InlineData(new[] { "--seeds", "0,1,1" }, "--seeds lists a seed twice")]
    [InlineData(new[] { "--seeds", "0,-1" }, "--seeds: '-1' is not a seed")]
    [InlineData(new[] { "--seeds", "x" }, "--seeds: 'x' is not a seed")]
    [InlineData(new[] { "--seeds", "0" }, "--seeds: a count must be in 1..100")]
    [InlineData(new[] { "--seeds", "101" }, "--seeds: a count must be in 1..100")]
    [InlineData(new[] { "--seed", "1", "--seeds", "2" }, "give --seed or --seeds, not both")]
    public void Bad_seeds_on_the_command_line_are_refused_naming_the_option(string[] options, string named)
    {
        var output = Path.Combine(TestPaths.TempFolder(), "out");

        InProcessCli.AssertBadInput(InProcessCli.Run(["run", "matmul-throughput", .. options, "--out", output]), named);
        Assert.False(Directory.Exists(output));
    }

    [Theory]
    [InlineData("matmul-throughput", """{ "sizes": [8], "seeds": [-1] }""", "Seeds")]
    [InlineData("fp8-formats", """{ "formats": ["e4m3"], "seeds": [0, -3] }""", "Seeds")]
    public void A_negative_seed_in_a_config_is_refused(string id, string json, string named)
    {
        InProcessCli.AssertBadConfig(id, json, named);
    }

    [Theory]
    [InlineData("distill", "temperatureSweep", "[2, 2]", "TemperatureSweep")]
    [InlineData("matmul-throughput", "sizes", "[8, 8]", "Sizes")]
    [InlineData("mtp", "depths", "[0, 1, 1]", "Depths")]
    [InlineData("v3-mini", "runs", """["full", "full"]""", "Runs")]
    [InlineData("fp8-scaling", "outlierGains", "[1, 10, 10]", "OutlierGains")]
    [InlineData("efficiency", "batches", "[1, 1]", "Batches")]
    public void A_list_repeating_a_value_is_refused(string id, string field, string list, string named)
    {
        InProcessCli.AssertBadConfig(id, Patched(id, c => c[field] = JsonNode.Parse(list)), named);
    }
}

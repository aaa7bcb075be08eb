using System.Text.Json;
using Plotly.NET;
using Research.Cli;
using Research.Experiments;
using Research.Mla;
using Research.Tests.Cli;
using Xunit;

namespace Research.Tests.Mla;

public sealed class MlaCacheExperimentTests
{
    private static readonly MlaCacheResult Result = MlaCacheExperiment.Run(new MlaCacheConfig());

    [Fact]
    public void The_embedded_config_is_the_record_default()
    {
        var embedded = ExperimentConfigs.Load<MlaCacheConfig>(MlaCacheExperiment.Id);
        Assert.Equal(JsonSerializer.Serialize(new MlaCacheConfig(), ExperimentConfigs.Json), JsonSerializer.Serialize(embedded, ExperimentConfigs.Json));
        Assert.Contains(ExperimentCatalog.All, e => e.Id == MlaCacheExperiment.Id);
    }

    [Fact]
    public void Rows_reproduce_HW25_and_stop_at_each_models_max_context()
    {
        var v3 = Result.Presets.Single(p => p.Name == "deepseek-v3");
        Assert.Equal(70_272, v3.BytesPerToken);                                                     // HW25 Table 1
        Assert.Equal(327_680, Result.Presets.Single(p => p.Name == "qwen2.5-72b").BytesPerToken);
        Assert.Equal(516_096, Result.Presets.Single(p => p.Name == "llama3.1-405b").BytesPerToken);
        Assert.Equal(Result.Contexts, v3.Contexts);
        Assert.Equal([1024, 2048, 4096], Result.Presets.Single(p => p.Name == "deepseek-67b").Contexts);
        Assert.All(Result.Presets, p => Assert.Equal(p.Contexts.Select(c => c * p.BytesPerToken), p.TotalBytes));
        Assert.Equal(0.933, Result.V2SavingDeployed, 3);       // V2 abstract
        Assert.Equal(0.822, Result.V2SavingSameDtype, 3);
    }

    [Fact]
    public void Variants_follow_V2_Table_1_at_DeepSeek_V2_dims()
    {
        const long dh = 128, l = 60, nh = 128;
        Assert.Equal(["MHA", "GQA (32 groups)", "GQA (8 groups)", "GQA (2 groups)", "MQA", "MLA"], Result.Variants.Select(v => v.Name));
        Assert.Equal([2 * nh * dh * l, 2 * 32 * dh * l, 2 * 8 * dh * l, 2 * 2 * dh * l, 2 * dh * l, (long)(4.5 * dh * l)],
            Result.Variants.Select(v => v.ElementsPerToken));
    }

    [Fact]
    public void Charts_carry_the_numbers_names_and_axis_units()
    {
        var bars = JsonDocument.Parse(GenericChart.toFigureJson(KvCacheCharts.BytesPerToken(Result))).RootElement;
        var traces = bars.GetProperty("data").EnumerateArray().ToList();
        Assert.Equal(["MLA: (d_c + d_h^R)·l", "GQA: 2·n_g·d_h·l"], traces.Select(t => t.GetProperty("name").GetString()));
        Assert.Equal(["deepseek-v3", "deepseek-v2", "deepseek-v2-lite"], traces[0].GetProperty("x").EnumerateArray().Select(x => x.GetString()));
        Assert.Equal([70.272, 69.12, 31.104], traces[0].GetProperty("y").EnumerateArray().Select(y => y.GetDouble()));
        Assert.Contains(327.68, traces[1].GetProperty("y").EnumerateArray().Select(y => y.GetDouble()));
        Assert.Contains("KB per token", bars.GetProperty("layout").GetProperty("yaxis").GetProperty("title").GetProperty("text").GetString());

        var lines = JsonDocument.Parse(GenericChart.toFigureJson(KvCacheCharts.TotalByContext(Result))).RootElement;
        var series = lines.GetProperty("data").EnumerateArray().ToList();
        Assert.Equal(Result.Presets.Select(p => p.Name), series.Select(t => t.GetProperty("name").GetString()));
        Assert.Equal(70_272L * 131_072 / 1e9, series[0].GetProperty("y").EnumerateArray().Last().GetDouble(), 12);
        var layout = lines.GetProperty("layout");
        Assert.Equal("log", layout.GetProperty("xaxis").GetProperty("type").GetString());
        Assert.Equal("log", layout.GetProperty("yaxis").GetProperty("type").GetString());
        Assert.Contains("tokens", layout.GetProperty("xaxis").GetProperty("title").GetProperty("text").GetString());
        Assert.Contains("GB", layout.GetProperty("yaxis").GetProperty("title").GetProperty("text").GetString());

        var variants = JsonDocument.Parse(GenericChart.toFigureJson(KvCacheCharts.Variants(Result))).RootElement;
        Assert.Equal(Result.Variants.Select(v => (double)v.ElementsPerToken), variants.GetProperty("data")[0].GetProperty("y").EnumerateArray().Select(y => y.GetDouble()));
        Assert.Equal("log", variants.GetProperty("layout").GetProperty("yaxis").GetProperty("type").GetString());
    }

    [Theory]
    [InlineData("""{ "presets": ["gpt-5"] }""", "unknown preset 'gpt-5'")]
    [InlineData("""{ "contexts": [4096, 1024] }""", "MlaCacheConfig.Contexts must be strictly increasing")]
    [InlineData("""{ "contexts": [0] }""", "MlaCacheConfig.Contexts must be a non-empty list")]
    [InlineData("""{ "variantsOf": "qwen2.5-72b" }""", "MlaCacheConfig.VariantsOf must be an MLA preset")]
    [InlineData("""{ "gqaGroups": [3] }""", "MlaCacheConfig.GqaGroups entries must divide the heads of 'deepseek-v2' (n_h = 128) (got 3)")]
    [InlineData("""{ "dtype": "int4" }""", "dtype")]
    [InlineData("""{ "contxts": [1024] }""", "contxts")]
    public void Bad_configs_exit_2_naming_the_field(string json, string expected)
    {
        var folder = TestPaths.TempFolder();
        var path = Path.Combine(folder, "bad.json");
        File.WriteAllText(path, json);

        var (exit, stdout, stderr) = InProcessCli.Run("run", MlaCacheExperiment.Id, "--config", path, "--out", Path.Combine(folder, "out"));

        Assert.Equal(ExitCodes.BadInput, exit);
        Assert.Contains(expected, stderr);
        Assert.Equal("", stdout);
        Assert.False(Directory.Exists(Path.Combine(folder, "out", MlaCacheExperiment.Id)));
    }
}

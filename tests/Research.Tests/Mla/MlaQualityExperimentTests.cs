using System.Text.Json;
using Plotly.NET;
using Research.Cli;
using Research.Data;
using Research.Experiments;
using Research.Mla;
using Research.Tests.Cli;
using Research.Training;
using Xunit;
using static TorchSharp.torch;

namespace Research.Tests.Mla;

public sealed class MlaQualityExperimentTests
{
    // Seconds: one layer of width 32 (4 heads of d_h = 8), sequences of 16, 20 steps.
    internal static readonly MlaQualityConfig Tiny = new()
    {
        Corpus = new(SequenceLength: 16),
        Model = new MlaQualityConfig().Model with { HiddenSize = 32, NumHiddenLayers = 1, NumAttentionHeads = 4, IntermediateSize = 48, MaxPositionEmbeddings = 16 },
        Training = new(Steps: 20, LearningRate: 3e-3, WarmupSteps: 4, LogEvery: 10),
        BatchSize = 8,
        ValidationBatches = 2,
        Variants =
        [
            new("mha", AttentionKind.Mha),
            new("gqa-2", AttentionKind.Gqa, NumKeyValueHeads: 2),
            new("mqa", AttentionKind.Mqa),
            new("mla", AttentionKind.Mla, KvLoraRank: 16, QkRopeHeadDim: 4),
        ],
        DecodePrompts = 3,
        DecodePromptLength = 6,
        DecodeTokens = 8,
    };

    // One run of the tiny config, shared by the tests that only read its numbers.
    private static readonly Lazy<MlaQualityResult> TinyRun = new(() => MlaQualityExperiment.Run(Tiny, CPU).First);

    [Fact]
    public void The_embedded_config_is_the_record_default()
    {
        var embedded = ExperimentConfigs.Load<MlaQualityConfig>(MlaQualityExperiment.Id);
        Assert.Equal(JsonSerializer.Serialize(new MlaQualityConfig(), ExperimentConfigs.Json), JsonSerializer.Serialize(embedded, ExperimentConfigs.Json));
    }

    [Fact]
    public void Cache_elements_per_token_are_the_closed_forms_of_V2_table_1()
    {
        var result = TinyRun.Value;
        int dh = Tiny.Model.DenseHeadDim, layers = Tiny.Model.NumHiddenLayers;

        Assert.Equal(["mha", "gqa-2", "mqa", "mla"], result.Variants.Select(v => v.Name));
        var expected = new long[] { 2 * 4 * dh, 2 * 2 * dh, 2 * 1 * dh, 16 + 4 };   // 2·n_g·d_h; d_c + d_h^R
        Assert.Equal(expected, result.Variants.Select(v => v.CacheElementsPerTokenPerLayer));
        Assert.Equal([4, 2, 1, 0], result.Variants.Select(v => v.NumKeyValueHeads));
        foreach (var v in result.Variants)
        {
            Assert.Equal(v.CacheElementsPerTokenPerLayer * layers, v.CacheElementsPerToken);
            Assert.Equal(4 * v.CacheElementsPerToken, v.CacheBytesPerTokenFloat32);
            Assert.Equal(2 * v.CacheElementsPerToken, v.CacheBytesPerTokenBf16);
        }
    }

    [Fact]
    public void Every_variant_matches_the_MHA_parameter_budget_within_the_tolerance()
    {
        var result = TinyRun.Value;
        var m = Tiny.Model;
        long d = m.HiddenSize, h = m.NumAttentionHeads, dh = m.DenseHeadDim;
        // Given: the budget is MHA's count, by hand: embeddings and head, 2L + 1 norm gains, W^Q W^K W^V W^O, SwiGLU.
        long budget = 2 * m.VocabSize * d + (2 * m.NumHiddenLayers + 1) * d + m.NumHiddenLayers * (4 * d * h * dh + 3 * d * m.IntermediateSize);
        Assert.Equal(budget, result.ParameterBudget);
        // Attention per block, by hand: W^Q, W^O and n_g heads of W^K, W^V; MLA's W^Q with rope part, [W^DKV; W^KR],
        // the latent's norm gain, [W^UK; W^UV] and W^O.
        long Csa(long groups) => 2 * d * h * dh + 2 * d * groups * dh;
        long mla = d * h * (dh + 4) + d * (16 + 4) + 16 + 16 * h * 2 * dh + h * dh * d;
        long[] attention = [Csa(4), Csa(2), Csa(1), mla];
        Assert.Equal(attention, result.Variants.Select(v => v.AttentionParameters));

        foreach (var (v, a) in result.Variants.Zip(attention))
        {
            // Then: each variant's count by hand (MHA's budget with its attention and its feed-forward width), within the
            // stated tolerance and the rule's rounding bound.
            Assert.Equal(2 * m.VocabSize * d + (2 * m.NumHiddenLayers + 1) * d + m.NumHiddenLayers * (a + 3 * d * v.FfnHidden), v.Parameters);
            Assert.True(Math.Abs(v.Parameters - budget) <= 1.5 * d * m.NumHiddenLayers, $"{v.Name}: {v.Parameters} vs {budget}");
            Assert.True(Math.Abs(v.ParameterGap) <= Tiny.ParameterTolerance, v.Name);
            Assert.Equal((double)(v.Parameters - budget) / budget, v.ParameterGap, 1e-12);
        }
        // Smaller key/value projections buy a wider feed-forward; MLA's up-projections cost some of it here.
        Assert.Equal([48, 59, 64, 46], result.Variants.Select(v => v.FfnHidden));
    }

    [Fact]
    public void Training_lowers_the_validation_loss_from_the_uniform_guess()
    {
        foreach (var v in TinyRun.Value.Variants)
        {
            // A freshly initialised model (σ = 0.02) predicts nearly uniformly over the 51 tokens: about ln 51 nats (its
            // small random logits still favour or disfavour the frequent characters, hence the margin).
            Assert.Equal(Math.Log(MultiDomainCorpus.VocabularySize), v.InitialValidationLoss, 0.15);
            Assert.True(v.ValidationLoss < v.InitialValidationLoss - 0.3, $"{v.Name}: {v.InitialValidationLoss} → {v.ValidationLoss}");
            Assert.True(double.IsFinite(v.FinalLoss));
            Assert.Equal([10, 20], v.Curve.Select(p => p.Step));
            Assert.Equal(v.ValidationLoss, v.Curve[^1].ValidationLoss!.Value);
            Assert.Equal(20L * Tiny.BatchSize * Tiny.Corpus.SequenceLength, v.Curve[^1].Tokens);
        }
    }

    [Fact]
    public void Cached_greedy_decoding_gives_the_full_forward_tokens_on_the_trained_weights()
    {
        foreach (var v in TinyRun.Value.Variants)
        {
            Assert.True(v.DecodingMatches, v.Name);
            Assert.InRange(v.DecodingMaxLogitError, 0, 1e-4);
        }
    }

    [Fact]
    public void Same_seed_gives_identical_numbers_and_another_seed_differs()
    {
        var config = Tiny with { Variants = [Tiny.Variants[3]], Training = Tiny.Training with { Steps = 8, LogEvery = 4 }, Seeds = [0, 1] };
        var seededA = MlaQualityExperiment.Run(config, CPU, cancellation: TestContext.Current.CancellationToken);
        var seededB = MlaQualityExperiment.Run(config, CPU, cancellation: TestContext.Current.CancellationToken);
        var (a, b) = (seededA.First, seededB.First);

        var (va, vb) = (a.Variants[0], b.Variants[0]);
        Assert.Equal((va.InitialValidationLoss, va.FinalLoss, va.ValidationLoss, va.DecodingMaxLogitError),
            (vb.InitialValidationLoss, vb.FinalLoss, vb.ValidationLoss, vb.DecodingMaxLogitError));
        Assert.Equal(va.Curve.Select(p => (p.TrainLoss, p.ValidationLoss, p.GradientNorm)), vb.Curve.Select(p => (p.TrainLoss, p.ValidationLoss, p.GradientNorm)));
        // Another seed draws other weights and batches: a different loss, the same at each run
        Assert.Equal([0, 1], seededA.PerSeed.Select(s => s.Seed));
        var (a1, b1) = (seededA.PerSeed[1].Result.Variants[0], seededB.PerSeed[1].Result.Variants[0]);
        Assert.Equal(a1.ValidationLoss, b1.ValidationLoss);
        Assert.NotEqual(va.ValidationLoss, a1.ValidationLoss);
    }

    [Theory]
    [InlineData("""{ "variants": [ { "name": "x", "kind": "mfa" } ] }""", "$.variants[0].kind")]
    [InlineData("""{ "variants": [ { "name": "g", "kind": "gqa", "numKeyValueHeads": 3 } ] }""", "MlaQualityConfig.Variants[0]: ModelConfig 'tiny': num_key_value_heads must divide num_attention_heads (4): allowed 1, 2, 4 (got 3)")]
    [InlineData("""{ "variants": [ { "name": "g", "kind": "gqa" } ] }""", "MlaQualityConfig.Variants[0].NumKeyValueHeads (n_g) must be set for kind gqa")]
    [InlineData("""{ "variants": [ { "name": "m", "kind": "mha" }, { "name": "l", "kind": "mla", "kvLoraRank": 32, "qkRopeHeadDim": 7 } ] }""", "MlaQualityConfig.Variants[1]: ModelConfig 'tiny': qk_rope_head_dim (d_h^R) must be even")]
    [InlineData("""{ "variants": [ { "name": "l", "kind": "mla", "qkRopeHeadDim": 8 } ] }""", "MlaQualityConfig.Variants[0].KvLoraRank (d_c) must be set for kind mla")]
    [InlineData("""{ "variants": [ { "name": "q", "kind": "mqa", "kvLoraRank": 32 } ] }""", "MlaQualityConfig.Variants[0].KvLoraRank is not used by kind mqa")]
    [InlineData("""{ "variants": [ { "name": "a", "kind": "mha" }, { "name": "a", "kind": "mqa" } ] }""", "MlaQualityConfig.Variants: the name 'a' is used twice")]
    [InlineData("""{ "decodeTokens": 60 }""", "MlaQualityConfig.DecodeTokens must be in 1..48")]
    [InlineData("""{ "seeds": [0, 0] }""", "MlaQualityConfig.Seeds lists 0 twice")]
    [InlineData("""{ "variants": [ { "name": "l", "kind": "mla", "kvLoraRank": 32, "qkRopeHeadDim": 512 } ] }""", "MlaQualityConfig.Variants[0]: its attention has more parameters")]
    public void Bad_configs_exit_2_naming_the_field_and_write_nothing(string json, string expected)
    {
        InProcessCli.AssertBadConfig(MlaQualityExperiment.Id, json, expected);
    }

    [Fact]
    public void Json_lists_each_variant_with_its_cache_parameters_losses_and_decoding_check()
    {
        var folder = TestPaths.TempFolder();
        var path = Path.Combine(folder, "tiny.json");
        File.WriteAllText(path, JsonSerializer.Serialize(Tiny with { Training = Tiny.Training with { Steps = 4, LogEvery = 2 } }, ExperimentConfigs.Json));

        var (exit, stdout, stderr) = InProcessCli.Run("run", MlaQualityExperiment.Id, "--config", path, "--out", Path.Combine(folder, "out"), "--json");

        Assert.True(exit == ExitCodes.Ok, stderr);
        var result = JsonDocument.Parse(stdout).RootElement.GetProperty("result").GetProperty("perSeed")[0].GetProperty("result");
        var variants = result.GetProperty("variants").EnumerateArray().ToList();
        Assert.Equal(["mha", "gqa-2", "mqa", "mla"], variants.Select(v => v.GetProperty("name").GetString()));
        Assert.Equal(["mha", "gqa", "mqa", "mla"], variants.Select(v => v.GetProperty("kind").GetString()));
        foreach (var v in variants)
        {
            foreach (var field in new[] { "validationLoss", "finalLoss", "seconds", "cacheElementsPerTokenPerLayer", "cacheBytesPerTokenBf16", "parameters" })
                Assert.True(double.IsFinite(v.GetProperty(field).GetDouble()), field);
            Assert.True(v.GetProperty("decodingMatches").GetBoolean());
            Assert.Equal(2, v.GetProperty("curve").GetArrayLength());
        }
        // MHA's count by hand, as in the budget test: embeddings and head, 2L + 1 norm gains, W^Q W^K W^V W^O, SwiGLU
        var m = Tiny.Model;
        Assert.Equal(2 * m.VocabSize * m.HiddenSize + (2 * m.NumHiddenLayers + 1) * m.HiddenSize + m.NumHiddenLayers * (4 * m.HiddenSize * m.NumAttentionHeads * m.DenseHeadDim + 3 * m.HiddenSize * m.IntermediateSize),
            result.GetProperty("parameterBudget").GetInt64());
        foreach (var file in new[] { "variants.csv", "loss_curves.csv", "index.html" })
            Assert.True(File.Exists(Path.Combine(folder, "out", MlaQualityExperiment.Id, file)), file);
    }

    private static MlaQualityResult HandMadeResult()
    {
        MlaQualityVariantResult Variant(string name, AttentionKind kind, long perLayer, double loss) => new(
            name, kind, 0, 0, 0, 0, 100, perLayer, 2 * perLayer, 8 * perLayer, 4 * perLayer, 1000, 100, 0, 3.9, loss + 0.1, loss, 1, true, 0,
            [new LogPoint(10, loss + 1, loss + 0.5, 1e-3, 1, 100, 1), new LogPoint(20, loss + 0.1, loss, 1e-3, 1, 200, 2)]);
        return new([Variant("mha", AttentionKind.Mha, 128, 2.0), Variant("mqa", AttentionKind.Mqa, 32, 2.1), Variant("mla", AttentionKind.Mla, 40, 1.95)],
            1000, 0.01, 2, 64, 4, 16, 20, 200, 3);
    }

    [Fact]
    public void Loss_against_cache_has_one_labelled_marker_per_variant_on_a_log_cache_axis()
    {
        var figure = JsonDocument.Parse(GenericChart.toFigureJson(MlaQualityCharts.LossAgainstCache(HandMadeResult()))).RootElement;

        var data = figure.GetProperty("data").EnumerateArray().ToList();
        Assert.Equal(["mha", "mqa", "mla"], data.Select(t => t.GetProperty("name").GetString()));
        Assert.Equal([256.0, 64, 80], data.Select(t => t.GetProperty("x").EnumerateArray().Single().GetDouble()));
        Assert.Equal([2.0, 2.1, 1.95], data.Select(t => t.GetProperty("y").EnumerateArray().Single().GetDouble()));
        Assert.All(data, t => Assert.Contains("text", t.GetProperty("mode").GetString()));
        Assert.Equal("mla (160 B/token in bf16)", data[2].GetProperty("text").GetString());
        var layout = figure.GetProperty("layout");
        Assert.Equal("log", layout.GetProperty("xaxis").GetProperty("type").GetString());
        Assert.Equal([64.0, 80, 256], layout.GetProperty("xaxis").GetProperty("tickvals").EnumerateArray().Select(v => v.GetDouble()));
        Assert.Contains("elements", layout.GetProperty("xaxis").GetProperty("title").GetProperty("text").GetString());
        Assert.Contains("nats", layout.GetProperty("yaxis").GetProperty("title").GetProperty("text").GetString());
        Assert.Contains("one seed", layout.GetProperty("title").GetProperty("text").GetString());
    }

    [Fact]
    public void Loss_curves_have_one_line_per_variant_against_step()
    {
        var result = HandMadeResult();
        foreach (var (chart, values) in new[] { (MlaQualityCharts.ValidationCurves(result), new[] { 2.5, 2.0 }), (MlaQualityCharts.TrainingCurves(result), new[] { 3.0, 2.1 }) })
        {
            var figure = JsonDocument.Parse(GenericChart.toFigureJson(chart)).RootElement;
            var data = figure.GetProperty("data");
            Assert.Equal(["mha", "mqa", "mla"], data.EnumerateArray().Select(t => t.GetProperty("name").GetString()));
            Assert.Equal([10.0, 20.0], data[0].GetProperty("x").EnumerateArray().Select(v => v.GetDouble()));
            Assert.Equal(values, data[0].GetProperty("y").EnumerateArray().Select(v => v.GetDouble()));
            var layout = figure.GetProperty("layout");
            Assert.Equal("log", layout.GetProperty("yaxis").GetProperty("type").GetString());
            Assert.Contains("nats", layout.GetProperty("yaxis").GetProperty("title").GetProperty("text").GetString());
            Assert.Contains("step", layout.GetProperty("xaxis").GetProperty("title").GetProperty("text").GetString());
        }
    }
}

using Research.Experiments;
using Research.Models;
using Research.Mtp;
using Xunit;
using static TorchSharp.torch;

namespace Research.Tests.Mtp;

public sealed class MultiTokenPredictionTests
{
    private static readonly ModelConfig Config = new(VocabSize: 12, HiddenSize: 16, NumHiddenLayers: 2, NumAttentionHeads: 2, IntermediateSize: 32, MaxPositionEmbeddings: 16);

    private static Tensor Sequences() => randint(0, 12, [3, 9], generator: new Generator(4));

    [Fact]
    public void Depth_k_targets_are_the_sequence_shifted_by_k_plus_one_and_masked_at_the_end()
    {
        using var scope = NewDisposeScope();
        var sequences = Sequences();
        var tokens = sequences.data<long>().ToArray();
        for (int k = 0; k < 4; k++)
        {
            var (targets, mask) = LanguageModel.MultiTokenPredictionTargets(sequences, k);
            var t = targets.data<long>().ToArray();
            var m = mask.data<bool>().ToArray();
            for (int row = 0; row < 3; row++)
                for (int i = 0; i < 8; i++)
                {
                    bool inside = i + k + 1 <= 8;
                    Assert.Equal(inside, m[row * 8 + i]);
                    if (inside) Assert.Equal(tokens[row * 9 + i + k + 1], t[row * 8 + i]);
                }
        }
        // A target mask is read at each target's own position: masking main target j masks depth k at j − k.
        var keep = ones(3, 8, ScalarType.Bool);
        keep[0, 5] = false;
        var (_, masked) = LanguageModel.MultiTokenPredictionTargets(sequences, 2, keep);
        Assert.False(masked[0, 3].item<bool>());
        Assert.True(masked[0, 2].item<bool>() && masked[0, 4].item<bool>() && masked[1, 3].item<bool>());
    }

    [Fact]
    public void The_data_flow_pairs_each_depth_with_the_token_k_ahead_and_the_one_after_as_target()
    {
        long[] sequence = [5, 1, 7, 3, 9, 2, 8];   // T + 1 = 7 tokens: the main model has 6 positions
        var cells = MultiTokenPrediction.DataFlow(sequence, 2);
        for (int k = 0; k <= 2; k++)
        {
            var depth = cells.Where(c => c.Depth == k).ToArray();
            Assert.Equal(Enumerable.Range(0, 6 - k), depth.Select(c => c.Position));   // one position fewer per depth
            Assert.All(depth, c => Assert.Equal((sequence[c.Position + k], sequence[c.Position + k + 1]), (c.Reads, c.Target)));
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => MultiTokenPrediction.DataFlow(sequence, 6));
    }

    [Fact]
    public void A_trace_marks_accepted_drafts_rejected_drafts_and_tokens_given_without_a_check()
    {
        var example = new MtpTraceExample("prose", "ab", ["c", "d", "e", "f", "g"],
            [new DraftCheck(1, 10, 10), new DraftCheck(3, 11, 12)], ["d", "x"]);
        Assert.Equal("c[d]e{x→f}g", example.Annotated());
    }

    [Fact]
    public void With_no_depths_the_loss_and_outputs_are_the_plain_models()
    {
        using var scope = NewDisposeScope();
        using var model = new LanguageModel(Config, CPU, new Generator(1));
        var sequences = Sequences();
        var inputs = sequences.narrow(1, 0, 8);
        var plain = LanguageModel.CrossEntropy(model.forward(inputs), sequences.narrow(1, 1, 8)).item<float>();
        var losses = model.Losses(sequences, 0.3);
        Assert.Equal(plain, losses.Total.item<float>());
        Assert.Empty(losses.Depths);
        Assert.Null(losses.Balance);
        // Adding MTP depths to the same seed's model changes none of the main model's weights or outputs (the depths
        // are drawn after it).
        using var twin = new LanguageModel(Config with { NumNextnPredictLayers = 2 }, CPU, new Generator(1));
        Assert.True(model.forward(inputs).equal(twin.forward(inputs)).all().item<bool>());
        Assert.Equal(plain, twin.Losses(sequences, 0.3).Main.item<float>());
    }

    [Fact]
    public void The_total_is_the_main_loss_plus_lambda_over_D_times_the_depth_losses()
    {
        using var scope = NewDisposeScope();
        using var model = new LanguageModel(Config with { NumNextnPredictLayers = 2 }, CPU, new Generator(1));
        var l = model.Losses(Sequences(), 0.3);
        Assert.Equal(2, l.Depths.Count);
        double expected = l.Main.item<float>() + 0.3 / 2 * (l.Depths[0].item<float>() + l.Depths[1].item<float>());
        Assert.Equal(expected, l.Total.item<float>(), 5);
        Assert.All(l.Depths, d => Assert.InRange(d.item<float>(), 1.5, 4));   // near ln 12 at init
    }

    [Fact]
    public void Gradients_of_the_mtp_loss_reach_M_k_TRM_k_and_the_shared_embedding_and_head()
    {
        using var scope = NewDisposeScope();
        using var model = new LanguageModel(Config with { NumNextnPredictLayers = 2 }, CPU, new Generator(1));
        var l = model.Losses(Sequences(), 0.3);
        // The depth losses alone, without the main loss: every depth and the shared tables get a gradient.
        (l.Depths[0] + l.Depths[1]).backward();
        var shared = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        Assert.Equal(2, shared.Keys.Select(k => k.Split('.')).Where(k => k[0] == "mtp").Select(k => k[1]).Distinct().Count());
        foreach (var (name, p) in shared.Where(p => p.Key.StartsWith("mtp.", StringComparison.Ordinal)))
            Assert.True(p.grad is not null && p.grad.abs().sum().item<float>() > 0, name);
        Assert.True(shared["embed.weight"].grad!.abs().sum().item<float>() > 0);
        Assert.True(shared["head.weight"].grad!.abs().sum().item<float>() > 0);
        // The depth-1 module reads h⁰, so its loss reaches every parameter of the main model's blocks too; the main
        // model's final norm sits after h⁰ and only the main loss reaches it.
        foreach (var (name, p) in shared.Where(p => p.Key.StartsWith("layers.", StringComparison.Ordinal)))
            Assert.True(p.grad is not null && p.grad.abs().sum().item<float>() > 0, name);
        Assert.True(shared["norm.weight"].grad is null || shared["norm.weight"].grad!.abs().sum().item<float>() == 0);
    }

    [Theory]
    [InlineData(-1, 0.3, "Depth")]
    [InlineData(1, -0.1, "Lambda")]
    public void Bad_settings_name_the_field(int depth, double lambda, string field)
    {
        var e = Assert.Throws<ConfigException>(() => new MtpConfig(depth, lambda).Validated());
        Assert.Contains(field, e.Message);
    }
}

public sealed class MtpCheckpointTests
{
    private static readonly ModelConfig Config = new(VocabSize: 12, HiddenSize: 16, NumHiddenLayers: 2, NumAttentionHeads: 2, IntermediateSize: 32, MaxPositionEmbeddings: 16);

    [Fact]
    public void A_model_with_its_mtp_depths_round_trips_a_checkpoint_exactly()
    {
        using var scope = NewDisposeScope();
        var sequences = randint(0, 12, [3, 9], generator: new Generator(4));
        var config = Config with { NumNextnPredictLayers = 2 };
        using var model = new LanguageModel(config, CPU, new Generator(1));
        var folder = TestPaths.TempFolder();
        model.save(Path.Combine(folder, "model.bin"));
        using var loaded = new LanguageModel(config, CPU, new Generator(7));
        Assert.NotEqual(model.Losses(sequences, 0.3).Total.item<float>(), loaded.Losses(sequences, 0.3).Total.item<float>());
        loaded.load(Path.Combine(folder, "model.bin"));
        var a = model.Losses(sequences, 0.3);
        var b = loaded.Losses(sequences, 0.3);
        Assert.Equal(a.Total.item<float>(), b.Total.item<float>());
        Assert.Equal(a.Depths.Select(d => d.item<float>()), b.Depths.Select(d => d.item<float>()));
    }

    [Fact]
    public void A_checkpoint_of_a_model_with_other_depths_is_refused()
    {
        // Saved with one depth, loaded into a model with two: the missing keys are named, nothing loads silently.
        var folder = TestPaths.TempFolder();
        using (var one = new LanguageModel(Config with { NumNextnPredictLayers = 1 }, CPU, new Generator(1))) one.save(Path.Combine(folder, "one.bin"));
        using var two = new LanguageModel(Config with { NumNextnPredictLayers = 2 }, CPU, new Generator(1));
        Assert.ThrowsAny<Exception>(() => two.load(Path.Combine(folder, "one.bin")));
        using var none = new LanguageModel(Config, CPU, new Generator(1));
        Assert.Throws<ArgumentException>(() => SpeculativeDecoding.Greedy(none, zeros(1, 3, ScalarType.Int64), 4));
    }
}

using Research.Experiments;
using Research.Models;
using Research.Numerics;
using Xunit;
using static TorchSharp.torch;

namespace Research.Tests.Models;

public sealed class TinyLmTests
{
    private static readonly ModelConfig Tiny = new(VocabSize: 11, HiddenSize: 16, NumHiddenLayers: 2, NumAttentionHeads: 2, IntermediateSize: 24, MaxPositionEmbeddings: 12);

    private static float[] Values(Tensor t) => t.detach().contiguous().cpu().data<float>().ToArray();

    [Fact]
    public void Rope_rotates_each_pair_by_position_times_its_frequency()
    {
        // Given one vector of width 4 at every position 0..5
        const double theta = 100;
        var (cos, sin) = Rope.Tables(4, 6, theta, CPU);
        var x = tensor(new float[] { 1, 2, 3, 4 }).expand(6, 4).contiguous();
        // When rotated
        var y = Values(Rope.Apply(x, cos, sin));
        // Then pair i at position m is turned by m·θ^(−2i/4), written out as a 2×2 rotation
        for (int m = 0; m < 6; m++)
            for (int i = 0; i < 2; i++)
            {
                double angle = m * Math.Pow(theta, -2.0 * i / 4);
                double a = 1 + 2 * i, b = 2 + 2 * i;
                Assert.Equal(a * Math.Cos(angle) - b * Math.Sin(angle), y[m * 4 + 2 * i], 1e-5);
                Assert.Equal(a * Math.Sin(angle) + b * Math.Cos(angle), y[m * 4 + 2 * i + 1], 1e-5);
            }
    }

    [Fact]
    public void Rope_scores_depend_only_on_relative_position()
    {
        var (cos, sin) = Rope.Tables(8, 32, 10_000, CPU);
        var g = new Generator(1);
        var q = randn([1, 8], generator: g);
        var k = randn([1, 8], generator: g);
        double Score(int m, int n) => (Rope.Apply(q, cos, sin, m) * Rope.Apply(k, cos, sin, n)).sum().item<float>();
        Assert.Equal(Score(3, 1), Score(20, 18), 1e-4);
        Assert.Equal(Score(9, 9), Score(0, 0), 1e-4);
        Assert.True(Math.Abs(Score(3, 1) - Score(3, 2)) > 1e-3);
    }

    [Fact]
    public void Rope_gradient_matches_finite_differences()
    {
        var (cos, sin) = Rope.Tables(4, 5, 10_000, CPU);
        var weights = randn([5, 4], generator: new Generator(2), dtype: ScalarType.Float64);
        var x = randn([5, 4], generator: new Generator(3));
        var check = GradientCheck.Compare(v => (Rope.Apply(v, cos, sin) * weights).sum(), x);
        Assert.True(check.MaxAbsError < 1e-6, $"max error {check.MaxAbsError}");
    }

    [Fact]
    public void Rope_refuses_positions_beyond_its_tables()
    {
        var (cos, sin) = Rope.Tables(4, 5, 10_000, CPU);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Rope.Apply(zeros(3, 4), cos, sin, start: 3));
        Assert.Contains("maximum sequence length", e.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => Rope.Tables(5, 5, 10_000, CPU));
    }

    [Fact]
    public void RmsNorm_matches_its_formula()
    {
        var x = tensor(new float[] { 1, -2, 3, 0, 0.5f, 4 }).reshape(2, 3);
        var gain = tensor(new float[] { 1, 2, 0.5f });
        var y = Values(RmsNorm.Normalize(x, gain, 1e-6));
        double[][] rows = [[1, -2, 3], [0, 0.5, 4]];
        double[] g = [1, 2, 0.5];
        for (int r = 0; r < 2; r++)
        {
            double rms = Math.Sqrt(rows[r].Select(v => v * v).Average() + 1e-6);
            for (int c = 0; c < 3; c++) Assert.Equal(rows[r][c] / rms * g[c], y[r * 3 + c], 1e-5);
        }
    }

    [Fact]
    public void Attention_matches_an_explicit_masked_softmax()
    {
        // Given the attention module and its own weights
        var config = Tiny;
        using var attention = new Attention(config, CPU);
        var w = attention.state_dict();
        var x = randn([2, 5, config.HiddenSize], generator: new Generator(4));
        // When computed by hand: per head, scores q·k/√d_h, -inf above the diagonal, softmax, weighted values
        var (cos, sin) = Rope.Tables(config.DenseHeadDim, config.MaxPositionEmbeddings, config.RopeTheta, CPU);
        Tensor Heads(Tensor t) => t.reshape(2, 5, config.NumAttentionHeads, config.DenseHeadDim).transpose(1, 2);
        var q = Rope.Apply(Heads(x.matmul(w["wq.weight"].T)), cos, sin);
        var k = Rope.Apply(Heads(x.matmul(w["wk.weight"].T)), cos, sin);
        var v = Heads(x.matmul(w["wv.weight"].T));
        var scores = q.matmul(k.transpose(-1, -2)) / Math.Sqrt(config.DenseHeadDim);
        var future = ones(5, 5, dtype: ScalarType.Bool).triu(1);
        var expected = scores.masked_fill(future, double.NegativeInfinity).softmax(-1).matmul(v)
            .transpose(1, 2).reshape(2, 5, config.HiddenSize).matmul(w["wo.weight"].T);
        // Then the module agrees
        var actual = attention.forward(x);
        Assert.True(actual.allclose(expected, rtol: 1e-5, atol: 1e-6));
    }

    [Fact]
    public void Logits_at_a_position_ignore_later_tokens()
    {
        using var model = new LanguageModel(Tiny, CPU, new Generator(5));
        var tokens = randint(0, Tiny.VocabSize, [1, 8], generator: new Generator(6));
        var changed = tokens.clone();
        changed[0, 5] = (tokens[0, 5] + 1) % Tiny.VocabSize;
        using var noGrad = no_grad();
        var a = model.forward(tokens);
        var b = model.forward(changed);
        Assert.True(a[.., ..5].allclose(b[.., ..5], rtol: 0, atol: 0));
        Assert.False(a[.., 5..].allclose(b[.., 5..], rtol: 1e-3, atol: 1e-4));
    }

    [Fact]
    public void Same_generator_seed_gives_identical_weights_and_another_seed_differs()
    {
        using var a = new LanguageModel(Tiny, CPU, new Generator(7));
        using var b = new LanguageModel(Tiny, CPU, new Generator(7));
        using var c = new LanguageModel(Tiny, CPU, new Generator(8));
        var pa = a.parameters().Select(Values).SelectMany(v => v).ToArray();
        Assert.Equal(pa, b.parameters().Select(Values).SelectMany(v => v).ToArray());
        Assert.NotEqual(pa, c.parameters().Select(Values).SelectMany(v => v).ToArray());
    }

    [Fact]
    public void Init_scales_residual_projections_by_depth()
    {
        var config = Tiny with { HiddenSize = 64, IntermediateSize = 128, NumHiddenLayers = 8, NumAttentionHeads = 4 };
        using var model = new LanguageModel(config, CPU, new Generator(9));
        var std = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.std().item<float>());
        Assert.Equal(0.02, std["layers.0.attn.wq.weight"], 0.002);
        Assert.Equal(0.02 / 4, std["layers.3.attn.wo.weight"], 0.0006);   // 0.02/√(2·8)
        Assert.Equal(0.02 / 4, std["layers.7.ffn.w2.weight"], 0.0006);
        Assert.Equal(1.0, model.named_parameters().First(p => p.name == "norm.weight").parameter.mean().item<float>());
    }

    [Fact]
    public void Forward_returns_logits_per_position_and_refuses_too_long_sequences()
    {
        using var model = new LanguageModel(Tiny, CPU, new Generator(10));
        using var logits = model.forward(zeros([3, 7], ScalarType.Int64));
        Assert.Equal([3L, 7, Tiny.VocabSize], logits.shape);
        var e = Assert.Throws<ArgumentException>(() => model.forward(zeros([1, 13], ScalarType.Int64)));
        Assert.Contains("max_position_embeddings", e.Message);
    }

    [Theory]
    [InlineData(64, 3, "num_attention_heads must divide hidden_size")]
    [InlineData(12, 4, "must be even")]
    [InlineData(64, 0, "num_attention_heads must be in")]
    public void Bad_configs_name_the_field(int dim, int heads, string expected)
    {
        var e = Assert.Throws<ConfigException>(() => (Tiny with { HiddenSize = dim, NumAttentionHeads = heads }).Buildable());
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Greedy_generation_appends_the_argmax_token_each_step()
    {
        using var model = new LanguageModel(Tiny, CPU, new Generator(11));
        var prompts = randint(0, Tiny.VocabSize, [4, 3], generator: new Generator(12));
        var generated = Generation.Greedy(model, prompts, 4);
        Assert.Equal([4L, 4], generated.shape);
        // Oracle: one sequence at a time, picking the argmax by hand from the full logits
        using var noGrad = no_grad();
        for (int b = 0; b < 4; b++)
        {
            var seq = prompts[b].data<long>().ToList();
            for (int i = 0; i < 4; i++)
            {
                var last = Values(model.forward(tensor(seq.ToArray()).unsqueeze(0))[0, -1]);
                seq.Add(Array.IndexOf(last, last.Max()));
            }
            Assert.Equal(seq.Skip(3), generated[b].data<long>().ToArray());
        }
    }
}

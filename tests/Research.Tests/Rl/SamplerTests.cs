using Research.Data;
using Research.Models;
using Research.Rl;
using Xunit;
using static TorchSharp.torch;

namespace Research.Tests.Rl;

public sealed class SamplerTests
{
    private static readonly double[] Logits = [2.0, 1.5, 0.3, -0.4, 1.1, -2.0];

    // Oracle in doubles: softmax(z / T), keep the most likely tokens until their mass reaches p, renormalise.
    private static double[] Expected(double temperature, double topP)
    {
        var e = Logits.Select(z => Math.Exp(z / temperature)).ToArray();
        var p = e.Select(v => v / e.Sum()).ToArray();
        var order = Enumerable.Range(0, p.Length).OrderByDescending(i => p[i]).ToArray();
        var keep = new bool[p.Length];
        double mass = 0;
        foreach (var i in order)
        {
            if (mass >= topP) break;
            keep[i] = true;
            mass += p[i];
        }
        double kept = p.Where((_, i) => keep[i]).Sum();
        return [.. p.Select((v, i) => keep[i] ? v / kept : 0)];
    }

    [Theory]
    [InlineData(1.0, 1.0)]
    [InlineData(0.6, 0.95)]
    [InlineData(2.0, 0.7)]
    [InlineData(1.0, 0.3)]
    public void Token_frequencies_match_the_softmax_at_temperature_and_top_p(double temperature, double topP)
    {
        const int draws = 100_000;
        var expected = Expected(temperature, topP);
        using var scope = NewDisposeScope();
        var logits = tensor(Logits).to_type(ScalarType.Float32).unsqueeze(0).expand(draws, -1);
        var probs = Sampler.Distribution(logits[..1], temperature, topP).to_type(ScalarType.Float64).data<double>().ToArray();
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], probs[i], 5);
        var tokens = Sampler.Draw(logits, new SamplingConfig(temperature, topP), new Generator(7)).data<long>().ToArray();
        for (int i = 0; i < expected.Length; i++)
        {
            double frequency = tokens.Count(t => t == i) / (double)draws;
            double sigma = Math.Sqrt(expected[i] * (1 - expected[i]) / draws);
            Assert.True(Math.Abs(frequency - expected[i]) <= 5 * sigma + 1e-9, $"token {i}: frequency {frequency}, expected {expected[i]}");
            if (expected[i] == 0) Assert.Equal(0, frequency);
        }
    }

    private static LanguageModel Model(int seed) =>
        new(new ModelConfig(VocabSize: ReasoningVocabulary.Size, HiddenSize: 32, NumHiddenLayers: 2, NumAttentionHeads: 4, IntermediateSize: 64, MaxPositionEmbeddings: 32, InitializerRange: 0.3),
            CPU, new Generator((ulong)seed));

    [Fact]
    public void The_same_seed_gives_the_same_samples_and_the_cache_does_not_change_them()
    {
        using var scope = NewDisposeScope();
        using var model = Model(1);
        var task = new ReasoningTask(new ReasoningTaskConfig(3));
        var prompts = task.Prompts(task.Sample(6, new Generator(2)), CPU);
        var sampling = new SamplingConfig(1.0, 0.95, 12);
        using var a = Sampler.Sample(model, prompts, 4, sampling, new Generator(9));
        using var b = Sampler.Sample(model, prompts, 4, sampling, new Generator(9));
        using var uncached = Sampler.Sample(model, prompts, 4, sampling, new Generator(9), useCache: false);
        using var other = Sampler.Sample(model, prompts, 4, sampling, new Generator(10));
        Assert.Equal([24, a.Tokens.shape[1]], a.Tokens.shape);
        Assert.True(Same(a.Tokens, b.Tokens));
        Assert.True(Same(a.Tokens, uncached.Tokens));
        Assert.False(Same(a.Tokens, other.Tokens));
    }

    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    [Fact]
    public void Rows_stop_at_EOS_the_mask_ends_there_and_the_rest_is_padding()
    {
        using var scope = NewDisposeScope();
        using var model = Model(3);
        var task = new ReasoningTask(new ReasoningTaskConfig(2));
        var prompts = task.Prompts(task.Sample(16, new Generator(4)), CPU);
        using var rollout = Sampler.Sample(model, prompts, 8, new SamplingConfig(1.5, 1.0, 10), new Generator(5));
        var tokens = rollout.Tokens.data<long>().ToArray();
        var mask = rollout.Mask.data<bool>().ToArray();
        int width = (int)rollout.Tokens.shape[1], ended = 0;
        Assert.True(width <= 10);
        for (int row = 0; row < 128; row++)
        {
            var t = tokens.AsSpan(row * width, width);
            int eos = t.IndexOf(ArithmeticVocabulary.Eos);
            int length = eos < 0 ? width : eos + 1;
            if (eos >= 0) ended++;
            for (int j = 0; j < width; j++)
            {
                Assert.Equal(j < length, mask[row * width + j]);
                if (j >= length) Assert.Equal(ArithmeticVocabulary.Pad, t[j]);
            }
        }
        Assert.True(ended > 0 && ended < 128, $"{ended} of 128 rows ended");   // the test sees both kinds of row
    }

    [Fact]
    public void Token_log_probs_equal_the_cached_decoders_distribution()
    {
        using var scope = NewDisposeScope();
        using var model = Model(6);
        var task = new ReasoningTask(new ReasoningTaskConfig(2));
        var prompts = task.Prompts(task.Sample(3, new Generator(1)), CPU);
        var responses = randint(0, ReasoningVocabulary.Size, [3, 5], generator: new Generator(2));
        var (logProbs, entropy) = Sampler.TokenLogProbs(model, prompts, responses, temperature: 0.7);
        using var cache = model.NewCache(3, (int)prompts.shape[1] + 5);
        var step = model.Decode(prompts, cache).select(1, -1);
        for (int t = 0; t < 5; t++)
        {
            var expected = (step / 0.7).log_softmax(-1).gather(-1, responses[.., t..(t + 1)]).squeeze(-1);
            Assert.True((expected - logProbs[.., t]).abs().max().item<float>() < 1e-5);
            step = model.Decode(responses[.., t..(t + 1)], cache).select(1, -1);
        }
        Assert.True(entropy.min().item<float>() > 0);
    }
}

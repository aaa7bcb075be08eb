using Research.Models;
using Research.Mtp;
using Xunit;
using static TorchSharp.torch;

namespace Research.Tests.Mtp;

public sealed class SpeculativeDecodingTests
{
    private static readonly TinyLmConfig Config = new(Vocabulary: 12, Dim: 32, Layers: 2, Heads: 4, FfnHidden: 64, MaxSequence: 48, InitStd: 0.3);

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Speculative_decoding_gives_plain_greedy_tokens_whatever_the_drafts(int seed)
    {
        using var scope = NewDisposeScope();
        using var model = new TinyLm(Config, CPU, new Generator((ulong)seed));
        using var modules = new MtpModules(model, 1, CPU, new Generator((ulong)seed + 10));
        for (int p = 0; p < 4; p++)
        {
            var prompt = randint(0, 12, [1, 3 + p], generator: new Generator((ulong)(seed * 7 + p)));
            var plain = Generation.GreedyCached(model, prompt, 20).data<long>().ToArray();
            var own = SpeculativeDecoding.Greedy(model, modules, prompt, 20);
            Assert.Equal(plain, own.Tokens);
            var right = SpeculativeDecoding.Greedy(model, modules, prompt, 20, (i, _) => plain[i]);
            Assert.Equal(plain, right.Tokens);
            Assert.Equal(1.0, right.AcceptanceRate);
            Assert.InRange(right.TokensPerForward, 1.9, 2.0);   // 19 tokens after the prefill's in 10 forwards
            var wrong = SpeculativeDecoding.Greedy(model, modules, prompt, 20, (i, _) => (plain[i] + 1) % 12);
            Assert.Equal(plain, wrong.Tokens);
            Assert.Equal(0.0, wrong.AcceptanceRate);
            Assert.Equal(1.0, wrong.TokensPerForward);
            Assert.Equal(own.Trace.Count, own.Drafts);
        }
    }

    [Fact]
    public void A_model_trained_without_depths_cannot_draft()
    {
        using var scope = NewDisposeScope();
        using var model = new TinyLm(Config, CPU, new Generator(1));
        using var none = new MtpModules(model, 0, CPU, new Generator(2));
        Assert.Throws<ArgumentException>(() => SpeculativeDecoding.Greedy(model, none, zeros(1, 3, ScalarType.Int64), 5));
    }
}

public sealed class SpeculativeCacheTests
{
    private static readonly TinyLmConfig Config = new(Vocabulary: 12, Dim: 32, Layers: 2, Heads: 4, FfnHidden: 64, MaxSequence: 48, InitStd: 0.3);

    [Fact]
    public void After_each_rejection_the_cache_equals_plain_decodings_cache_at_that_step()
    {
        // Plain decoding appends one token per step; the speculative step appends the token and a wrong draft, then
        // rolls the draft back. Every buffer of every layer must then hold what plain decoding holds.
        using var scope = NewDisposeScope();
        using var model = new TinyLm(Config, CPU, new Generator(3));
        var prompt = randint(0, 12, [1, 5], generator: new Generator(4));
        using var plain = model.NewCache(1, 32);
        using var speculative = model.NewCache(1, 32);
        long next = model.Decode(prompt, plain)[0, -1].argmax().item<long>();
        model.DecodeHidden(prompt, speculative);
        for (int step = 0; step < 8; step++)
        {
            int position = speculative.Length;
            long wrong = (next + 1 + step) % 12;
            model.DecodeHidden(tensor(new[] { next, wrong }, [1, 2]), speculative);
            speculative.Truncate(position + 1);
            long following = model.Decode(tensor(new[] { next }, [1, 1]), plain)[0, -1].argmax().item<long>();
            Assert.Equal(plain.Length, speculative.Length);
            for (int layer = 0; layer < Config.Layers; layer++)
                for (int buffer = 0; buffer < 2; buffer++)
                {
                    var a = plain.Layers[layer].Cached(buffer);
                    var b = speculative.Layers[layer].Cached(buffer);
                    Assert.Equal(a.shape, b.shape);
                    Assert.True((a - b).abs().max().item<float>() < 1e-5f, $"step {step}, layer {layer}, buffer {buffer}");
                }
            next = following;
        }
    }

    [Fact]
    public void On_trained_weights_speculative_decoding_gives_plain_greedy_tokens_and_most_drafts_are_accepted()
    {
        // A short corpus training of a D = 1 model: its drafts must be mostly right and the output unchanged.
        using var scope = NewDisposeScope();
        var config = new TinyLmConfig(Research.Data.MultiDomainCorpus.VocabularySize, Dim: 32, Layers: 2, Heads: 4, FfnHidden: 64, MaxSequence: 64);
        using var model = MtpLanguageModel.Create(config, 1, CPU, new Generator(5));
        var corpus = new Research.Data.MultiDomainCorpus(new(SequenceLength: 48));
        var rng = new Random(6);
        using (var trainer = new Research.Training.Trainer(model, new(Steps: 150, LearningRate: 3e-3, WarmupSteps: 10, LogEvery: 150)))
            trainer.Run(step =>
            {
                var batch = MtpExperiment.CorpusBatch(corpus, 16, rng, CPU);
                return new Research.Training.StepLoss(model.Losses(batch.Sequences, 0.3, batch.Mask).Total, batch.Mask.sum().item<long>());
            }, cancellation: TestContext.Current.CancellationToken);
        model.eval();
        int drafts = 0, accepted = 0;
        for (int p = 0; p < 6; p++)
        {
            using var batch = MtpExperiment.CorpusBatch(corpus, 1, rng, CPU);
            var prompt = batch.Sequences.narrow(1, 0, 12);
            var plain = Generation.GreedyCached(model.Main, prompt, 30).data<long>().ToArray();
            var result = SpeculativeDecoding.Greedy(model.Main, model.Modules, prompt, 30);
            Assert.Equal(plain, result.Tokens);
            drafts += result.Drafts;
            accepted += result.Accepted;
        }
        Assert.InRange((double)accepted / drafts, 0.5, 1.0);
    }
}

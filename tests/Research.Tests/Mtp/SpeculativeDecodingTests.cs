using Research.Data;
using Research.Models;
using Research.Mtp;
using Xunit;
using static TorchSharp.torch;

namespace Research.Tests.Mtp;

public sealed class SpeculativeDecodingTests
{
    private static readonly ModelConfig Config = new(VocabSize: 12, HiddenSize: 32, NumHiddenLayers: 2, NumAttentionHeads: 4, IntermediateSize: 64, MaxPositionEmbeddings: 48, InitializerRange: 0.3);

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Speculative_decoding_gives_plain_greedy_tokens_whatever_the_drafts(int seed)
    {
        using var scope = NewDisposeScope();
        using var model = new LanguageModel(Config with { NumNextnPredictLayers = 1 }, CPU, new Generator((ulong)seed));
        for (int p = 0; p < 4; p++)
        {
            var prompt = randint(0, 12, [1, 3 + p], generator: new Generator((ulong)(seed * 7 + p)));
            var plain = Generation.GreedyCached(model, prompt, 20).data<long>().ToArray();
            var own = SpeculativeDecoding.Greedy(model, prompt, 20);
            Assert.Equal(plain, own.Tokens);
            var right = SpeculativeDecoding.Greedy(model, prompt, 20, forceDraft: (i, _, _) => plain[i]);
            Assert.Equal(plain, right.Tokens);
            Assert.Equal(1.0, right.AcceptanceRate);
            Assert.InRange(right.TokensPerForward, 1.9, 2.0);   // 19 tokens after the prefill's in 10 forwards
            var wrong = SpeculativeDecoding.Greedy(model, prompt, 20, forceDraft: (i, _, _) => (plain[i] + 1) % 12);
            Assert.Equal(plain, wrong.Tokens);
            Assert.Equal(0.0, wrong.AcceptanceRate);
            Assert.Equal(1.0, wrong.TokensPerForward);
            Assert.Equal(own.Trace.Count, own.Drafts);
        }
    }

    [Theory]
    [InlineData(2, 2)]
    [InlineData(3, 2)]
    [InlineData(3, 3)]
    public void Chained_drafts_give_plain_greedy_tokens_and_up_to_depth_plus_one_tokens_per_forward(int trained, int draftDepth)
    {
        using var scope = NewDisposeScope();
        using var model = new LanguageModel(Config with { NumNextnPredictLayers = trained }, CPU, new Generator(7));
        var prompt = randint(0, 12, [1, 4], generator: new Generator(9));
        var plain = Generation.GreedyCached(model, prompt, 25).data<long>().ToArray();
        Assert.Equal(plain, SpeculativeDecoding.Greedy(model, prompt, 25, draftDepth).Tokens);
        var right = SpeculativeDecoding.Greedy(model, prompt, 25, draftDepth, (i, _, _) => plain[i]);
        Assert.Equal(plain, right.Tokens);
        Assert.Equal(1.0, right.AcceptanceRate);
        // Each forward after the prefill gives draftDepth + 1 tokens, but the last one, which needs fewer.
        Assert.Equal((int)Math.Ceiling(24.0 / (draftDepth + 1)) + 1, right.MainForwards);
        var wrong = SpeculativeDecoding.Greedy(model, prompt, 25, draftDepth, (i, _, _) => (plain[i] + 1) % 12);
        Assert.Equal(plain, wrong.Tokens);
        Assert.Equal(0.0, wrong.AcceptanceRate);
        Assert.Equal(1.0, wrong.TokensPerForward);
        Assert.All(wrong.Trace, c => Assert.Equal(1, c.Depth));   // a draft after a rejected one is never checked
    }

    [Fact]
    public void Every_draft_is_what_the_depths_give_when_run_afresh_over_the_decided_tokens_and_earlier_drafts()
    {
        // The depth caches are rolled back after each partly rejected chain; a draft built on a stale cache entry
        // would differ from the depths run from scratch over exactly the tokens the draft was made from.
        using var scope = NewDisposeScope();
        using var model = new LanguageModel(Config with { NumNextnPredictLayers = 3 }, CPU, new Generator(11));
        var prompt = randint(0, 12, [1, 5], generator: new Generator(13));
        var plain = Generation.GreedyCached(model, prompt, 30).data<long>().ToArray();
        var calls = new List<(int Index, int Depth, long Draft, long Forced)>();
        var result = SpeculativeDecoding.Greedy(model, prompt, 30, 3, (i, j, draft) =>
        {
            long forced = j == 1 + (i - j) % 4 ? (plain[i] + 1) % 12 : plain[i];   // chains cut at depth 1, 2, 3 or not at all
            calls.Add((i, j, draft, forced));
            return forced;
        });
        Assert.Equal(plain, result.Tokens);
        Assert.Contains(calls, c => c.Depth == 3);
        Assert.Contains(result.Trace, c => !c.Accepted && c.Depth > 1);
        var promptIds = prompt.data<long>().ToArray();
        using var noGrad = no_grad();
        foreach (var call in calls)
        {
            int current = call.Index - call.Depth, frontier = promptIds.Length + current;
            var earlier = calls.Where(c => c.Index - c.Depth == current && c.Depth < call.Depth).Select(c => c.Forced);
            long[] ids = [.. promptIds, .. plain.Take(current + 1), .. earlier];
            var sequence = tensor(ids, [1, ids.Length]);
            var h = model.HiddenStates(sequence.narrow(1, 0, frontier));
            for (int k = 1; k <= call.Depth; k++)
                h = model.Depths[k - 1].forward(h, model.Embed(sequence.narrow(1, k, frontier)));
            var logits = model.Depths[call.Depth - 1].Logits(model, h)[0, -1];
            long expected = logits.argmax().item<long>();
            if (expected != call.Draft)   // only a near-tie may flip between the cached and the fresh computation
                Assert.True((logits[expected] - logits[call.Draft]).item<float>() < 1e-4f, $"draft of token {call.Index} at depth {call.Depth}");
        }
    }

    [Fact]
    public void A_model_trained_without_depths_cannot_draft()
    {
        using var scope = NewDisposeScope();
        using var none = new LanguageModel(Config, CPU, new Generator(1));
        Assert.Throws<ArgumentException>(() => SpeculativeDecoding.Greedy(none, zeros(1, 3, ScalarType.Int64), 5));
        using var one = new LanguageModel(Config with { NumNextnPredictLayers = 1 }, CPU, new Generator(1));
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => SpeculativeDecoding.Greedy(one, zeros(1, 3, ScalarType.Int64), 5, draftDepth: 2));
        Assert.Contains("draft depth must be in 1..1", error.Message);
    }
}

public sealed class SpeculativeCacheTests
{
    private static readonly ModelConfig Config = new(VocabSize: 12, HiddenSize: 32, NumHiddenLayers: 2, NumAttentionHeads: 4, IntermediateSize: 64, MaxPositionEmbeddings: 48, InitializerRange: 0.3);

    [Fact]
    public void After_each_rejection_the_cache_equals_plain_decodings_cache_at_that_step()
    {
        // Plain decoding appends one token per step; the speculative step appends the token and a wrong draft, then
        // rolls the draft back. Every buffer of every layer must then hold what plain decoding holds.
        using var scope = NewDisposeScope();
        using var model = new LanguageModel(Config, CPU, new Generator(3));
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
            for (int layer = 0; layer < Config.NumHiddenLayers; layer++)
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
        var config = new ModelConfig(VocabSize: Research.Data.MultiDomainCorpus.VocabularySize, HiddenSize: 32, NumHiddenLayers: 2, NumAttentionHeads: 4, IntermediateSize: 64, MaxPositionEmbeddings: 64);
        using var model = new LanguageModel(config with { NumNextnPredictLayers = 1 }, CPU, new Generator(5));
        var corpus = new Research.Data.MultiDomainCorpus(new(SequenceLength: 48));
        var rng = new Random(6);
        using (var trainer = new Research.Training.Trainer(model, new(Steps: 150, LearningRate: 3e-3, WarmupSteps: 10, LogEvery: 150)))
            trainer.Run(step =>
            {
                var batch = SequenceBatch.FromCorpus(corpus, 16, rng, CPU);
                return new Research.Training.StepLoss(model.Losses(batch.Sequences, 0.3, batch.Mask).Total, batch.Mask.sum().item<long>());
            }, cancellation: TestContext.Current.CancellationToken);
        model.eval();
        int drafts = 0, accepted = 0;
        for (int p = 0; p < 6; p++)
        {
            using var batch = SequenceBatch.FromCorpus(corpus, 1, rng, CPU);
            var prompt = batch.Sequences.narrow(1, 0, 12);
            var plain = Generation.GreedyCached(model, prompt, 30).data<long>().ToArray();
            var result = SpeculativeDecoding.Greedy(model, prompt, 30);
            Assert.Equal(plain, result.Tokens);
            drafts += result.Drafts;
            accepted += result.Accepted;
        }
        Assert.InRange((double)accepted / drafts, 0.5, 1.0);
    }
}

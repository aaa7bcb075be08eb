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

using Research.Models;
using Xunit;
using static TorchSharp.torch;

namespace Research.Tests.Models;

public sealed class KvCacheTests
{
    [Fact]
    public void Truncate_rolls_back_decode_steps_so_a_repeated_step_gives_the_same_output()
    {
        // Given an attention layer whose cache holds 6 tokens
        var lm = new ModelConfig(HiddenSize: 16, NumAttentionHeads: 2, MaxPositionEmbeddings: 16);
        manual_seed(1);
        using var attention = new Attention(lm, CPU);
        using var cache = attention.NewCache(2, 8);
        var x = randn([2, 7, 16], generator: new Generator(2));
        attention.Decode(x.narrow(1, 0, 6), cache);
        // When one token is decoded, the cache rolled back to 6 and the same token decoded again after another one
        var first = attention.Decode(x.narrow(1, 6, 1), cache);
        cache.Truncate(6);
        var second = attention.Decode(x.narrow(1, 6, 1), cache);
        attention.Decode(x.narrow(1, 0, 1), cache);
        cache.Truncate(6);
        var third = attention.Decode(x.narrow(1, 6, 1), cache);
        // Then every repetition sees the same 6 cached tokens and gives the same output
        Assert.Equal(7, cache.Length);
        Assert.True(first.equal(second).all().item<bool>());
        Assert.True(first.equal(third).all().item<bool>());
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(4)]   // longer than the 3 filled positions: truncating never adds tokens
    public void Truncate_outside_0_to_length_is_an_error_naming_the_length(int length)
    {
        var lm = new ModelConfig(HiddenSize: 16, NumAttentionHeads: 2, MaxPositionEmbeddings: 16);
        using var attention = new Attention(lm, CPU);
        using var cache = attention.NewCache(1, 8);
        attention.Decode(zeros(1, 3, 16), cache);

        var error = Assert.Throws<ArgumentOutOfRangeException>(() => cache.Truncate(length));
        Assert.Contains("KvCache.Truncate: length must be in 0..Length (3)", error.Message);
        Assert.Equal(3, cache.Length);
    }
}

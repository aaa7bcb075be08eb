using System.Text.RegularExpressions;
using Research.Data;
using Research.Experiments;
using Xunit;
using static TorchSharp.torch;

namespace Research.Tests.Data;

public sealed class MultiDomainCorpusTests
{
    private static readonly MultiDomainCorpus Corpus = new(new MultiDomainCorpusConfig(SequenceLength: 32));

    private static long[] Longs(Tensor t) => t.contiguous().cpu().data<long>().ToArray();

    [Fact]
    public void Every_complete_sum_in_arithmetic_text_is_correct()
    {
        var text = Corpus.Text(Domain.Arithmetic, new Random(1), 20_000);
        var sums = Regex.Matches(text, @"(?<=^|;)(\d+)\+(\d+)=(\d+);");
        Assert.True(sums.Count > 1000);
        Assert.All(sums, m => Assert.Equal(long.Parse(m.Groups[1].Value) + long.Parse(m.Groups[2].Value), long.Parse(m.Groups[3].Value)));
    }

    [Fact]
    public void Code_statements_balance_their_brackets_and_braces()
    {
        var rng = new Random(2);
        for (int i = 0; i < 500; i++)
        {
            // whole statements only: Text stops after a complete one
            var text = Corpus.Text(Domain.Code, rng, 1);
            int round = 0, curly = 0;
            foreach (var c in text)
            {
                round += c == '(' ? 1 : c == ')' ? -1 : 0;
                curly += c == '{' ? 1 : c == '}' ? -1 : 0;
                Assert.True(round >= 0 && curly >= 0, text);
            }
            Assert.True(round == 0 && curly == 0, text);
            Assert.EndsWith(text[^1] == '}' ? "}" : ";", text);
        }
    }

    [Fact]
    public void Encode_and_decode_are_inverse_and_every_character_has_a_token()
    {
        var all = MultiDomainCorpus.Characters;
        Assert.Equal(all, MultiDomainCorpus.Decode(MultiDomainCorpus.Encode(all)));
        Assert.Equal(Enumerable.Range(2, all.Length).Select(i => (long)i), MultiDomainCorpus.Encode(all));
        Assert.Equal(MultiDomainCorpus.VocabularySize, all.Length + 2);
        Assert.Throws<ArgumentException>(() => MultiDomainCorpus.Encode("A"));
    }

    [Fact]
    public void A_batch_is_bos_then_text_targets_are_inputs_shifted_and_rows_match_their_domains()
    {
        using var batch = Corpus.Sample(64, new Random(3), CPU);
        Assert.Equal(new long[] { 64, 32 }, batch.Lm.Inputs.shape);
        var inputs = Longs(batch.Lm.Inputs);
        var targets = Longs(batch.Lm.Targets);
        Assert.True(batch.Lm.LossMask.all().item<bool>());
        Assert.Equal(batch.Domains.Select(d => (long)d), Longs(batch.DomainIds));
        for (int b = 0; b < 64; b++)
        {
            Assert.Equal(MultiDomainCorpus.Bos, inputs[b * 32]);
            Assert.Equal(inputs[(b * 32 + 1)..((b + 1) * 32)], targets[(b * 32)..((b + 1) * 32 - 1)]);
            Assert.All(targets[(b * 32)..((b + 1) * 32)], t => Assert.InRange(t, 2, MultiDomainCorpus.VocabularySize - 1));
            var text = MultiDomainCorpus.Decode(targets[(b * 32)..((b + 1) * 32)]);
            switch (batch.Domains[b])
            {
                case Domain.Arithmetic: Assert.Matches(@"^[0-9+=;]+$", text); break;
                case Domain.Legal: Assert.StartsWith("§ ", text); break;
                case Domain.Code: Assert.Matches(@"^[a-z0-9+=();{}<,]+$", text); break;
                case Domain.Prose: Assert.Matches(@"^[a-z ,.]+$", text); break;
            }
        }
    }

    [Fact]
    public void Same_seed_same_batch_other_seed_other_batch()
    {
        using var a = Corpus.Sample(16, new Random(5), CPU);
        using var b = Corpus.Sample(16, new Random(5), CPU);
        using var c = Corpus.Sample(16, new Random(6), CPU);
        Assert.Equal(Longs(a.Lm.Inputs), Longs(b.Lm.Inputs));
        Assert.NotEqual(Longs(a.Lm.Inputs), Longs(c.Lm.Inputs));
    }

    [Fact]
    public void Domain_frequencies_follow_the_weights()
    {
        // Weights 1:2:3:4 over 8000 rows; each count is binomial, 4.5 standard deviations is a bound a correct sampler
        // misses with probability < 1e-5 per domain (seeded, so the test is deterministic).
        var corpus = new MultiDomainCorpus(new MultiDomainCorpusConfig(16, [1, 2, 3, 4]));
        using var batch = corpus.Sample(8000, new Random(7), CPU);
        for (int d = 0; d < 4; d++)
        {
            double p = (d + 1) / 10.0, count = batch.Domains.Count(x => (int)x == d);
            Assert.True(Math.Abs(count - 8000 * p) < 4.5 * Math.Sqrt(8000 * p * (1 - p)), $"domain {d}: {count} of 8000, expected {8000 * p}");
        }
    }

    [Fact]
    public void Domains_have_clearly_different_character_statistics()
    {
        // What lets experts specialise: the distributions of character pairs (what a token and its predecessor show a
        // layer) differ pairwise by a large total-variation distance. Prose and legal share English letters, so
        // single characters alone separate them less (TV ≈ 0.2).
        double[] Bigrams(Domain d)
        {
            int v = MultiDomainCorpus.VocabularySize;
            var counts = new double[v * v];
            var tokens = MultiDomainCorpus.Encode(Corpus.Text(d, new Random(8), 20_000));
            for (int i = 1; i < tokens.Length; i++) counts[tokens[i - 1] * v + tokens[i]]++;
            return [.. counts.Select(c => c / counts.Sum())];
        }
        var u = Enum.GetValues<Domain>().Select(Bigrams).ToArray();
        for (int i = 0; i < 4; i++)
            for (int j = i + 1; j < 4; j++)
            {
                double tv = 0.5 * u[i].Zip(u[j], (p, q) => Math.Abs(p - q)).Sum();
                Assert.True(tv > 0.3, $"{(Domain)i} vs {(Domain)j}: total variation {tv:F3}");
            }
    }

    [Theory]
    [InlineData(4, null, "MultiDomainCorpusConfig.SequenceLength must be in 8..4096")]
    [InlineData(16, new[] { 1.0, 1, 1 }, "MultiDomainCorpusConfig.DomainWeights must be 4 finite weights")]
    [InlineData(16, new[] { 1.0, -1, 1, 1 }, "MultiDomainCorpusConfig.DomainWeights must be 4 finite weights")]
    [InlineData(16, new[] { 0.0, 0, 0, 0 }, "MultiDomainCorpusConfig.DomainWeights must be 4 finite weights")]
    public void Bad_configs_name_the_field(int length, double[]? weights, string expected)
    {
        var e = Assert.Throws<ConfigException>(() => new MultiDomainCorpus(new MultiDomainCorpusConfig(length, weights)));
        Assert.StartsWith(expected, e.Message);
    }
}

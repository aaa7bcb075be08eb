using System.Text;
using Research.Experiments;
using static TorchSharp.torch;

namespace Research.Data;

/// <summary>The four kinds of text in <see cref="MultiDomainCorpus"/>.</summary>
public enum Domain { Arithmetic, Code, Prose, Legal }

/// <param name="SequenceLength">T: tokens each training position sees (a sequence holds BOS + T characters, T + 1 tokens).</param>
/// <param name="DomainWeights">Relative frequency of arithmetic, code, prose and legal sequences; null = equal.</param>
public sealed record MultiDomainCorpusConfig(int SequenceLength = 64, double[]? DomainWeights = null)
{
    public MultiDomainCorpusConfig Validated()
    {
        if (SequenceLength is < 8 or > 4096) throw new ConfigException($"MultiDomainCorpusConfig.SequenceLength must be in 8..4096 (got {SequenceLength})");
        if (DomainWeights is { } w && (w.Length != 4 || w.Any(x => !double.IsFinite(x) || x < 0) || w.Sum() <= 0))
            throw new ConfigException($"MultiDomainCorpusConfig.DomainWeights must be 4 finite weights ≥ 0 (arithmetic, code, prose, legal) with a positive sum (got [{string.Join(", ", w)}])");
        return this;
    }
}

/// <summary>A batch of single-domain sequences with the domain of each row.</summary>
/// <param name="DomainIds">int64 [B]: <see cref="Domain"/> of each row as a number.</param>
public sealed record DomainBatch(LmBatch Lm, Domain[] Domains, Tensor DomainIds) : IDisposable
{
    public void Dispose()
    {
        Lm.Dispose();
        DomainIds.Dispose();
    }
}

/// <summary>
/// A synthetic character-level corpus of four domains — sums ("12+345=357;"), code-like statements, prose from a
/// word-level Markov chain, and legal clauses — over ONE shared vocabulary, so a Mixture-of-Experts router can only
/// tell the domains apart by content. Each has its own structure a tiny LM can partly learn, and their character
/// statistics differ strongly, which is what lets experts specialise by domain (V3 §4.5.3 sees the same with
/// batch-wise balancing). Everything comes from a seeded <see cref="Random"/>: the same seed gives the same text.
/// </summary>
public sealed class MultiDomainCorpus
{
    /// <summary>The characters after PAD (0) and BOS (1), in token order.</summary>
    public const string Characters = " abcdefghijklmnopqrstuvwxyz0123456789+=();{}<,.:§";
    public const int Pad = 0, Bos = 1;

    /// <summary>Tokens in the vocabulary: PAD, BOS and <see cref="Characters"/>.</summary>
    public const int VocabularySize = 2 + 49;

    private static readonly string[] Identifiers = ["x", "y", "i", "n", "a", "b", "sum", "len", "acc"];
    private static readonly string[] Functions = ["f", "g", "max", "min", "push"];
    private static readonly string[] Words =
    [
        "the", "a", "river", "old", "man", "walked", "to", "village", "and", "saw", "light", "in", "window", "of", "house",
        "she", "wrote", "letter", "long", "night", "quiet", "road", "he", "was", "with", "dog", "under", "tree", "morning", "rain",
    ];
    private static readonly string[] Parties = ["the lessee", "the lessor", "the buyer", "the seller", "the tenant", "the company"];
    private static readonly string[] Duties = ["shall pay", "shall deliver", "shall notify", "shall indemnify", "may terminate", "shall not assign"];
    private static readonly string[] Objects = ["the rent", "the goods", "this agreement", "all fees", "the premises", "any claim"];
    private static readonly string[] Conditions = ["provided that notice is given in writing", "within thirty days", "unless otherwise agreed",
        "subject to clause", "on the first day of each month", "without prior consent"];

    private readonly double[] _domainCumulative;
    private readonly double[][] _wordTransitions;   // prose: P(next word | word), fixed by the corpus definition

    public MultiDomainCorpus(MultiDomainCorpusConfig config)
    {
        Config = config.Validated();
        var w = config.DomainWeights ?? [1, 1, 1, 1];
        double total = w.Sum(), running = 0;
        _domainCumulative = [.. w.Select(x => running += x / total)];
        // Zipf-weighted successors, with a fixed seed: the chain is part of the language, not of a sample.
        var chain = new Random(20_240_101);
        _wordTransitions = [.. Words.Select(_ => Words.Select((_, j) => chain.NextDouble() / (j + 1)).ToArray())];
    }

    public MultiDomainCorpusConfig Config { get; }

    /// <summary>The kebab-case name of a domain.</summary>
    public static string Name(Domain domain) => domain.ToString().ToLowerInvariant();

    public static long[] Encode(string text) => [.. text.Select(c =>
    {
        int i = Characters.IndexOf(c);
        return i >= 0 ? i + 2L : throw new ArgumentException($"MultiDomainCorpus.Encode: '{c}' is not in the vocabulary", nameof(text));
    })];

    public static string Decode(IEnumerable<long> tokens) => string.Concat(tokens.Select(t => t switch
    {
        Pad => "_",
        Bos => "^",
        >= 2 and < VocabularySize => Characters[(int)t - 2].ToString(),
        _ => throw new ArgumentOutOfRangeException(nameof(tokens), t, $"MultiDomainCorpus.Decode: tokens are 0..{VocabularySize - 1}"),
    }));

    /// <summary>At least <paramref name="length"/> characters of <paramref name="domain"/> text (whole units: a sum, a statement, a sentence, a clause).</summary>
    public string Text(Domain domain, Random rng, int length)
    {
        var text = new StringBuilder();
        while (text.Length < length)
            text.Append(domain switch
            {
                Domain.Arithmetic => Sum(rng),
                Domain.Code => Statement(rng, 2),
                Domain.Prose => Sentence(rng),
                _ => Clause(rng),
            });
        return text.ToString();
    }

    /// <summary>B sequences, each from one domain drawn by <see cref="MultiDomainCorpusConfig.DomainWeights"/>: BOS then T characters.</summary>
    public DomainBatch Sample(int batch, Random rng, Device device)
    {
        if (batch < 1) throw new ArgumentOutOfRangeException(nameof(batch), batch, "MultiDomainCorpus.Sample: batch must be ≥ 1");
        int t = Config.SequenceLength;
        var tokens = new long[batch * (t + 1)];
        var domains = new Domain[batch];
        for (int b = 0; b < batch; b++)
        {
            double u = rng.NextDouble();
            int index = Array.FindIndex(_domainCumulative, c => u < c);
            domains[b] = (Domain)(index >= 0 ? index : 3);   // u just below 1 after rounding
            tokens[b * (t + 1)] = Bos;
            Encode(Text(domains[b], rng, t)[..t]).CopyTo(tokens, b * (t + 1) + 1);
        }
        using var all = tensor(tokens, [batch, t + 1], device: device);
        var lm = new LmBatch(all[.., ..t].contiguous(), all[.., 1..].contiguous(), ones(batch, t, dtype: ScalarType.Bool, device: device));
        return new DomainBatch(lm, domains, tensor(domains.Select(d => (long)d).ToArray(), device: device));
    }

    private static string Sum(Random rng)
    {
        int a = Operand(rng), b = Operand(rng);
        return $"{a}+{b}={a + b};";
    }

    private static int Operand(Random rng) => rng.Next((int)Math.Pow(10, rng.Next(1, 4)));

    // A tiny grammar: assignments, calls, if and while blocks nesting up to `depth`.
    private static string Statement(Random rng, int depth)
    {
        string Id() => Identifiers[rng.Next(Identifiers.Length)];
        string Expr() => rng.Next(3) switch
        {
            0 => Id(),
            1 => $"{Id()}+{rng.Next(10)}",
            _ => $"{Functions[rng.Next(Functions.Length)]}({Id()},{Id()})",
        };
        int kind = depth == 0 ? rng.Next(2) : rng.Next(4);
        return kind switch
        {
            0 => $"{Id()}={Expr()};",
            1 => $"{Functions[rng.Next(Functions.Length)]}({Id()});",
            2 => $"if({Id()}<{Id()}){{{Statement(rng, depth - 1)}}}",
            _ => $"while({Id()}<n){{{Statement(rng, depth - 1)}{Id()}={Id()}+1;}}",
        };
    }

    private string Sentence(Random rng)
    {
        var text = new StringBuilder();
        int word = rng.Next(Words.Length), count = rng.Next(4, 11);
        for (int i = 0; i < count; i++)
        {
            text.Append(i == 0 ? "" : rng.Next(8) == 0 ? ", " : " ").Append(Words[word]);
            word = Draw(_wordTransitions[word], rng);
        }
        return text.Append(". ").ToString();
    }

    private static string Clause(Random rng)
    {
        string Pick(string[] options) => options[rng.Next(options.Length)];
        return $"§ {rng.Next(1, 40)}. {Pick(Parties)} {Pick(Duties)} {Pick(Objects)}, {Pick(Conditions)}. ";
    }

    private static int Draw(double[] weights, Random rng)
    {
        double u = rng.NextDouble() * weights.Sum();
        for (int i = 0; i < weights.Length; i++)
            if ((u -= weights[i]) < 0) return i;
        return weights.Length - 1;
    }
}

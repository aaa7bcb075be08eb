using Research.Experiments;
using Research.Mla;
using Research.Models;
using Research.Numerics;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Research.Tests.Mla;

/// <summary>MLA against the paper's equations written out as loops, and every variant's KV-cached decoding against its
/// own full-sequence forward.</summary>
public sealed class AttentionDecodingTests
{
    private static float[] Values(Tensor t) => t.detach().contiguous().cpu().to(ScalarType.Float32).data<float>().ToArray();

    private static double MaxAbs(Tensor a, Tensor b)
    {
        using var scope = NewDisposeScope();
        return (a.to(ScalarType.Float64) - b.to(ScalarType.Float64)).abs().max().item<double>();
    }

    private static readonly ModelConfig Lm = new(VocabSize: 13, HiddenSize: 32, NumHiddenLayers: 2, NumAttentionHeads: 4, IntermediateSize: 48, MaxPositionEmbeddings: 40);

    public static TheoryData<string> Variants => ["mha", "gqa", "mqa", "mla", "mla-q"];

    // The tiny LM with each attention: MHA/GQA/MQA by key/value heads; MLA with d_h = d_v = 32 / 4, d_c = 16, d_h^R = 4
    // (mla-q adds a query latent of 24 and, for the single layer, value heads of 6).
    private static ModelConfig Config(string variant, bool layer = false) => variant switch
    {
        "mha" => Lm,
        "gqa" => Lm with { NumKeyValueHeads = 2 },
        "mqa" => Lm with { NumKeyValueHeads = 1 },
        "mla" => Lm with { KvLoraRank = 16, QkRopeHeadDim = 4, QkNopeHeadDim = 8, VHeadDim = 8 },
        "mla-q" => Lm with { KvLoraRank = 16, QkRopeHeadDim = 4, QkNopeHeadDim = 8, VHeadDim = layer ? 6 : 8, QLoraRank = 24 },
        _ => throw new ArgumentException(variant),
    };

    private static nn.Module<Tensor, Tensor> Attention(string variant, Device device, int seed)
    {
        manual_seed(seed);
        var config = Config(variant, layer: true);
        return config.IsMla ? new MultiHeadLatentAttention(config, device) : new global::Research.Models.Attention(config, device);
    }

    // Every decoding route over the same sequence: one token per step, or a prefill of `prefill` tokens then one per step.
    private static Tensor DecodeAll(nn.Module<Tensor, Tensor> attention, Tensor x, int prefill)
    {
        var incremental = (IIncrementalAttention)attention;
        using var cache = incremental.NewCache((int)x.shape[0], (int)x.shape[1] + 3);
        var parts = new List<Tensor>();
        if (prefill > 0) parts.Add(incremental.Decode(x.narrow(1, 0, prefill), cache));
        for (int t = prefill; t < x.shape[1]; t++) parts.Add(incremental.Decode(x.narrow(1, t, 1), cache));
        Assert.Equal(x.shape[1], cache.Length);
        return cat(parts, 1);
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void Cached_decoding_matches_the_training_forward_token_by_token_and_after_a_prefill(string variant)
    {
        // Given an attention layer and a batch of 3 sequences of 17 positions
        using var attention = Attention(variant, CPU, 1);
        var x = randn([3, 17, Lm.HiddenSize], generator: new Generator(2));
        // When it runs over the whole sequence at once and, separately, through its KV cache
        var full = attention.forward(x);
        var paths = variant.StartsWith("mla", StringComparison.Ordinal) ? new[] { MlaInference.Naive, MlaInference.Absorbed } : [MlaInference.Naive];
        foreach (var path in paths)
        {
            if (attention is MultiHeadLatentAttention mla) mla.Inference = path;
            // Then every route gives the same outputs (the bound: 1e-4 in float32)
            foreach (int prefill in new[] { 0, 1, 9, 17 })
            {
                double difference = MaxAbs(full, DecodeAll(attention, x, prefill));
                Assert.True(difference < 1e-5, $"{variant} {path} prefill {prefill}: max |full − decoded| = {difference:E2}");
            }
        }
        Assert.True(Values(full).Select(Math.Abs).Max() > 1e-2, "outputs are not trivially zero");
    }

    [Fact]
    public void Absorbed_and_naive_mla_decoding_agree_step_by_step_at_v3_shape_ratios()
    {
        // Given the scaled-down V3 shapes (n_h = 4, d_h = 16, d_h^R = 8, d_c = 32) with query compression
        var config = new ModelConfig(HiddenSize: 64, NumAttentionHeads: 4, QkNopeHeadDim: 16, VHeadDim: 16, KvLoraRank: 32, QLoraRank: 48, QkRopeHeadDim: 8, MaxPositionEmbeddings: 64);
        manual_seed(3);
        using var mla = new MultiHeadLatentAttention(config, CPU);
        var x = randn([2, 30, 64], generator: new Generator(4));
        using var naiveCache = mla.NewCache(2, 30);
        using var absorbedCache = mla.NewCache(2, 30);
        for (int t = 0; t < 30; t++)
        {
            mla.Inference = MlaInference.Naive;
            var naive = mla.Decode(x.narrow(1, t, 1), naiveCache);
            mla.Inference = MlaInference.Absorbed;
            var absorbed = mla.Decode(x.narrow(1, t, 1), absorbedCache);
            Assert.True(MaxAbs(naive, absorbed) < 1e-5, $"step {t}: {MaxAbs(naive, absorbed):E2}");
        }
        // And both caches hold exactly the same latent rows
        Assert.Equal(30, naiveCache.Length);
    }

    [Fact]
    public void Mla_forward_equals_the_papers_equations_written_as_loops()
    {
        // Given a tiny MLA layer with query compression and a value width different from the key width
        var c = new ModelConfig(HiddenSize: 8, NumAttentionHeads: 2, QkNopeHeadDim: 4, VHeadDim: 3, KvLoraRank: 6, QLoraRank: 5, QkRopeHeadDim: 2, MaxPositionEmbeddings: 8, RopeTheta: 50);
        manual_seed(5);
        using var mla = new MultiHeadLatentAttention(c, CPU);
        using (no_grad())
            foreach (var (name, p) in mla.named_parameters())
                if (name.EndsWith("Norm.weight", StringComparison.Ordinal)) p.uniform_(0.5, 1.5);   // gains other than 1 must be applied
        var w = mla.named_parameters().ToDictionary(p => p.name, p => (Values(p.parameter), p.parameter.shape));
        var x = randn([1, 5, 8], generator: new Generator(6));
        var h = Values(x);

        // When the output is computed from V2 eqs. 9–19 one head and one position at a time, in float64
        double[] MatVec(string name, double[] v, int firstRow, int rows)
        {
            var (m, shape) = w[name];
            int cols = (int)shape[1];
            return [.. Enumerable.Range(firstRow, rows).Select(r => Enumerable.Range(0, cols).Sum(j => m[r * cols + j] * v[j]))];
        }
        double[] Norm(string name, double[] v)
        {
            double rms = Math.Sqrt(v.Average(e => e * e) + c.RmsNormEps);
            return [.. v.Select((e, i) => e / rms * w[name].Item1[i])];
        }
        double[] Rotate(double[] v, int position)
        {
            var r = (double[])v.Clone();
            for (int i = 0; i < v.Length / 2; i++)
            {
                double angle = position * Math.Pow(c.RopeTheta, -2.0 * i / v.Length);
                r[2 * i] = v[2 * i] * Math.Cos(angle) - v[2 * i + 1] * Math.Sin(angle);
                r[2 * i + 1] = v[2 * i] * Math.Sin(angle) + v[2 * i + 1] * Math.Cos(angle);
            }
            return r;
        }
        int T = 5, qk = c.QkNopeHeadDim + c.QkRopeHeadDim, kv = c.QkNopeHeadDim + c.VHeadDim;
        var hs = Enumerable.Range(0, T).Select(t => h.Skip(t * 8).Take(8).Select(e => (double)e).ToArray()).ToArray();
        var cq = hs.Select(ht => Norm("qNorm.weight", MatVec("wqA.weight", ht, 0, c.QLoraRank!.Value))).ToArray();   // eq. 12
        var ckv = hs.Select(ht => Norm("kvNorm.weight", MatVec("wkvA.weight", ht, 0, c.KvLoraRank!.Value))).ToArray();           // eq. 9
        var kr = hs.Select((ht, t) => Rotate(MatVec("wkvA.weight", ht, c.KvLoraRank!.Value, c.QkRopeHeadDim), t)).ToArray();      // eq. 14
        var expected = new double[T * 8];
        for (int t = 0; t < T; t++)
        {
            var o = new List<double>();
            for (int i = 0; i < c.NumAttentionHeads; i++)
            {
                var qc = MatVec("wqB.weight", cq[t], i * qk, c.QkNopeHeadDim);                                  // eq. 13
                var qr = Rotate(MatVec("wqB.weight", cq[t], i * qk + c.QkNopeHeadDim, c.QkRopeHeadDim), t);       // eq. 15
                var scores = Enumerable.Range(0, t + 1).Select(j =>
                {
                    var kc = MatVec("wkvB.weight", ckv[j], i * kv, c.QkNopeHeadDim);                                // eq. 10
                    return (qc.Zip(kc).Sum(p => p.First * p.Second) + qr.Zip(kr[j]).Sum(p => p.First * p.Second)) / Math.Sqrt(qk);
                }).ToArray();
                double max = scores.Max();
                var weights = scores.Select(s => Math.Exp(s - max)).ToArray();
                double total = weights.Sum();
                var head = new double[c.VHeadDim];
                for (int j = 0; j <= t; j++)
                {
                    var v = MatVec("wkvB.weight", ckv[j], i * kv + c.QkNopeHeadDim, c.VHeadDim);              // eq. 11
                    for (int e = 0; e < head.Length; e++) head[e] += weights[j] / total * v[e];              // eq. 18
                }
                o.AddRange(head);
            }
            var u = MatVec("wo.weight", [.. o], 0, 8);                                                   // eq. 19
            Array.Copy(u, 0, expected, t * 8, 8);
        }

        // Then the module's training forward and both decoding paths give those numbers
        var actual = Values(mla.forward(x));
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 1e-5);
        foreach (var path in new[] { MlaInference.Naive, MlaInference.Absorbed })
        {
            mla.Inference = path;
            var decoded = Values(DecodeAll(mla, x, 2));
            for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], decoded[i], 1e-5);
        }
    }

    [Fact]
    public void Grouped_query_attention_equals_multi_head_attention_with_each_key_value_head_repeated()
    {
        // Given GQA with 2 key/value heads for 4 query heads
        using var gqa = new Attention(Lm with { NumKeyValueHeads = 2 }, CPU);
        using var mha = new Attention(Lm, CPU);
        // When an MHA layer gets the same query/output weights and each KV head's weights copied to the 2 heads it serves
        var source = gqa.state_dict();
        using (no_grad())
            foreach (var (name, p) in mha.named_parameters())
            {
                var from = source[name];
                p.copy_(name is "wk.weight" or "wv.weight"
                    ? from.view(2, Lm.DenseHeadDim, Lm.HiddenSize).repeat_interleave(2, 0).reshape(p.shape)
                    : from);
            }
        var x = randn([2, 11, Lm.HiddenSize], generator: new Generator(7));
        // Then both compute the same attention
        Assert.True(MaxAbs(gqa.forward(x), mha.forward(x)) < 1e-6);
        // And GQA's cache holds half of MHA's elements per token: 2·n_g·d_h
        Assert.Equal(2L * 2 * Lm.DenseHeadDim, gqa.CacheElementsPerToken);
        Assert.Equal(2L * 4 * Lm.DenseHeadDim, mha.CacheElementsPerToken);
    }

    [Theory]
    [InlineData("mha", 2 * 4 * 8)]
    [InlineData("gqa", 2 * 2 * 8)]
    [InlineData("mqa", 2 * 1 * 8)]
    [InlineData("mla", 16 + 4)]
    public void Cache_stores_the_elements_per_token_of_deepseek_v2_table_1(string variant, int perLayer)
    {
        // Given a 2-layer tiny LM (d_h = 32 / 4 = 8) and its caches for 3 sequences of up to 20 tokens
        using var model = new LanguageModel(Config(variant), CPU, new Generator(8));
        using var cache = model.NewCache(3, 20);
        // Then the buffers really allocated hold exactly Table 1's count per token and layer, and no more
        Assert.Equal(2L * perLayer, cache.ElementsPerToken);
        Assert.All(cache.Layers, l => Assert.Equal(3L * 20 * perLayer * sizeof(float), l.AllocatedBytes));
        Assert.Equal(perLayer, ((IIncrementalAttention)model.Blocks[0].Attention).CacheElementsPerToken);
    }

    [Theory]
    [InlineData("mha", AttentionKind.Mha, 4)]
    [InlineData("gqa", AttentionKind.Gqa, 2)]
    [InlineData("mqa", AttentionKind.Mqa, 1)]
    [InlineData("mla", AttentionKind.Mla, 4)]
    public void The_calculator_counts_what_the_modules_really_allocate(string variant, AttentionKind kind, int kvHeads)
    {
        // Given the tiny LM's dims described to the KV-cache calculator
        bool mla = kind == AttentionKind.Mla;
        var described = new KvCacheModel(variant, kind, Lm.NumHiddenLayers, Lm.NumAttentionHeads, kvHeads, Lm.DenseHeadDim, Lm.MaxPositionEmbeddings,
            KvLatentDim: mla ? 16 : 0, RopeHeadDim: mla ? 4 : 0);
        // When the model allocates its caches for a full context
        using var model = new LanguageModel(Config(variant), CPU, new Generator(8));
        using var cache = model.NewCache(1, Lm.MaxPositionEmbeddings);
        // Then the calculator's elements and float32 bytes are the buffers' own
        Assert.Equal(KvCacheSize.ElementsPerToken(described), cache.ElementsPerToken);
        Assert.Equal(KvCacheSize.BytesPerToken(described, KvDtype.Fp32) * Lm.MaxPositionEmbeddings, cache.Layers.Sum(l => l.AllocatedBytes));
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void Lm_decoding_reproduces_the_full_forward_and_greedy_generation(string variant)
    {
        // Given a tiny LM with this attention and two prompts
        using var model = new LanguageModel(Config(variant), CPU, new Generator(9));
        var tokens = randint(0, Lm.VocabSize, [2, 14], generator: new Generator(10));
        using (no_grad())
        {
            var full = model.forward(tokens);
            // When the same tokens go through the cache: a prefill of 6, then one at a time
            using var cache = model.NewCache(2, 14);
            var decoded = cat([model.Decode(tokens.narrow(1, 0, 6), cache), .. Enumerable.Range(6, 8).Select(t => model.Decode(tokens.narrow(1, t, 1), cache))], 1);
            // Then the logits agree
            Assert.True(MaxAbs(full, decoded) < 1e-4, $"{variant}: {MaxAbs(full, decoded):E2}");
        }
        // And cached greedy decoding picks the same tokens as re-running the prefix
        var prompts = tokens.narrow(1, 0, 5);
        Assert.Equal(Values(Generation.Greedy(model, prompts, 20).to(ScalarType.Float32)), Values(Generation.GreedyCached(model, prompts, 20).to(ScalarType.Float32)));
    }

    [Fact]
    public void Mla_input_gradient_matches_finite_differences()
    {
        var config = new ModelConfig(HiddenSize: 6, NumAttentionHeads: 2, QkNopeHeadDim: 2, VHeadDim: 3, KvLoraRank: 4, QLoraRank: 3, QkRopeHeadDim: 2, MaxPositionEmbeddings: 8);
        manual_seed(11);
        using var mla = new MultiHeadLatentAttention(config, CPU);
        mla.to(ScalarType.Float64);
        var weights = randn([1, 4, 6], ScalarType.Float64, generator: new Generator(12));
        var x = randn([1, 4, 6], ScalarType.Float64, generator: new Generator(13));
        var check = GradientCheck.Compare(v => (mla.forward(v) * weights).sum(), x);
        Assert.True(check.MaxAbsError < 1e-6, $"max error {check.MaxAbsError}");
    }

    [Fact]
    public void Bad_shapes_and_contexts_are_errors_naming_the_field()
    {
        var heads = Assert.Throws<ConfigException>(() => new Attention(Lm with { NumKeyValueHeads = 3 }, CPU));
        Assert.Contains("num_key_value_heads must divide num_attention_heads (4)", heads.Message);
        var rope = Assert.Throws<ConfigException>(() => new MultiHeadLatentAttention(new ModelConfig(KvLoraRank: 16, QkRopeHeadDim: 5), CPU));
        Assert.Contains("qk_rope_head_dim", rope.Message);
        Assert.Contains("even", rope.Message);
        Assert.Contains("kv_lora_rank", Assert.Throws<ConfigException>(() => new ModelConfig(KvLoraRank: 0).Validated()).Message);

        using var mla = new MultiHeadLatentAttention(new ModelConfig(KvLoraRank: 16, MaxPositionEmbeddings: 10), CPU);
        var beyond = Assert.Throws<ArgumentOutOfRangeException>(() => mla.NewCache(1, 11));
        Assert.Contains("max_position_embeddings", beyond.Message);
        using var gqa = new Attention(Lm with { NumKeyValueHeads = 2 }, CPU);
        Assert.Contains("max_position_embeddings", Assert.Throws<ArgumentOutOfRangeException>(() => gqa.NewCache(1, Lm.MaxPositionEmbeddings + 1)).Message);

        // A full cache refuses more tokens instead of overwriting
        using var cache = mla.NewCache(1, 4);
        mla.Decode(randn([1, 4, 64]), cache);
        var full = Assert.Throws<ArgumentOutOfRangeException>(() => mla.Decode(randn([1, 1, 64]), cache));
        Assert.Contains("capacity of 4", full.Message);
        Assert.Equal(4, cache.Length);
    }
}

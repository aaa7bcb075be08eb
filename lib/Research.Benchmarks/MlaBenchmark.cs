using System.Diagnostics;
using Research.Experiments;
using Research.Mla;
using Research.Models;
using Research.Platform;
using static TorchSharp.torch;
using MathNet.Numerics.Statistics;

namespace Research.Benchmarks;

/// <summary>The attention decodings <see cref="MlaBenchmark"/> times. In JSON (kebab-case): "mha", "gqa", "mla-naive", "mla-absorbed".</summary>
public enum DecodeVariant
{
    /// <summary><see cref="Attention"/> with n_g = n_h: caches 2·n_h·d_h elements per token.</summary>
    Mha,
    /// <summary><see cref="Attention"/> with n_g &lt; n_h key/value heads: caches 2·n_g·d_h.</summary>
    Gqa,
    /// <summary><see cref="MultiHeadLatentAttention"/> decompressing every cached latent into keys and values each step.</summary>
    MlaNaive,
    /// <summary><see cref="MultiHeadLatentAttention"/> with W^UK and W^UV absorbed: attends over the d_c + d_h^R latent rows.</summary>
    MlaAbsorbed,
}

/// <summary>
/// One decode step (one new token per sequence, attending over a cache already holding context − 1 tokens) of a single
/// attention layer: projections, attention over the cache and output projection, the part of a decoder layer whose
/// cost grows with the context. Every variant has the same d, n_h and d_h.
/// Defaults: d = 2048, n_h = 32, d_h = 64, so MHA caches 2·32·64 = 4096 elements per token; GQA with n_g = 8 (1024);
/// MLA with DeepSeek-V2's ratios to d_h (V2 §3.1.2: d_c = 4·d_h = 256, d_h^R = d_h/2 = 32; 288 elements, 14.2× fewer
/// than MHA) and no query compression, as DeepSeek-V2-Lite (query compression only saves training activations, V2
/// §2.1.2, and adds a matmul to every step). d = n_h·d_h as in the models V2 compares MLA with (App. D).
/// A step is a dozen kernels of a few milliseconds: on a machine whose cores are busy with other work, libtorch's
/// thread barriers (waiting for a descheduled worker) can dominate the time; OMP_NUM_THREADS=1 then compares the
/// arithmetic and memory traffic alone.
/// </summary>
/// <param name="Dim">Model width d.</param>
/// <param name="Heads">Query heads n_h, for every variant; d_h = d / n_h.</param>
/// <param name="GqaKvHeads">n_g of the GQA variant (8 as LLaMA-3 and Qwen-2.5; HW25 Table 1).</param>
/// <param name="KvLatentDim">d_c of the MLA variants.</param>
/// <param name="RopeHeadDim">d_h^R of the MLA variants.</param>
/// <param name="QueryLatentDim">d'_c of the MLA variants; 0 = no query compression.</param>
/// <param name="Repetitions">Timed steps per variant and cell; the median is reported.</param>
/// <param name="Warmup">Untimed steps per variant and cell before the timed ones.</param>
public sealed record MlaBenchmarkConfig(int Dim = 2048, int Heads = 32, int GqaKvHeads = 8, int KvLatentDim = 256, int RopeHeadDim = 32,
    int QueryLatentDim = 0, int Repetitions = 7, int Warmup = 1, int Seed = 0)
{
    /// <summary>Context lengths: the new token is at position context − 1 and attends over all of them.</summary>
    public IReadOnlyList<int> Contexts { get; init; } = [512, 2048, 4096];

    /// <summary>Sequences decoded side by side.</summary>
    public IReadOnlyList<int> Batches { get; init; } = [1, 8];

    /// <summary>d_h = d / n_h.</summary>
    public int HeadDim => Dim / Heads;

    public MlaBenchmarkConfig Validated()
    {
        if (Dim is < 2 or > 65_536) throw new ConfigException($"MlaBenchmarkConfig.Dim must be in 2..65536 (got {Dim})");
        if (Heads < 1 || Dim % Heads != 0 || HeadDim % 2 != 0)
            throw new ConfigException($"MlaBenchmarkConfig.Heads must divide Dim ({Dim}) into even head widths d_h (RoPE rotates pairs) (got {Heads})");
        if (GqaKvHeads < 1 || GqaKvHeads > Heads || Heads % GqaKvHeads != 0)
            throw new ConfigException($"MlaBenchmarkConfig.GqaKvHeads (n_g) must divide Heads (n_h = {Heads}) (got {GqaKvHeads})");
        if (KvLatentDim is < 1 or > 65_536) throw new ConfigException($"MlaBenchmarkConfig.KvLatentDim must be in 1..65536 (got {KvLatentDim})");
        if (RopeHeadDim is < 2 or > 4096 || RopeHeadDim % 2 != 0)
            throw new ConfigException($"MlaBenchmarkConfig.RopeHeadDim must be even and in 2..4096 (got {RopeHeadDim})");
        if (QueryLatentDim is < 0 or > 65_536) throw new ConfigException($"MlaBenchmarkConfig.QueryLatentDim must be in 0..65536 (got {QueryLatentDim})");
        if (Contexts.Count == 0 || Contexts.Any(c => c is < 1 or > 65_536))
            throw new ConfigException($"MlaBenchmarkConfig.Contexts must be one or more lengths in 1..65536 (got [{string.Join(", ", Contexts)}])");
        if (Batches.Count == 0 || Batches.Any(b => b is < 1 or > 1024))
            throw new ConfigException($"MlaBenchmarkConfig.Batches must be one or more batch sizes in 1..1024 (got [{string.Join(", ", Batches)}])");
        if (Repetitions is < 1 or > 1000) throw new ConfigException($"MlaBenchmarkConfig.Repetitions must be in 1..1000 (got {Repetitions})");
        if (Warmup is < 0 or > 100) throw new ConfigException($"MlaBenchmarkConfig.Warmup must be in 0..100 (got {Warmup})");
        Lm.Validated();
        Mla.Validated();
        return this;
    }

    /// <summary>The MHA and GQA layers' dimensions, covering the longest context.</summary>
    public ModelConfig Lm => new(Name: "bench-attention", HiddenSize: Dim, NumAttentionHeads: Heads, MaxPositionEmbeddings: Contexts.Max());

    /// <summary>The MLA layer's dimensions: content and value heads of width d_h, as MHA's.</summary>
    public ModelConfig Mla => Lm with
    {
        KvLoraRank = KvLatentDim, QLoraRank = QueryLatentDim == 0 ? null : QueryLatentDim, QkNopeHeadDim = HeadDim, VHeadDim = HeadDim, QkRopeHeadDim = RopeHeadDim,
    };
}

/// <summary>One variant at one context and batch.</summary>
/// <param name="Milliseconds">Median time of one decode step (all sequences of the batch).</param>
/// <param name="MinMilliseconds">Fastest timed step.</param>
/// <param name="MaxMilliseconds">Slowest timed step: with <see cref="MinMilliseconds"/>, the noise of the run.</param>
/// <param name="Ratio">Milliseconds over MHA's at the same context and batch, in the same run.</param>
/// <param name="CacheBytesPerToken">Bytes one token adds to the layer's cache (elements × bytes per element).</param>
/// <param name="CacheRatio">MHA's cache elements per token over this variant's.</param>
public sealed record MlaBenchmarkCell(int Context, int Batch, DecodeVariant Variant, [property: Column("ms", Format = "F2")] double Milliseconds,
    [property: Column("min_ms", Format = "F2")] double MinMilliseconds, [property: Column("max_ms", Format = "F2")] double MaxMilliseconds,
    [property: Column(Format = "F2")] double Ratio, long CacheBytesPerToken, [property: Column(Format = "F1")] double CacheRatio);

/// <param name="Ratio">Absorbed MLA time over MHA's at <see cref="HeadlineContext"/> and <see cref="HeadlineBatch"/>
/// (the longest context and the smallest batch: 4096 and 1 by default); goal ≤ 1.</param>
/// <param name="CacheRatio">MHA's cache elements per token over MLA's (goal ≥ 10).</param>
/// <param name="GoalMet">Both goals: absorbed MLA no slower than MHA with a cache at least 10× smaller.</param>
/// <param name="MaxAbsDifference">max |naive − absorbed| over the outputs of the same step, every cell.</param>
public sealed record MlaBenchmarkResult(int Dim, int Heads, int HeadDim, int GqaKvHeads, int KvLatentDim, int RopeHeadDim, int QueryLatentDim,
    IReadOnlyList<MlaBenchmarkCell> Cells, int HeadlineContext, int HeadlineBatch, double Ratio, double CacheRatio, bool GoalMet,
    double MaxAbsDifference, bool Agrees, int Repetitions, int Warmup, int TorchThreads, string Device)
{
    public const double Goal = 1.0;
    public const double CacheGoal = 10;
    public const double Tolerance = 1e-4;
}

public static class MlaBenchmark
{
    private const int FillChunk = 512;   // cache positions written per random chunk: bounds the temporary tensors

    public static MlaBenchmarkResult Run(MlaBenchmarkConfig config, Device device, IProgress<ExperimentProgress>? progress = null)
    {
        config.Validated();
        TorchRuntime.EnsureLoaded();
        using var noGrad = no_grad();
        manual_seed(config.Seed);   // the modules draw their initial weights from the global generator
        using var mha = new Attention(config.Lm, device);
        using var gqa = new Attention(config.Lm with { NumKeyValueHeads = config.GqaKvHeads }, device);
        using var mla = new MultiHeadLatentAttention(config.Mla, device);
        var generator = new Generator((ulong)config.Seed + 1);
        long mhaElements = mha.CacheElementsPerToken;
        long elementSize = mha.parameters().First().element_size();
        var variants = Enum.GetValues<DecodeVariant>();
        IIncrementalAttention Module(DecodeVariant v) => v switch { DecodeVariant.Mha => mha, DecodeVariant.Gqa => gqa, _ => mla };

        var cells = new List<MlaBenchmarkCell>();
        double maxDifference = 0;
        int done = 0, total = config.Contexts.Count * config.Batches.Count;
        foreach (int context in config.Contexts.Order())
            foreach (int batch in config.Batches.Order())
            {
                progress?.Report(new ExperimentProgress($"context {context}, batch {batch}", done, total));
                using var scope = NewDisposeScope();
                // MLA naive and absorbed read the same latent cache.
                using var mhaCache = Filled(mha, batch, context, config.Heads, config.HeadDim, generator, device);
                using var gqaCache = Filled(gqa, batch, context, config.GqaKvHeads, config.HeadDim, generator, device);
                using var mlaCache = Filled(mla, batch, context, 0, 0, generator, device);
                KvCache Cache(DecodeVariant v) => v switch { DecodeVariant.Mha => mhaCache, DecodeVariant.Gqa => gqaCache, _ => mlaCache };
                var x = randn([batch, 1, config.Dim], generator: generator).to(device);   // the new token of each sequence

                maxDifference = Math.Max(maxDifference, NaiveAbsorbedDifference(mla, x, mlaCache));
                for (int i = 0; i < config.Warmup; i++)
                    foreach (var v in variants) Step(Module(v), v, x, Cache(v), device);
                var times = variants.ToDictionary(v => v, _ => new List<double>());
                for (int i = 0; i < config.Repetitions; i++)   // interleaved, so load changes hit every variant alike
                    foreach (var v in variants) times[v].Add(Step(Module(v), v, x, Cache(v), device));

                double mhaMs = times[DecodeVariant.Mha].Median();
                foreach (var v in variants)
                {
                    long elements = Module(v).CacheElementsPerToken;
                    double ms = times[v].Median();
                    cells.Add(new MlaBenchmarkCell(context, batch, v, ms, times[v].Min(), times[v].Max(), ms / mhaMs,
                        elements * elementSize, (double)mhaElements / elements));
                }
                done++;
            }
        progress?.Report(new ExperimentProgress("done", total, total));

        int headlineContext = config.Contexts.Max(), headlineBatch = config.Batches.Min();
        var headline = cells.Single(c => c.Context == headlineContext && c.Batch == headlineBatch && c.Variant == DecodeVariant.MlaAbsorbed);
        return new MlaBenchmarkResult(config.Dim, config.Heads, config.HeadDim, config.GqaKvHeads, config.KvLatentDim, config.RopeHeadDim,
            config.QueryLatentDim, cells, headlineContext, headlineBatch, headline.Ratio, headline.CacheRatio,
            headline.Ratio <= MlaBenchmarkResult.Goal && headline.CacheRatio >= MlaBenchmarkResult.CacheGoal,
            maxDifference, maxDifference <= MlaBenchmarkResult.Tolerance, config.Repetitions, config.Warmup, get_num_threads(), device.ToString());
    }

    // A cache of `context` positions holding context − 1 tokens: standard-normal rows (RMS ≈ 1, the scale of MLA's
    // RMS-normalised latent), written through KvCache.Write into the layout Decode reads. What the rows hold does not
    // change the work of a step (dense kernels, no data-dependent branches); a prefill through Decode would spend
    // minutes of projections at batch 8. MHA and GQA buffers are [B, n_g, S, d_h] (keys, values), MLA's [B, S, d_c + d_h^R].
    private static KvCache Filled(IIncrementalAttention attention, int batch, int context, int kvHeads, int headDim, Generator generator, Device device)
    {
        var cache = attention.NewCache(batch, context);
        for (int start = 0; start < context - 1; start += FillChunk)
        {
            using var scope = NewDisposeScope();
            int n = Math.Min(FillChunk, context - 1 - start);
            if (attention is MultiHeadLatentAttention)
                cache.Write(0, randn([batch, n, attention.CacheElementsPerToken], generator: generator).to(device));
            else
                for (int i = 0; i < 2; i++) cache.Write(i, randn([batch, kvHeads, n, headDim], generator: generator).to(device));
            cache.Advance(n);
        }
        return cache;
    }

    // One timed decode step at position Length, then the cache rolled back so every repetition sees the same context.
    private static double Step(IIncrementalAttention attention, DecodeVariant variant, Tensor x, KvCache cache, Device device)
    {
        using var scope = NewDisposeScope();
        if (attention is MultiHeadLatentAttention mla)
            mla.Inference = variant == DecodeVariant.MlaNaive ? MlaInference.Naive : MlaInference.Absorbed;
        long start = Stopwatch.GetTimestamp();
        attention.Decode(x, cache);
        Devices.Synchronize(device);
        double ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        cache.Truncate(cache.Length - 1);
        return ms;
    }

    // max |naive − absorbed| of the same step over the same cache (V2 §2.1.2: absorption changes the order of the
    // products, not the result).
    private static double NaiveAbsorbedDifference(MultiHeadLatentAttention mla, Tensor x, KvCache cache)
    {
        using var scope = NewDisposeScope();
        mla.Inference = MlaInference.Naive;
        var naive = mla.Decode(x, cache);
        cache.Truncate(cache.Length - 1);
        mla.Inference = MlaInference.Absorbed;
        var absorbed = mla.Decode(x, cache);
        cache.Truncate(cache.Length - 1);
        return (naive - absorbed).abs().max().item<float>();
    }
}

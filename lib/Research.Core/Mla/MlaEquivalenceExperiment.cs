using Plotly.NET;
using Plotly.NET.CSharp;
using Research.Charts;
using Research.Experiments;
using Research.Models;
using Research.Platform;
using TorchSharp;
using static TorchSharp.torch;
using Chart = Plotly.NET.CSharp.Chart;

namespace Research.Mla;

/// <summary>Config of <c>mla-equivalence</c>.</summary>
/// <param name="GqaKvHeads">n_g of the GQA layer.</param>
/// <param name="Sequence">Positions decoded per sequence.</param>
/// <param name="Batch">Sequences decoded side by side.</param>
/// <param name="Prefill">Tokens of the prefill route's first call (the rest go one at a time).</param>
public sealed record MlaEquivalenceConfig(int GqaKvHeads = 2, int Sequence = 96, int Batch = 2, int Prefill = 32) : IExperimentConfig<MlaEquivalenceConfig>
{
    /// <summary>The MLA layer (the tiny default: V3's ratios scaled down); MHA, GQA and MQA get the same d, n_h and
    /// d_h = hidden_size / num_attention_heads.</summary>
    public ModelConfig Attention { get; init; } = new(Name: "mla-layer", KvLoraRank: 32, QLoraRank: 48, MaxPositionEmbeddings: 128);

    /// <summary>The issue's bound on |decoded − training forward| in float32.</summary>
    public const double Float32Tolerance = 1e-4;

    /// <summary>The seeds to run (JSON <c>seeds</c>); each is the root of every generator one run draws from.</summary>
    public IReadOnlyList<int> Seeds { get; init; } = [0];

    public MlaEquivalenceConfig WithSeeds(IReadOnlyList<int> seeds) => this with { Seeds = seeds };

    public MlaEquivalenceConfig Validated()
    {
        if (Attention is null) throw new ConfigException("MlaEquivalenceConfig.Attention must be a model config with kv_lora_rank set");
        if (!Attention.IsMla) throw new ConfigException("MlaEquivalenceConfig.Attention.KvLoraRank (d_c) must be set: the layer compared is MLA");
        Attention.Buildable();
        Dense(1).Buildable();
        if (GqaKvHeads < 1 || Attention.NumAttentionHeads % GqaKvHeads != 0)
            throw new ConfigException($"MlaEquivalenceConfig.GqaKvHeads (n_g) must divide Attention.NumAttentionHeads ({Attention.NumAttentionHeads}) (got {GqaKvHeads})");
        if (Sequence < 2 || Sequence > Attention.MaxPositionEmbeddings)
            throw new ConfigException($"MlaEquivalenceConfig.Sequence must be in 2..Attention.MaxPositionEmbeddings ({Attention.MaxPositionEmbeddings}) (got {Sequence})");
        if (Batch is < 1 or > 64)
            throw new ConfigException($"MlaEquivalenceConfig.Batch must be in 1..64 (got {Batch})");
        if (Prefill < 1 || Prefill >= Sequence)
            throw new ConfigException($"MlaEquivalenceConfig.Prefill must be in 1..Sequence−1 ({Sequence - 1}) (got {Prefill})");
        return this;
    }

    /// <summary>The dense layer compared: the MLA layer's d and n_h with <paramref name="kvHeads"/> key/value heads.</summary>
    public ModelConfig Dense(int kvHeads) => Attention with { KvLoraRank = null, QLoraRank = null, NumKeyValueHeads = kvHeads };
}

/// <summary>One attention variant decoded in one precision.</summary>
/// <param name="Route">"token-by-token" (every position its own decode step) or "prefill" (a prefill call, then steps).</param>
/// <param name="MaxAbsDifference">max |decoded − training forward| over batch, positions and features.</param>
/// <param name="RelativeDifference">That over max |training forward|.</param>
/// <param name="ByPosition">max |decoded − forward| at each position (token-by-token route), for the chart.</param>
public sealed record MlaDecodeComparison(string Variant, string Dtype, string Route, long CacheElementsPerToken,
    [property: Column(Format = "E2")] double MaxAbsDifference, [property: Column(Format = "E2")] double RelativeDifference,
    [property: Column(Skip = true)] double[] ByPosition);

/// <param name="NaiveVsAbsorbed">max |naive − absorbed| over every decode step in float32: the two inference paths against each other.</param>
/// <param name="LatentKeyRank">Rank of all heads' content keys for <see cref="MlaEquivalenceConfig.Sequence"/> tokens
/// stacked as a [T, n_h·d_h] matrix: at most d_c, because they are one latent up-projected.</param>
/// <param name="MhaKeyRank">The same for the MHA layer's keys: min(T, n_h·d_h) in general.</param>
/// <param name="WithinTolerance">Every float32 comparison within <see cref="MlaEquivalenceConfig.Float32Tolerance"/>.</param>
public sealed record MlaEquivalenceResult(IReadOnlyList<MlaDecodeComparison> Comparisons, double NaiveVsAbsorbed,
    long LatentKeyRank, long MhaKeyRank, bool WithinTolerance);

/// <summary>
/// <c>mla-equivalence</c>: every attention variant's KV-cached decoding against its own full-sequence training forward,
/// and MLA's two inference paths (naive decompression, absorbed projections) against each other, in float32 and
/// float64. The float64 differences show the paths are the same algebra; the float32 ones what rounding costs.
/// </summary>
public static class MlaEquivalenceExperiment
{
    public const string Id = "mla-equivalence";

    public static readonly string[] Variants = ["mha", "gqa", "mqa", "mla-naive", "mla-absorbed"];

    /// <summary>Every seed of <paramref name="config"/>, then the comparisons over them (see <see cref="Experiment"/>).</summary>
    public static SeededResult<MlaEquivalenceResult> Run(MlaEquivalenceConfig config, Device device, IProgress<ExperimentProgress>? progress = null,
        CancellationToken cancellation = default) => Experiment.Run(config, device, progress, cancellation);

    private static MlaEquivalenceResult RunSeed(MlaEquivalenceConfig config, int seed, Device device, IProgress<ExperimentProgress>? progress, CancellationToken cancellation)
    {
        TorchRuntime.EnsureLoaded();
        var comparisons = new List<MlaDecodeComparison>();
        var dtypes = new[] { ScalarType.Float32, ScalarType.Float64 };
        int done = 0, total = Variants.Length * dtypes.Length;
        foreach (var dtype in dtypes)
            foreach (var variant in Variants)
            {
                cancellation.ThrowIfCancellationRequested();
                progress?.Report(new ExperimentProgress($"{variant} {Name(dtype)}", done++, total));
                using var scope = NewDisposeScope();
                using var layer = Build(config, variant, device, dtype);
                var x = Input(config, device, dtype);
                var full = layer.forward(x);
                double scale = full.abs().max().ToDouble();
                var stepwise = DecodeAll(layer, x, 0);
                var byPosition = (stepwise - full).abs().amax([0, 2]).to(ScalarType.Float64).cpu().data<double>().ToArray();
                double prefill = (DecodeAll(layer, x, config.Prefill) - full).abs().max().ToDouble();
                long elements = ((IIncrementalAttention)layer).CacheElementsPerToken;
                comparisons.Add(new(variant, Name(dtype), "token-by-token", elements, byPosition.Max(), byPosition.Max() / scale, byPosition));
                comparisons.Add(new(variant, Name(dtype), "prefill", elements, prefill, prefill / scale, []));
            }
        progress?.Report(new ExperimentProgress("paths and ranks", total, total));

        double naiveVsAbsorbed;
        using (var scope = NewDisposeScope())
        using (var mla = (MultiHeadLatentAttention)Build(config, "mla-naive", device, ScalarType.Float32))
        {
            var x = Input(config, device, ScalarType.Float32);
            var naive = DecodeAll(mla, x, 0);
            mla.Inference = MlaInference.Absorbed;
            naiveVsAbsorbed = (naive - DecodeAll(mla, x, 0)).abs().max().ToDouble();
        }
        long latentRank, mhaRank;
        // In float64: float32 rounding would lift the singular values that are exactly 0 above float64's rank tolerance.
        using (var scope = NewDisposeScope())
        using (var mla = (MultiHeadLatentAttention)Build(config, "mla-naive", device, ScalarType.Float64))
        using (var mha = (Attention)Build(config, "mha", device, ScalarType.Float64))
        using (no_grad())
        {
            var x = Input(config, device, ScalarType.Float64);
            latentRank = Rank(mla.ContentKeys(x).select(0, 0).transpose(0, 1));   // [T, n_h, d_h]
            mhaRank = Rank(mha.Keys(x).select(0, 0).transpose(0, 1));
        }
        bool within = naiveVsAbsorbed <= MlaEquivalenceConfig.Float32Tolerance &&
            comparisons.Where(c => c.Dtype == "float32").All(c => c.MaxAbsDifference <= MlaEquivalenceConfig.Float32Tolerance);
        progress?.Report(new ExperimentProgress("done", total, total));
        return new MlaEquivalenceResult(comparisons, naiveVsAbsorbed, latentRank, mhaRank, within);
    }

    // keys [T, n_h, d_h] → rank of the [T, n_h·d_h] matrix.
    private static long Rank(Tensor keys) => linalg.matrix_rank(keys.reshape(keys.shape[0], -1)).ToInt64();

    private static string Name(ScalarType dtype) => dtype == ScalarType.Float64 ? "float64" : "float32";

    private static Tensor Input(MlaEquivalenceConfig config, Device device, ScalarType dtype) =>
        randn([config.Batch, config.Sequence, config.Attention.HiddenSize], generator: new Generator((ulong)Seeding.Stream(config.RunSeed(), 1))).to(dtype).to(device);

    /// <summary>A variant's layer with weights drawn from the config's seed (each variant its own draw).</summary>
    public static nn.Module<Tensor, Tensor> Build(MlaEquivalenceConfig config, string variant, Device device, ScalarType dtype)
    {
        var a = config.Attention;
        manual_seed(Seeding.Stream(config.RunSeed(), 0));   // Linear draws its init from the global generator
        nn.Module<Tensor, Tensor> layer = variant switch
        {
            "mha" => new Attention(config.Dense(a.NumAttentionHeads), device),
            "gqa" => new Attention(config.Dense(config.GqaKvHeads), device),
            "mqa" => new Attention(config.Dense(1), device),
            "mla-naive" => new MultiHeadLatentAttention(a, device) { Inference = MlaInference.Naive },
            "mla-absorbed" => new MultiHeadLatentAttention(a, device) { Inference = MlaInference.Absorbed },
            _ => throw new ArgumentException($"unknown variant '{variant}'; known: {string.Join(", ", Variants)}", nameof(variant)),
        };
        return layer.to(dtype);
    }

    /// <summary>Decodes x [B, T, d] through a fresh cache: a first call of <paramref name="prefill"/> tokens (none when 0),
    /// then one token per call → [B, T, d].</summary>
    public static Tensor DecodeAll(nn.Module<Tensor, Tensor> layer, Tensor x, int prefill)
    {
        var incremental = (IIncrementalAttention)layer;
        int t = (int)x.shape[1];
        using var cache = incremental.NewCache((int)x.shape[0], t);
        using var scope = NewDisposeScope();
        var parts = new List<Tensor>();
        if (prefill > 0) parts.Add(incremental.Decode(x.narrow(1, 0, prefill), cache));
        for (int i = prefill; i < t; i++) parts.Add(incremental.Decode(x.narrow(1, i, 1), cache));
        return cat(parts, 1).MoveToOuterDisposeScope();
    }

    public static Experiment<MlaEquivalenceConfig, MlaEquivalenceResult> Experiment { get; } = new(
        Id,
        "MLA equivalence: training forward, KV-cached decoding, naive and absorbed MLA",
        "Each attention variant (MHA, GQA, MQA, MLA) decoded through its KV cache token by token and after a prefill, " +
        "against its full-sequence training forward, in float32 and float64; MLA's naive and absorbed inference paths " +
        "against each other; the rank of MLA's keys (≤ d_c) against MHA's.",
        (config, seed, request) => RunSeed(config, seed, request.Device, request.Progress, request.Cancellation), (config, seeded) => Output(config, seeded.First));

    public static ExperimentDefinition Definition => Experiment.Definition;

    /// <summary>Summary lines, the comparison table and the chart of a run.</summary>
    public static ExperimentOutput Output(MlaEquivalenceConfig config, MlaEquivalenceResult result)
    {
        var a = config.Attention;
        var summary = new List<string>
        {
            $"MLA layer: d {a.HiddenSize}, n_h {a.NumAttentionHeads}, d_h {a.QkNopeHeadDim}, d_v {a.VHeadDim}, d_c {a.KvLoraRank}, d'_c {a.QLoraRank}, d_h^R {a.QkRopeHeadDim}; " +
            $"{config.Batch} sequences of {config.Sequence} tokens; MHA/GQA (n_g {config.GqaKvHeads})/MQA with the same d and n_h; " +
            "max_abs_difference is max |decoded − forward|",
        };
        summary.Add($"naive vs absorbed MLA, every float32 decode step: max |Δ| {result.NaiveVsAbsorbed:E2}");
        summary.Add($"rank of the {config.Sequence} tokens' keys over all heads: MLA {result.LatentKeyRank} (≤ d_c = {a.KvLoraRank}), MHA {result.MhaKeyRank}");
        summary.Add($"float32 within {MlaEquivalenceConfig.Float32Tolerance:G}: {(result.WithinTolerance ? "yes" : "NO")}");
        return new ExperimentOutput(config, config.Seeds, result, summary, [ResultTable.Of("comparisons", result.Comparisons)],
            [new NamedChart("decode-differences", "Decoded vs training forward, by position", DifferencesByPosition(result))]);
    }

    /// <summary>max |decoded − forward| by position (token-by-token route), one line per variant and precision, log y axis.</summary>
    public static GenericChart DifferencesByPosition(MlaEquivalenceResult result)
    {
        var lines = result.Comparisons.Where(c => c.Route == "token-by-token").Select(c =>
            Chart.Line<int, double, string>(x: Enumerable.Range(0, c.ByPosition.Length).ToArray(),
                // A difference of exactly 0 has no place on a log axis; draw it at the bottom of float64's range.
                y: c.ByPosition.Select(d => Math.Max(d, 1e-18)).ToArray(), Name: $"{c.Variant} ({c.Dtype})"));
        return Chart.Combine(lines)
            .WithTitle("KV-cached decoding against the full-sequence forward")
            .WithXAxisStyle<double, double, string>(TitleText: "position t")
            .WithYAxisStyle<double, double, string>(TitleText: "max |decoded − forward| (log)", AxisType: StyleParam.AxisType.Log)
            .WithSize(820, 460);
    }
}

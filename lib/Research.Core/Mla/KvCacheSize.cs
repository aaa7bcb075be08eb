using System.Globalization;
using Research.Experiments;

namespace Research.Mla;

/// <summary>The number format the KV cache is stored in. In JSON and on the command line: "bf16", "fp8", "fp32".</summary>
public enum KvDtype
{
    /// <summary>2 bytes per element; what HW25 Table 1 assumes.</summary>
    Bf16,
    /// <summary>1 byte per element (E4M3 or E5M2).</summary>
    Fp8,
    /// <summary>4 bytes per element.</summary>
    Fp32,
}

/// <summary>
/// A model's attention as far as its KV cache is concerned (DeepSeek-V2 §2.1, Table 1). Only the fields the cache
/// depends on; the symbols are the paper's.
/// </summary>
/// <param name="Name">Preset name, e.g. "deepseek-v3".</param>
/// <param name="Kind">Which mechanism decides what is cached per token.</param>
/// <param name="Layers">l, transformer layers (each caches its own keys and values).</param>
/// <param name="Heads">n_h, query heads.</param>
/// <param name="KvHeads">n_g, key/value heads (HF <c>num_key_value_heads</c>): n_h for MHA, 1 for MQA, a divisor of n_h
/// for GQA. MLA caches no per-head keys, so its cache ignores this field (HF lists n_h for DeepSeek-V2/V3).</param>
/// <param name="HeadDim">d_h, width of one head's key and value (for MLA: the non-RoPE part, <c>qk_nope_head_dim</c>).</param>
/// <param name="MaxContext">Longest context the model supports, in tokens; totals beyond it are an error.</param>
/// <param name="KvLatentDim">d_c, width of MLA's compressed latent c^KV (<c>kv_lora_rank</c>); 0 for the others.</param>
/// <param name="RopeHeadDim">d_h^R, width of MLA's decoupled RoPE key k^R, shared by all heads (<c>qk_rope_head_dim</c>);
/// 0 for the others, whose RoPE rotates the cached key itself.</param>
/// <param name="Source">Where the numbers come from (paper table, published config.json).</param>
public sealed record KvCacheModel(
    string Name,
    AttentionKind Kind,
    int Layers,
    int Heads,
    int KvHeads,
    int HeadDim,
    int MaxContext,
    int KvLatentDim = 0,
    int RopeHeadDim = 0,
    string Source = "")
{
    /// <summary>Largest <see cref="MaxContext"/> accepted: 16M tokens, above every published model the kit knows.</summary>
    public const int MaxSupportedContext = 1 << 24;
    /// <summary>Bound on layers, heads and widths: far above any published model, low enough that products stay in a long.</summary>
    public const int MaxDimension = 65_536;

    public KvCacheModel Validated()
    {
        string where = $"KvCacheModel '{Name}'";
        if (string.IsNullOrWhiteSpace(Name)) throw new ConfigException("KvCacheModel.Name must be a non-empty name");
        if (!Enum.IsDefined(Kind)) throw new ConfigException($"{where}: KvCacheModel.Kind must be one of mha, gqa, mqa, mla (got {(int)Kind})");
        Range(nameof(Layers), "l", Layers, 1, MaxDimension);
        Range(nameof(Heads), "n_h", Heads, 1, MaxDimension);
        Range(nameof(HeadDim), "d_h", HeadDim, 1, MaxDimension);
        Range(nameof(MaxContext), "tokens", MaxContext, 1, MaxSupportedContext);
        switch (Kind)
        {
            case AttentionKind.Mha when KvHeads != Heads:
                throw new ConfigException($"{where}: KvCacheModel.KvHeads (n_g) must equal Heads (n_h = {Heads}) for mha (got {KvHeads})");
            case AttentionKind.Mqa when KvHeads != 1:
                throw new ConfigException($"{where}: KvCacheModel.KvHeads (n_g) must be 1 for mqa (got {KvHeads})");
            case AttentionKind.Gqa or AttentionKind.Mla when KvHeads < 1 || KvHeads > Heads || Heads % KvHeads != 0:
                throw new ConfigException($"{where}: KvCacheModel.KvHeads (n_g) must be a divisor of Heads (n_h = {Heads}): allowed {Divisors(Heads)} (got {KvHeads})");
        }
        if (Kind == AttentionKind.Mla)
        {
            Range(nameof(KvLatentDim), "d_c", KvLatentDim, 1, MaxDimension);
            // 0 is allowed: MLA without the decoupled RoPE key (V2 §2.1.3 explains why the paper adds one).
            Range(nameof(RopeHeadDim), "d_h^R", RopeHeadDim, 0, MaxDimension);
        }
        else
        {
            if (KvLatentDim != 0) throw new ConfigException($"{where}: KvCacheModel.KvLatentDim (d_c) applies to mla only; must be 0 for {KindName(Kind)} (got {KvLatentDim})");
            if (RopeHeadDim != 0) throw new ConfigException($"{where}: KvCacheModel.RopeHeadDim (d_h^R) applies to mla only; must be 0 for {KindName(Kind)} (got {RopeHeadDim})");
        }
        if (Source is null) throw new ConfigException($"{where}: KvCacheModel.Source must be a string (use \"\" when unknown)");
        return this;

        void Range(string field, string symbol, int value, int min, int max)
        {
            if (value < min || value > max)
                throw new ConfigException($"{where}: KvCacheModel.{field} ({symbol}) must be in {min}..{max} (got {value})");
        }
    }

    private static string KindName(AttentionKind kind) => kind.ToString().ToLowerInvariant();

    private static string Divisors(int n) => string.Join(", ", Enumerable.Range(1, n).Where(d => n % d == 0));
}

/// <summary>One model's cache for one dtype and context: what <c>research kv-cache</c> prints.</summary>
/// <param name="Formula">Elements per token over all layers, in the paper's symbols (V2 Table 1).</param>
/// <param name="FormulaWithValues">The same with this model's numbers substituted.</param>
public sealed record KvCacheEstimate(
    KvCacheModel Model,
    KvDtype Dtype,
    int BytesPerElement,
    int Context,
    string Formula,
    string FormulaWithValues,
    long ElementsPerTokenPerLayer,
    long ElementsPerToken,
    long BytesPerTokenPerLayer,
    long BytesPerToken,
    long TotalBytes);

/// <summary>
/// KV-cache size per token and per context by DeepSeek-V2 Table 1 — pure arithmetic, no tensors. Elements per token
/// over all layers: MHA 2·n_h·d_h·l, GQA 2·n_g·d_h·l, MQA 2·d_h·l, MLA (d_c + d_h^R)·l.
/// </summary>
public static class KvCacheSize
{
    /// <summary>Bytes per element DeepSeek-V2 deployed its cache at: "about 6 bits" per element on average after
    /// KV-cache quantization (V2 §3.2.3), the setting under which the abstract's 93.3% saving holds.</summary>
    public const double V2DeploymentBytesPerElement = 6.0 / 8;

    /// <summary>Bytes one cached element takes in <paramref name="dtype"/>.</summary>
    public static int BytesPerElement(KvDtype dtype) => dtype switch
    {
        KvDtype.Bf16 => 2,
        KvDtype.Fp8 => 1,
        KvDtype.Fp32 => 4,
        _ => throw new ConfigException($"dtype must be one of {string.Join(", ", DtypeNames)} (got {(int)dtype})"),
    };

    /// <summary>The dtype names accepted on the command line and in JSON.</summary>
    public static IReadOnlyList<string> DtypeNames { get; } = [.. Enum.GetValues<KvDtype>().Select(d => d.ToString().ToLowerInvariant())];

    /// <summary>Parses "bf16", "fp8" or "fp32" (any case); anything else is an error listing the allowed names.</summary>
    public static KvDtype ParseDtype(string name)
    {
        foreach (var d in Enum.GetValues<KvDtype>())
            if (string.Equals(d.ToString(), name, StringComparison.OrdinalIgnoreCase)) return d;
        throw new ConfigException($"dtype must be one of {string.Join(", ", DtypeNames)} (got '{name}')");
    }

    /// <summary>Elements one token adds to one layer's cache (V2 Table 1 without the factor l).</summary>
    public static long ElementsPerTokenPerLayer(KvCacheModel m) => m.Validated().Kind switch
    {
        AttentionKind.Mha => 2L * m.Heads * m.HeadDim,          // a key and a value per head
        AttentionKind.Gqa => 2L * m.KvHeads * m.HeadDim,        // a key and a value per group
        AttentionKind.Mqa => 2L * m.HeadDim,                    // one key and one value for all heads
        AttentionKind.Mla => (long)m.KvLatentDim + m.RopeHeadDim,  // c^KV and the shared RoPE key k^R
        _ => throw new InvalidOperationException($"unhandled attention kind {m.Kind}"),
    };

    /// <summary>Elements one token adds to the cache over all l layers (V2 Table 1).</summary>
    public static long ElementsPerToken(KvCacheModel m) => ElementsPerTokenPerLayer(m) * m.Layers;

    /// <summary>Bytes one token adds over all layers in <paramref name="dtype"/>.</summary>
    public static long BytesPerToken(KvCacheModel m, KvDtype dtype) => ElementsPerToken(m) * BytesPerElement(dtype);

    /// <summary>Bytes per token at any storage width, e.g. <see cref="V2DeploymentBytesPerElement"/> for a 6-bit cache.</summary>
    public static double BytesPerToken(KvCacheModel m, double bytesPerElement) =>
        double.IsFinite(bytesPerElement) && bytesPerElement > 0
            ? ElementsPerToken(m) * bytesPerElement
            : throw new ConfigException($"bytesPerElement must be a finite number > 0 (got {bytesPerElement})");

    /// <summary>Bytes of the cache holding <paramref name="context"/> tokens; context must be in 1..MaxContext.</summary>
    public static long TotalBytes(KvCacheModel m, KvDtype dtype, int context) => BytesPerToken(m, dtype) * CheckedContext(m, context);

    /// <summary>The fraction of <paramref name="baseline"/>'s cache that <paramref name="model"/> saves, each at its own
    /// storage width: 1 − bytes(model) / bytes(baseline).</summary>
    public static double Saving(KvCacheModel model, double bytesPerElement, KvCacheModel baseline, double baselineBytesPerElement) =>
        1 - BytesPerToken(model, bytesPerElement) / BytesPerToken(baseline, baselineBytesPerElement);

    /// <summary>Everything about one model's cache at one dtype and context.</summary>
    public static KvCacheEstimate Estimate(KvCacheModel m, KvDtype dtype, int context)
    {
        CheckedContext(m, context);
        long perLayer = ElementsPerTokenPerLayer(m);
        int bytes = BytesPerElement(dtype);
        return new KvCacheEstimate(m, dtype, bytes, context, Formula(m.Kind), FormulaWithValues(m), perLayer, perLayer * m.Layers,
            perLayer * bytes, perLayer * m.Layers * bytes, perLayer * m.Layers * bytes * context);
    }

    /// <summary>V2 Table 1's expression for elements per token over all layers.</summary>
    public static string Formula(AttentionKind kind) => kind switch
    {
        AttentionKind.Mha => "2·n_h·d_h·l",
        AttentionKind.Gqa => "2·n_g·d_h·l",
        AttentionKind.Mqa => "2·d_h·l",
        AttentionKind.Mla => "(d_c + d_h^R)·l",
        _ => throw new InvalidOperationException($"unhandled attention kind {kind}"),
    };

    /// <summary>The formula with the model's values, e.g. "(512 + 64)·61".</summary>
    public static string FormulaWithValues(KvCacheModel m) => m.Kind switch
    {
        AttentionKind.Mha => $"2·{m.Heads}·{m.HeadDim}·{m.Layers}",
        AttentionKind.Gqa => $"2·{m.KvHeads}·{m.HeadDim}·{m.Layers}",
        AttentionKind.Mqa => $"2·{m.HeadDim}·{m.Layers}",
        AttentionKind.Mla => $"({m.KvLatentDim} + {m.RopeHeadDim})·{m.Layers}",
        _ => throw new InvalidOperationException($"unhandled attention kind {m.Kind}"),
    };

    /// <summary>
    /// The same layers, heads and head width with another mechanism, for V2 Table 1's comparison at equal dims: MHA caches
    /// every head, GQA <paramref name="kvHeads"/> groups, MQA one, MLA the latent of <paramref name="mlaDims"/> (or of
    /// <paramref name="dims"/> when it is MLA).
    /// </summary>
    public static KvCacheModel Variant(KvCacheModel dims, AttentionKind kind, int kvHeads = 0, KvCacheModel? mlaDims = null)
    {
        var latent = mlaDims ?? dims;
        var plain = dims with { KvLatentDim = 0, RopeHeadDim = 0 };
        return (kind switch
        {
            AttentionKind.Mha => plain with { Name = "MHA", Kind = kind, KvHeads = dims.Heads },
            AttentionKind.Gqa => plain with { Name = $"GQA ({kvHeads} groups)", Kind = kind, KvHeads = kvHeads },
            AttentionKind.Mqa => plain with { Name = "MQA", Kind = kind, KvHeads = 1 },
            AttentionKind.Mla => dims with { Name = "MLA", Kind = kind, KvHeads = dims.Heads, KvLatentDim = latent.KvLatentDim, RopeHeadDim = latent.RopeHeadDim },
            _ => throw new InvalidOperationException($"unhandled attention kind {kind}"),
        }).Validated();
    }

    /// <summary>Bytes in decimal units as HW25 writes them (1 KB = 1000 bytes): "70.272 KB", "9.211 GB".</summary>
    public static string HumanBytes(double bytes)
    {
        string[] units = ["B", "KB", "MB", "GB", "TB", "PB"];
        int unit = 0;
        while (Math.Abs(bytes) >= 1000 && unit < units.Length - 1)
        {
            bytes /= 1000;
            unit++;
        }
        return unit == 0 ? bytes.ToString("0.##", CultureInfo.InvariantCulture) + " B" : bytes.ToString("F3", CultureInfo.InvariantCulture) + " " + units[unit];
    }

    private static int CheckedContext(KvCacheModel m, int context) =>
        context >= 1 && context <= m.Validated().MaxContext ? context
            : throw new ConfigException($"context must be in 1..{m.MaxContext} (the MaxContext of '{m.Name}') (got {context})");
}

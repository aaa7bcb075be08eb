using System.Text.Json.Serialization;
using Research.Experiments;
using Research.Models;

namespace Research.Mla;

/// <summary>
/// Dimensions of one Multi-head Latent Attention layer (DeepSeek-V2 §2.1, V3 §2.1.1). Defaults are a tiny layer with
/// V3's shape ratios scaled down (d_c = 2·d_h, d_h^R = d_h/2) that runs on a CPU in milliseconds.
/// </summary>
/// <param name="Dim">Model width d.</param>
/// <param name="Heads">Attention heads n_h.</param>
/// <param name="HeadDim">d_h: width of each head's content (non-RoPE) query and key, q^C and k^C.</param>
/// <param name="ValueHeadDim">d_h of the values v^C (128 in V2/V3, equal to HeadDim there).</param>
/// <param name="KvLatentDim">d_c: width of the cached latent c^KV (512 in V2/V3).</param>
/// <param name="QueryLatentDim">d'_c: width of the query latent c^Q (1536 in V2/V3); 0 = no query compression, as in
/// V2-Lite, where W^Q maps h_t straight to the queries.</param>
/// <param name="RopeHeadDim">d_h^R: width of the decoupled RoPE query per head and of the one RoPE key shared by all
/// heads (64 in V2/V3); even, since RoPE rotates pairs.</param>
/// <param name="MaxSequence">Longest context the RoPE tables (and so any KV cache) cover.</param>
/// <param name="RopeTheta">RoPE base θ (10 000 in V2/V3 before YaRN extension, which the kit leaves out).</param>
/// <param name="NormEpsilon">ε of the RMSNorms after c^Q and c^KV (V2 §3.1.2).</param>
public sealed record MlaConfig(
    int Dim = 64, int Heads = 4, int HeadDim = 16, int ValueHeadDim = 16, int KvLatentDim = 32, int QueryLatentDim = 48,
    int RopeHeadDim = 8, int MaxSequence = 256, double RopeTheta = 10_000, double NormEpsilon = 1e-6)
{
    /// <summary>DeepSeek-V2's attention (V2 §3.1.2): d = 5120, 128 heads of 128, d_c = 512, d'_c = 1536, d_h^R = 64.</summary>
    public static MlaConfig DeepSeekV2 { get; } = new(5120, 128, 128, 128, 512, 1536, 64, 163_840);

    /// <summary>DeepSeek-V2-Lite (its config_16B: d = 2048, 16 heads, no query compression, d_c = 512, d_h^R = 64).</summary>
    public static MlaConfig DeepSeekV2Lite { get; } = new(2048, 16, 128, 128, 512, 0, 64, 163_840);

    /// <summary>DeepSeek-V3's attention (V3 §4.2): d = 7168, otherwise as V2.</summary>
    public static MlaConfig DeepSeekV3 { get; } = new(7168, 128, 128, 128, 512, 1536, 64, 163_840);

    /// <summary>The named presets (paper-scale ones build multi-gigabyte layers; use them for shapes and counts).</summary>
    public static IReadOnlyDictionary<string, MlaConfig> Presets { get; } = new Dictionary<string, MlaConfig>
    {
        ["tiny"] = new(), ["deepseek-v2"] = DeepSeekV2, ["deepseek-v2-lite"] = DeepSeekV2Lite, ["deepseek-v3"] = DeepSeekV3,
    };

    /// <summary>An MLA layer for a <see cref="TinyLm"/>: its width, heads, head width, context and RoPE base, with the
    /// latent sizes given here.</summary>
    public static MlaConfig ForTinyLm(TinyLmConfig lm, int kvLatentDim, int ropeHeadDim, int queryLatentDim = 0) =>
        new(lm.Dim, lm.Heads, lm.HeadDim, lm.HeadDim, kvLatentDim, queryLatentDim, ropeHeadDim, lm.MaxSequence, lm.RopeTheta, lm.NormEpsilon);

    /// <summary>Elements one token adds to one layer's cache: d_c + d_h^R (V2 Table 1).</summary>
    [JsonIgnore]
    public long CacheElementsPerToken => KvLatentDim + RopeHeadDim;

    /// <summary>Width of each head's query and key, d_h + d_h^R; the softmax scale is its inverse square root (V2 eq. 18).</summary>
    [JsonIgnore]
    public int QueryKeyDim => HeadDim + RopeHeadDim;

    /// <summary>This config, or a <see cref="ConfigException"/> naming the first field out of range.</summary>
    public MlaConfig Validated()
    {
        Range(Dim, 1, 65_536, nameof(Dim));
        Range(Heads, 1, 4096, nameof(Heads));
        Range(HeadDim, 1, 4096, nameof(HeadDim));
        Range(ValueHeadDim, 1, 4096, nameof(ValueHeadDim));
        Range(KvLatentDim, 1, 65_536, nameof(KvLatentDim));
        Range(QueryLatentDim, 0, 65_536, nameof(QueryLatentDim));
        Range(RopeHeadDim, 2, 4096, nameof(RopeHeadDim));
        if (RopeHeadDim % 2 != 0)
            throw new ConfigException($"MlaConfig.RopeHeadDim (d_h^R) must be even: RoPE rotates pairs of dimensions (got {RopeHeadDim})");
        Range(MaxSequence, 1, 10_000_000, nameof(MaxSequence));
        if (!(RopeTheta > 1 && double.IsFinite(RopeTheta)))
            throw new ConfigException($"MlaConfig.RopeTheta must be a finite number > 1 (got {RopeTheta})");
        if (!(NormEpsilon > 0 && NormEpsilon < 1))
            throw new ConfigException($"MlaConfig.NormEpsilon must be in (0, 1) (got {NormEpsilon})");
        return this;
    }

    private static void Range(int value, int min, int max, string field)
    {
        if (value < min || value > max)
            throw new ConfigException($"MlaConfig.{field} must be in {min}..{max} (got {value})");
    }
}

using Research.Models;
using Research.Experiments;
using Research.Mla;

namespace Research.Accounting;

/// <summary>What one decoding step reads from memory and the token rate that bounds.</summary>
/// <param name="Batch">B, sequences decoded together (one token each per step).</param>
/// <param name="WeightBytesPerStep">Weights one step reads: everything a token touches outside the routed experts, one
/// embedding row per sequence, and the routed experts the batch selects.</param>
/// <param name="ExpertsReadPerLayer">Distinct routed experts one MoE layer reads in a step (0 for dense models).</param>
/// <param name="KvBytesPerSequence">The KV cache of one sequence at <paramref name="Context"/> (<see cref="KvCacheSize"/>).</param>
/// <param name="TokensPerSecond">Upper bound on tokens per second for the whole batch: B × bandwidth ÷ bytes per step.</param>
/// <param name="StoredWeightBytes">All the main model's weights at the precision (what must be resident).</param>
/// <param name="Fits">Whether the weights and the batch's KV caches fit in the machine's memory.</param>
public sealed record DecodeBound(string Model, string Hardware, double BytesPerParameter, int Context, int Batch,
    double WeightBytesPerStep, double ExpertsReadPerLayer, double KvBytesPerSequence, double BytesPerStep, double TokensPerSecond,
    double StoredWeightBytes, double MemoryBytes, bool Fits)
{
    public double TokensPerSecondPerSequence => TokensPerSecond / Batch;

    public const string Statement = "an upper bound from memory bandwidth alone (every byte read once per step, no " +
        "compute, communication or kernel overheads); a real system decodes slower";
}

/// <summary>
/// Decoding from memory: a decoding step reads the activated weights and each sequence's KV cache once, so tokens per
/// second ≤ B · bandwidth / (weight bytes + B · KV bytes). With B &gt; 1 the weights are shared; an MoE layer reads the
/// distinct experts the batch routes to, N_r · (1 − (1 − K_r/N_r)^B) in expectation if routing is balanced and
/// independent across tokens (the state auxiliary-loss-free balancing aims at, V3 §2.1.2).
/// </summary>
public static class DecodingBound
{
    /// <summary>FP8 weights, as DeepSeek-V3 is published (V3 §3.3; code-V3 README_WEIGHTS).</summary>
    public const double Fp8 = 1;
    /// <summary>BF16 weights.</summary>
    public const double Bf16 = 2;
    /// <summary>4-bit weights (a common local-inference quantisation).</summary>
    public const double Int4 = 0.5;

    /// <summary>Expected distinct routed experts B tokens select in one layer under balanced independent routing.</summary>
    public static double ExpectedDistinctExperts(int routed, int perToken, int batch) =>
        routed * (1 - Math.Pow(1 - (double)perToken / routed, batch));

    /// <param name="cache">Another attention's cache for the same weights (e.g. <see cref="KvCacheSize.Variant"/> MHA at
    /// the model's dims); default: the model's own.</param>
    public static DecodeBound Bound(ModelConfig config, Hardware hardware, int context, int batch = 1,
        double bytesPerParameter = Fp8, KvDtype kvDtype = KvDtype.Bf16, KvCacheModel? cache = null)
    {
        var c = config.Validated();
        if (batch < 1 || batch > 1 << 20) throw new ConfigException($"batch must be in 1..{1 << 20} (got {batch})");
        if (!(bytesPerParameter > 0 && bytesPerParameter <= 8)) throw new ConfigException($"bytes per parameter must be in (0, 8] (got {bytesPerParameter})");
        var count = ParameterCounting.Count(c);
        long d = c.HiddenSize, expert = ParameterCounting.SwiGlu(d, c.MoeIntermediateSize);
        double experts = c.IsMoe ? ExpectedDistinctExperts(c.NRoutedExperts!.Value, c.NumExpertsPerTok, batch) : 0;
        double parameters = count.Activated - count[ParameterPart.Embedding].Activated - count[ParameterPart.RoutedExperts].Activated
            + (double)batch * d                              // one embedding row per sequence
            + c.MoeLayers * experts * expert;                // the routed experts the batch reads
        if (c.TieWordEmbeddings) parameters += count[ParameterPart.Embedding].Activated;   // the tied head reads the whole table
        double weights = parameters * bytesPerParameter;
        double kv = KvCacheSize.TotalBytes(cache ?? c.ToKvCacheModel(), kvDtype, context);
        double step = weights + batch * kv;
        double stored = count.Total * bytesPerParameter;
        return new DecodeBound(c.Name, hardware.Name, bytesPerParameter, context, batch, weights, experts, kv, step,
            batch * hardware.TotalBandwidth / step, stored, hardware.TotalMemoryBytes, stored + batch * kv <= hardware.TotalMemoryBytes);
    }
}

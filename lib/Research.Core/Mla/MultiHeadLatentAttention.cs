using Research.Fp8;
using Research.Models;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Research.Mla;

/// <summary>How a <see cref="MultiHeadLatentAttention"/> layer decodes from its latent cache (DeepSeek-V2 §2.1.2).</summary>
public enum MlaInference
{
    /// <summary>Decompress every cached latent into per-head keys and values at each step, then attend as MHA.</summary>
    Naive,
    /// <summary>Fold W^UK into the query and W^UV into the output side and attend against the latents themselves.</summary>
    Absorbed,
}

/// <summary>
/// Multi-head Latent Attention (DeepSeek-V2 §2.1, eqs. 9–19; V3 §2.1.1, eqs. 1–11). Keys and values of every head are
/// up-projections of one latent c^KV_t = W^DKV h_t of width d_c; position enters only through a decoupled RoPE part:
/// per-head rope queries q^R and one rope key k^R_t shared by all heads. Decoding caches just [norm(c^KV_t); k^R_t],
/// d_c + d_h^R elements per token per layer, and can attend without ever forming the keys and values
/// (<see cref="MlaInference.Absorbed"/>).
/// </summary>
public sealed class MultiHeadLatentAttention : nn.Module<Tensor, Tensor>, IIncrementalAttention
{
    // Field names follow the paper's matrices; they are the checkpoint keys.
    private readonly Linear? query;        // W^Q [n_h·(d_h + d_h^R), d], without query compression
    private readonly Linear? queryDown;    // W^DQ [d'_c, d]
    private readonly RmsNorm? queryNorm;   // on c^Q
    private readonly Linear? queryUp;      // [W^UQ; W^QR] [n_h·(d_h + d_h^R), d'_c]
    private readonly Linear kvDown;        // [W^DKV; W^KR] [d_c + d_h^R, d]: the latent and the shared rope key in one matmul
    private readonly RmsNorm kvNorm;       // on c^KV
    private readonly Linear kvUp;          // [W^UK; W^UV] per head, [n_h·(d_h + d_v), d_c]
    private readonly Linear output;        // W^O [d, n_h·d_v]; "output" marks a residual projection for TinyLm's init
    private readonly Tensor cos;           // RoPE tables [MaxSequence, d_h^R/2]
    private readonly Tensor sin;
    private readonly MlaConfig config;
    private readonly double scale;

    /// <param name="gemms">Precision of the layer's GEMMs (<see cref="Fp8TrainingRecipe"/>, e.g. V3's E4M3 with 1×128
    /// tiles and 128×128 blocks); null: FP32. The absorbed decoding path multiplies
    /// by W^UK and W^UV directly and keeps them in FP32.</param>
    public MultiHeadLatentAttention(MlaConfig config, Device device, Fp8TrainingRecipe? gemms = null) : base(nameof(MultiHeadLatentAttention))
    {
        Gemms = gemms?.Validated();
        this.config = config.Validated();
        int h = config.Heads, qk = config.QueryKeyDim;
        if (config.QueryLatentDim == 0)
            query = nn.Linear(config.Dim, h * qk, hasBias: false, device: device);
        else
        {
            queryDown = nn.Linear(config.Dim, config.QueryLatentDim, hasBias: false, device: device);
            queryNorm = new RmsNorm(config.QueryLatentDim, config.NormEpsilon, device);
            queryUp = nn.Linear(config.QueryLatentDim, h * qk, hasBias: false, device: device);
        }
        kvDown = nn.Linear(config.Dim, config.KvLatentDim + config.RopeHeadDim, hasBias: false, device: device);
        kvNorm = new RmsNorm(config.KvLatentDim, config.NormEpsilon, device);
        kvUp = nn.Linear(config.KvLatentDim, h * (config.HeadDim + config.ValueHeadDim), hasBias: false, device: device);
        output = nn.Linear(h * config.ValueHeadDim, config.Dim, hasBias: false, device: device);
        (cos, sin) = Rope.Tables(config.RopeHeadDim, config.MaxSequence, config.RopeTheta, device);
        scale = 1.0 / Math.Sqrt(qk);   // V2 eq. 18: 1/√(d_h + d_h^R)
        RegisterComponents();
    }

    public MlaConfig Config => config;

    /// <summary>The projections' precision; null: FP32.</summary>
    public Fp8TrainingRecipe? Gemms { get; }

    /// <summary>Which decoding path <see cref="Decode"/> takes; both compute the same attention.</summary>
    public MlaInference Inference { get; set; } = MlaInference.Absorbed;

    /// <inheritdoc/>
    public long CacheElementsPerToken => config.CacheElementsPerToken;

    /// <summary>Training forward over a whole sequence: keys and values decompressed for every head. x: [B, T, d] → [B, T, d].</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], t = x.shape[1];
        var (qContent, qRope) = Queries(x, 0);                       // [B, n_h, T, d_h], [B, n_h, T, d_h^R]
        var (latent, kRope) = Latents(x, 0);                         // [B, T, d_c], [B, T, d_h^R]
        var (kContent, v) = Decompress(latent);                      // [B, n_h, T, d_h], [B, n_h, T, d_v]
        var q = cat([qContent, qRope], -1);                          // V2 eq. 16: q_{t,i} = [q^C_{t,i}; q^R_{t,i}]
        var k = cat([kContent, kRope.unsqueeze(1).expand(b, config.Heads, t, config.RopeHeadDim)], -1);   // eq. 17
        // SDPA's default scale is 1/√(last dim of q) = 1/√(d_h + d_h^R), eq. 18's.
        var attended = nn.functional.scaled_dot_product_attention(q, k, v, null, 0.0, true);   // [B, n_h, T, d_v]
        return output.Apply(attended.transpose(1, 2).reshape(b, t, -1), Gemms).MoveToOuterDisposeScope();   // eq. 19
    }

    /// <inheritdoc/>
    public KvCache NewCache(int batch, int capacity)
    {
        CausalSelfAttention.CheckCapacity(batch, capacity, config.MaxSequence, "MlaConfig.MaxSequence");
        // One row per token: [norm(c^KV_t); RoPE(k^R_t)], as DeepSeek-V3's absorbed inference caches them.
        return new KvCache([zeros([batch, capacity, config.CacheElementsPerToken], kvDown.weight!.dtype, kvDown.weight.device)], [1], capacity);
    }

    /// <inheritdoc/>
    public Tensor Decode(Tensor x, KvCache cache)   // x: [B, T, d] → [B, T, d]
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        long b = x.shape[0], t = x.shape[1];
        int start = cache.Length, dc = config.KvLatentDim, h = config.Heads;
        cache.EnsureRoom(t);
        var (qContent, qRope) = Queries(x, start);                   // [B, n_h, T, d_h], [B, n_h, T, d_h^R]
        var (latent, kRope) = Latents(x, start);
        var rows = cache.Write(0, cat([latent, kRope], -1));         // [B, S, d_c + d_h^R]
        cache.Advance((int)t);
        long s = rows.shape[1];
        if (Inference == MlaInference.Naive)
        {
            var (kContent, v) = Decompress(rows.narrow(-1, 0, dc));  // [B, n_h, S, d_h], [B, n_h, S, d_v]: every step
            var k = cat([kContent, rows.narrow(-1, dc, config.RopeHeadDim).unsqueeze(1).expand(b, h, s, config.RopeHeadDim)], -1);
            var q = cat([qContent, qRope], -1).unsqueeze(2);         // [B, n_h, 1, T, d_h + d_h^R]
            var attended = CachedAttention.Attend(q, k, v, scale).squeeze(2);   // [B, n_h, T, d_v]
            return output.Apply(attended.transpose(1, 2).reshape(b, t, -1), Gemms).MoveToOuterDisposeScope();
        }
        // q^C_i · (W^UK_i c_j) = (W^UK_iᵀ q^C_i) · c_j: the query moves into latent space, and the keys are the
        // cached rows themselves: [q̃_i; q^R_i] · [c_j; k^R_j]. All heads share that one "key head" (G = 1).
        // Both absorbed products take the heads as the batch of one bmm, so each W^U·_i meets all B·T rows of its
        // head at once (a [B, n_h, ·, ·] matmul would broadcast, i.e. copy, the weights once per sequence).
        var (upKey, upValue) = UpProjections();                  // [n_h, d_h, d_c], [n_h, d_v, d_c]
        var qLatent = HeadsFirst(qContent).bmm(upKey);           // [n_h, B·T, d_c]
        var absorbed = cat([qLatent.view(h, b, t, dc).permute(1, 0, 2, 3), qRope], -1);   // [q̃_i; q^R_i]: [B, n_h, T, d_c + d_h^R]
        var latentValues = rows.narrow(-1, 0, dc).unsqueeze(1);  // [B, 1, S, d_c]: values are the latents too
        var mixed = CachedAttention.Attend(absorbed.unsqueeze(1), rows.unsqueeze(1), latentValues, scale).squeeze(1);   // [B, n_h, T, d_c]
        // Σ_j a_ij W^UV_i c_j = W^UV_i Σ_j a_ij c_j: W^UV is applied once per head after the weighted sum.
        var values = HeadsFirst(mixed).bmm(upValue.transpose(-1, -2));                 // [n_h, B·T, d_v]
        return output.Apply(values.view(h, b, t, -1).permute(1, 2, 0, 3).reshape(b, t, -1), Gemms).MoveToOuterDisposeScope();   // [B, T, n_h·d_v]
    }

    // V2 eqs. 12–15 (V3 eqs. 6–9): content and rope queries of positions start..start+T−1.
    private (Tensor Content, Tensor Rope) Queries(Tensor x, int start)
    {
        using var scope = NewDisposeScope();
        var projected = query is not null ? query.Apply(x, Gemms)
            : queryUp!.Apply(queryNorm!.forward(queryDown!.Apply(x, Gemms)), Gemms);                  // c^Q = W^DQ h; [W^UQ; W^QR] c^Q
        var heads = CausalSelfAttention.SplitHeads(projected, config.Heads);                 // [B, n_h, T, d_h + d_h^R]
        var content = heads.narrow(-1, 0, config.HeadDim);
        var rope = Rope.Apply(heads.narrow(-1, config.HeadDim, config.RopeHeadDim), cos, sin, start);
        return (content.MoveToOuterDisposeScope(), rope.MoveToOuterDisposeScope());
    }

    // V2 eqs. 9 and 14 (V3 eqs. 1 and 3): the normalised latent c^KV and the rotated shared key k^R, [B, T, ·] each.
    private (Tensor Latent, Tensor RopeKey) Latents(Tensor x, int start)
    {
        using var scope = NewDisposeScope();
        var down = kvDown.Apply(x, Gemms);                                                       // [B, T, d_c + d_h^R]
        var latent = kvNorm.forward(down.narrow(-1, 0, config.KvLatentDim));
        var ropeKey = Rope.Apply(down.narrow(-1, config.KvLatentDim, config.RopeHeadDim), cos, sin, start);
        return (latent.MoveToOuterDisposeScope(), ropeKey.MoveToOuterDisposeScope());
    }

    // V2 eqs. 10–11: per-head content keys and values from latents [B, S, d_c] → [B, n_h, S, d_h], [B, n_h, S, d_v].
    private (Tensor Keys, Tensor Values) Decompress(Tensor latent)
    {
        using var scope = NewDisposeScope();
        var heads = CausalSelfAttention.SplitHeads(kvUp.Apply(latent, Gemms), config.Heads);     // [B, n_h, S, d_h + d_v]
        return (heads.narrow(-1, 0, config.HeadDim).MoveToOuterDisposeScope(),
                heads.narrow(-1, config.HeadDim, config.ValueHeadDim).MoveToOuterDisposeScope());
    }

    /// <summary>The content keys k^C = W^UK c^KV of x [B, T, d] for every head: [B, n_h, T, d_h]. Stacked over heads they
    /// have rank ≤ d_c, the latent bottleneck (for inspection; decoding never forms them on the absorbed path).</summary>
    public Tensor ContentKeys(Tensor x)
    {
        using var scope = NewDisposeScope();
        return Decompress(Latents(x, 0).Latent).Keys.MoveToOuterDisposeScope();
    }

    // [B, n_h, T, w] → [n_h, B·T, w]: the rows of each head together.
    private static Tensor HeadsFirst(Tensor x) => x.transpose(0, 1).reshape(x.shape[1], -1, x.shape[3]);

    /// <summary>W^UK and W^UV split per head out of kvUp's weight: [n_h, d_h, d_c] and [n_h, d_v, d_c] (views, no copy).</summary>
    public (Tensor UpKey, Tensor UpValue) UpProjections()
    {
        var w = kvUp.weight!.view(config.Heads, config.HeadDim + config.ValueHeadDim, config.KvLatentDim);
        return (w.narrow(1, 0, config.HeadDim), w.narrow(1, config.HeadDim, config.ValueHeadDim));
    }
}

using Research.Experiments;
using Research.Fp8;
using Research.Moe;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Research.Models;

// DeepSeek-V3's architecture at any size, read top to bottom (V3 = arXiv 2412.19437, V2 = arXiv 2405.04434):
//   RmsNorm → Rope → Linear (FP32 or FP8) → Attention (MHA/GQA/MQA) and MultiHeadLatentAttention (V3 §2.1.1)
//   → Router (the gate, §2.1.2) → SwiGlu and MoeLayer (DeepSeekMoE: shared + routed experts) → Block
//   → MtpDepth (§2.2) → LanguageModel (embedding, blocks, head, MTP depths, losses).
// Everything is built from one ModelConfig (config.json's names). Checkpoint keys follow the field names below.
// The KV caches used in decoding are in KvCache.cs.

/// <summary>RMSNorm (Zhang &amp; Sennrich 2019): x / √(mean(x²) + ε) · g, with a learned gain g and no bias.</summary>
public sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;   // g [d]
    private readonly double epsilon;

    public RmsNorm(int dim, double epsilon, Device device) : base(nameof(RmsNorm))
    {
        weight = new Parameter(ones(dim, device: device));
        this.epsilon = epsilon;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => Normalize(x, weight, epsilon);   // [..., d] → [..., d]

    /// <summary>The pure function: x · rsqrt(mean(x², last dim) + ε) · g.</summary>
    public static Tensor Normalize(Tensor x, Tensor gain, double epsilon)
    {
        using var scope = NewDisposeScope();
        var rms = (x.square().mean([-1], keepdim: true) + epsilon).rsqrt();   // [..., 1]
        return (x * rms * gain).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// Rotary position embedding (RoFormer, Su et al. 2021): dimensions (2i, 2i+1) of a query or key at position m are
/// rotated by the angle m·θ^(−2i/d), so the dot product of a rotated query and key depends only on their distance.
/// Shared by every attention variant (MHA, GQA, MQA and MLA's decoupled key).
/// </summary>
public static class Rope
{
    /// <summary>cos and sin of m·θ^(−2i/d) for positions m = 0..positions−1 and pairs i = 0..d/2−1, each [positions, d/2].</summary>
    public static (Tensor Cos, Tensor Sin) Tables(int dim, int positions, double theta, Device device)
    {
        if (dim <= 0 || dim % 2 != 0)
            throw new ArgumentOutOfRangeException(nameof(dim), dim, $"Rope.Tables: the rotated dimension must be even and > 0 (got {dim})");
        if (positions <= 0)
            throw new ArgumentOutOfRangeException(nameof(positions), positions, $"Rope.Tables: positions must be > 0 (got {positions})");
        using var scope = NewDisposeScope();
        // Built in float64 so long tables keep their angles exact to float32 precision.
        var inverse = pow(theta, -arange(0, dim, 2, ScalarType.Float64, device) / dim);        // [d/2]
        var angles = outer(arange(positions, ScalarType.Float64, device), inverse);            // [positions, d/2]
        return (angles.cos().to_type(ScalarType.Float32).MoveToOuterDisposeScope(),
                angles.sin().to_type(ScalarType.Float32).MoveToOuterDisposeScope());
    }

    /// <summary>Rotates <paramref name="x"/> [..., T, d] whose rows are positions <paramref name="start"/>..start+T−1.
    /// Pairs are adjacent dimensions (2i, 2i+1), as DeepSeek-V3's reference code (complex multiplication).</summary>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin, int start = 0)
    {
        long t = x.shape[^2], d = x.shape[^1];
        if (d % 2 != 0 || d / 2 != cos.shape[1])
            throw new ArgumentException($"Rope.Apply: x's last dimension {d} must be twice the tables' width {cos.shape[1]}", nameof(x));
        if (start < 0 || start + t > cos.shape[0])
            throw new ArgumentOutOfRangeException(nameof(start), $"Rope.Apply: positions {start}..{start + t - 1} exceed the tables' {cos.shape[0]} positions (the configured maximum sequence length)");
        using var scope = NewDisposeScope();
        var pairs = x.reshape([.. x.shape[..^1], d / 2, 2]);                 // [..., T, d/2, 2]
        var (even, odd) = (pairs.select(-1, 0), pairs.select(-1, 1));       // [..., T, d/2] each
        var c = cos.narrow(0, start, t).to_type(x.dtype);                  // [T, d/2]
        var s = sin.narrow(0, start, t).to_type(x.dtype);
        // (a + ib)(cos + i sin) = (a cos − b sin) + i(a sin + b cos)
        var rotated = stack([even * c - odd * s, even * s + odd * c], -1);  // [..., T, d/2, 2]
        return rotated.reshape(x.shape).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// y = x·Wᵀ (+ b), the linear layer of every block. With an <see cref="Fp8TrainingRecipe"/> its three GEMMs (Fprop,
/// Dgrad, Wgrad) run on FP8-rounded operands with fine-grained scaling (V3 §3.3, <see cref="Fp8Training.Linear"/>);
/// without one it is FP32. The weight stays an FP32 master copy either way (keys <c>weight</c> and <c>bias</c>, as
/// <c>nn.Linear</c>), so one checkpoint loads into the FP8 and the FP32 model alike.
/// </summary>
public sealed class Linear : nn.Module<Tensor, Tensor>
{
    private readonly Parameter weight;   // W [out, in]
    private readonly Parameter? bias;    // b [out], added after the product (FP32 even under FP8)

    /// <param name="generator">Draws W and b uniform in ±1/√in (nn.Linear's bounds) from this generator; null: from
    /// libtorch's global one, as nn.Linear does. A <see cref="LanguageModel"/> re-draws its weights either way.</param>
    public Linear(long inFeatures, long outFeatures, Device device, Fp8TrainingRecipe? fp8 = null, bool hasBias = false, Generator? generator = null)
        : base(nameof(Linear))
    {
        if (inFeatures < 1 || outFeatures < 1)
            throw new ArgumentOutOfRangeException(nameof(inFeatures), $"Linear: features must be ≥ 1 (got {inFeatures} → {outFeatures})");
        Fp8 = fp8 is { Enabled: true } ? fp8.Validated() : null;
        double bound = 1.0 / Math.Sqrt(inFeatures);
        weight = new Parameter(Uniform([outFeatures, inFeatures]));
        if (hasBias) bias = new Parameter(Uniform([outFeatures]));
        RegisterComponents();

        Tensor Uniform(long[] shape)
        {
            using var noGrad = no_grad();
            if (generator is not null) return (rand(shape, generator: generator, device: device) * (2 * bound) - bound).detach();
            var t = empty(shape, device: device);
            return shape.Length == 2 ? nn.init.kaiming_uniform_(t, Math.Sqrt(5)) : t.uniform_(-bound, bound);   // nn.Linear's draws
        }
    }

    /// <summary>The GEMMs' FP8 recipe; null: FP32.</summary>
    public Fp8TrainingRecipe? Fp8 { get; }

    /// <summary>The FP32 master weight W: [out, in].</summary>
    public Parameter Weight => weight;

    /// <summary>The bias b: [out], or null.</summary>
    public Parameter? Bias => bias;

    public override Tensor forward(Tensor x) =>   // [..., in] → [..., out]
        Fp8 is null ? nn.functional.linear(x, weight, bias) : Fp8Training.Linear(x, weight, bias, Fp8);
}

/// <summary>
/// Causal self-attention with RoPE on queries and keys. The n_h query heads share n_g key/value heads of width d_h:
/// n_g = n_h is multi-head attention, 1 &lt; n_g &lt; n_h grouped-query attention (Ainslie et al. 2023), n_g = 1
/// multi-query attention (Shazeer 2019). Query heads g·(n_h/n_g) … (g+1)·(n_h/n_g)−1 use key/value head g.
/// Decoding caches 2·n_g·d_h elements per token (V2 Table 1).
/// </summary>
public sealed class Attention : nn.Module<Tensor, Tensor>, IIncrementalAttention
{
    private readonly Linear wq;   // W^Q [n_h·d_h, d]
    private readonly Linear wk;   // W^K [n_g·d_h, d]
    private readonly Linear wv;   // W^V [n_g·d_h, d]
    private readonly Linear wo;   // W^O [d, n_h·d_h], a residual projection (scaled init)
    private readonly Tensor cos;  // RoPE tables [max_position_embeddings, d_h/2]
    private readonly Tensor sin;

    public Attention(ModelConfig config, Device device) : base(nameof(Attention))
    {
        Config = config.Buildable();
        (Heads, KvHeads, HeadDim) = (config.NumAttentionHeads, config.KeyValueHeads, config.DenseHeadDim);
        wq = new Linear(config.HiddenSize, Heads * HeadDim, device, config.Fp8);
        wk = new Linear(config.HiddenSize, KvHeads * HeadDim, device, config.Fp8);
        wv = new Linear(config.HiddenSize, KvHeads * HeadDim, device, config.Fp8);
        wo = new Linear(Heads * HeadDim, config.HiddenSize, device, config.Fp8);
        (cos, sin) = Rope.Tables(HeadDim, config.MaxPositionEmbeddings, config.RopeTheta, device);
        RegisterComponents();
    }

    public ModelConfig Config { get; }

    /// <summary>n_h.</summary>
    public int Heads { get; }

    /// <summary>n_g (= n_h for MHA, 1 for MQA).</summary>
    public int KvHeads { get; }

    /// <summary>d_h, the width of one head.</summary>
    public int HeadDim { get; }

    public long CacheElementsPerToken => 2L * KvHeads * HeadDim;

    public override Tensor forward(Tensor x)   // [B, T, d] → [B, T, d]
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], t = x.shape[1];
        var q = Rope.Apply(SplitHeads(wq.forward(x), Heads), cos, sin);     // [B, n_h, T, d_h]
        var k = Rope.Apply(SplitHeads(wk.forward(x), KvHeads), cos, sin);   // [B, n_g, T, d_h]
        var v = SplitHeads(wv.forward(x), KvHeads);
        if (KvHeads != Heads)
        {
            // Each key/value head serves n_h/n_g consecutive query heads. Training reads the whole sequence once, so
            // repeating them is cheap here; decoding groups the queries instead (CachedAttention).
            k = k.repeat_interleave(Heads / KvHeads, 1);
            v = v.repeat_interleave(Heads / KvHeads, 1);
        }
        var attended = nn.functional.scaled_dot_product_attention(q, k, v, null, 0.0, true);   // [B, n_h, T, d_h]
        return wo.forward(attended.transpose(1, 2).reshape(b, t, -1)).MoveToOuterDisposeScope();
    }

    public KvCache NewCache(int batch, int capacity)
    {
        CheckCapacity(batch, capacity, Config.MaxPositionEmbeddings);
        var keys = zeros([batch, KvHeads, capacity, HeadDim], wq.Weight.dtype, wq.Weight.device);
        return new KvCache([keys, zeros_like(keys)], [2, 2], capacity);
    }

    public Tensor Decode(Tensor x, KvCache cache)   // [B, T, d] → [B, T, d]
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        long b = x.shape[0], t = x.shape[1];
        int start = cache.Length;
        cache.EnsureRoom(t);
        var q = Rope.Apply(SplitHeads(wq.forward(x), Heads), cos, sin, start);   // [B, n_h, T, d_h]
        var k = Rope.Apply(SplitHeads(wk.forward(x), KvHeads), cos, sin, start); // [B, n_g, T, d_h]
        var keys = cache.Write(0, k);                                            // [B, n_g, S, d_h]
        var values = cache.Write(1, SplitHeads(wv.forward(x), KvHeads));
        cache.Advance((int)t);
        var grouped = q.reshape(b, KvHeads, Heads / KvHeads, t, HeadDim);        // [B, n_g, n_h/n_g, T, d_h]
        var attended = CachedAttention.Attend(grouped, keys, values, 1.0 / Math.Sqrt(HeadDim));
        var merged = attended.view(b, Heads, t, HeadDim).transpose(1, 2).reshape(b, t, -1);   // [B, T, n_h·d_h]
        return wo.forward(merged).MoveToOuterDisposeScope();
    }

    /// <summary>The rotated keys of x [B, T, d] at positions 0..T−1: [B, n_g, T, d_h] (for inspection).</summary>
    public Tensor Keys(Tensor x) => Rope.Apply(SplitHeads(wk.forward(x), KvHeads), cos, sin);

    /// <summary>[B, T, n·w] → [B, n, T, w].</summary>
    public static Tensor SplitHeads(Tensor x, int heads) => x.reshape(x.shape[0], x.shape[1], heads, -1).transpose(1, 2);

    /// <summary>The checks every <see cref="IIncrementalAttention.NewCache"/> makes.</summary>
    public static void CheckCapacity(int batch, int capacity, int max)
    {
        if (batch < 1)
            throw new ArgumentOutOfRangeException(nameof(batch), batch, $"KV cache: batch must be ≥ 1 (got {batch})");
        if (capacity < 1 || capacity > max)
            throw new ArgumentOutOfRangeException(nameof(capacity), capacity, $"KV cache: context {capacity} is outside 1..{max} (max_position_embeddings, the longest sequence RoPE covers)");
    }
}

/// <summary>How a <see cref="MultiHeadLatentAttention"/> layer decodes from its latent cache (DeepSeek-V2 §2.1.2).</summary>
public enum MlaInference
{
    /// <summary>Decompress every cached latent into per-head keys and values at each step, then attend as MHA.</summary>
    Naive,
    /// <summary>Fold W^UK into the query and W^UV into the output side and attend against the latents themselves.</summary>
    Absorbed,
}

/// <summary>
/// Multi-head Latent Attention (V2 §2.1, eqs. 9–19; V3 §2.1.1, eqs. 1–11). Keys and values of every head are
/// up-projections of one latent c^KV_t = W^DKV h_t of width d_c (kv_lora_rank); position enters only through a
/// decoupled RoPE part: per-head rope queries q^R and one rope key k^R_t shared by all heads. Decoding caches just
/// [norm(c^KV_t); k^R_t], d_c + d_h^R elements per token per layer, and can attend without ever forming the keys and
/// values (<see cref="MlaInference.Absorbed"/>). d_h = qk_nope_head_dim, d_h^R = qk_rope_head_dim, d'_c = q_lora_rank.
/// </summary>
public sealed class MultiHeadLatentAttention : nn.Module<Tensor, Tensor>, IIncrementalAttention
{
    private readonly Linear? wq;       // W^Q [n_h·(d_h + d_h^R), d], without query compression
    private readonly Linear? wqA;      // W^DQ [d'_c, d]
    private readonly RmsNorm? qNorm;   // on c^Q
    private readonly Linear? wqB;      // [W^UQ; W^QR] [n_h·(d_h + d_h^R), d'_c]
    private readonly Linear wkvA;      // [W^DKV; W^KR] [d_c + d_h^R, d]: the latent and the shared rope key in one GEMM
    private readonly RmsNorm kvNorm;   // on c^KV
    private readonly Linear wkvB;      // [W^UK; W^UV] per head, [n_h·(d_h + d_v), d_c]
    private readonly Linear wo;        // W^O [d, n_h·d_v], a residual projection
    private readonly Tensor cos;       // RoPE tables [max_position_embeddings, d_h^R/2]
    private readonly Tensor sin;
    private readonly double scale;

    public MultiHeadLatentAttention(ModelConfig config, Device device) : base(nameof(MultiHeadLatentAttention))
    {
        if (!config.IsMla) throw new ConfigException($"ModelConfig '{config.Name}': MLA needs kv_lora_rank (d_c)");
        Config = config.Buildable();
        int d = config.HiddenSize, h = config.NumAttentionHeads, qk = config.QkNopeHeadDim + config.QkRopeHeadDim;
        if (config.QLoraRank is not int qRank)
            wq = new Linear(d, h * qk, device, config.Fp8);
        else
        {
            wqA = new Linear(d, qRank, device, config.Fp8);
            qNorm = new RmsNorm(qRank, config.RmsNormEps, device);
            wqB = new Linear(qRank, h * qk, device, config.Fp8);
        }
        wkvA = new Linear(d, KvLatentDim + RopeHeadDim, device, config.Fp8);
        kvNorm = new RmsNorm(KvLatentDim, config.RmsNormEps, device);
        wkvB = new Linear(KvLatentDim, h * (config.QkNopeHeadDim + config.VHeadDim), device, config.Fp8);
        wo = new Linear(h * config.VHeadDim, d, device, config.Fp8);
        (cos, sin) = Rope.Tables(RopeHeadDim, config.MaxPositionEmbeddings, config.RopeTheta, device);
        scale = 1.0 / Math.Sqrt(qk);   // V2 eq. 18: 1/√(d_h + d_h^R)
        RegisterComponents();
    }

    public ModelConfig Config { get; }

    /// <summary>n_h.</summary>
    public int Heads => Config.NumAttentionHeads;

    /// <summary>d_c, the width of the cached latent.</summary>
    public int KvLatentDim => Config.KvLoraRank!.Value;

    /// <summary>d_h^R, the width of the decoupled RoPE key.</summary>
    public int RopeHeadDim => Config.QkRopeHeadDim;

    /// <summary>Which decoding path <see cref="Decode"/> takes; both compute the same attention.</summary>
    public MlaInference Inference { get; set; } = MlaInference.Absorbed;

    public long CacheElementsPerToken => KvLatentDim + RopeHeadDim;

    /// <summary>Training forward over a whole sequence: keys and values decompressed for every head. [B, T, d] → [B, T, d].</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], t = x.shape[1];
        var (qContent, qRope) = Queries(x, 0);                       // [B, n_h, T, d_h], [B, n_h, T, d_h^R]
        var (latent, kRope) = Latents(x, 0);                         // [B, T, d_c], [B, T, d_h^R]
        var (kContent, v) = Decompress(latent);                      // [B, n_h, T, d_h], [B, n_h, T, d_v]
        var q = cat([qContent, qRope], -1);                          // V2 eq. 16: q_{t,i} = [q^C_{t,i}; q^R_{t,i}]
        var k = cat([kContent, kRope.unsqueeze(1).expand(b, Heads, t, RopeHeadDim)], -1);   // eq. 17
        // SDPA's default scale is 1/√(last dim of q) = 1/√(d_h + d_h^R), eq. 18's.
        var attended = nn.functional.scaled_dot_product_attention(q, k, v, null, 0.0, true);   // [B, n_h, T, d_v]
        return wo.forward(attended.transpose(1, 2).reshape(b, t, -1)).MoveToOuterDisposeScope();   // eq. 19
    }

    public KvCache NewCache(int batch, int capacity)
    {
        Attention.CheckCapacity(batch, capacity, Config.MaxPositionEmbeddings);
        // One row per token: [norm(c^KV_t); RoPE(k^R_t)], as DeepSeek-V3's absorbed inference caches them.
        return new KvCache([zeros([batch, capacity, CacheElementsPerToken], wkvA.Weight.dtype, wkvA.Weight.device)], [1], capacity);
    }

    public Tensor Decode(Tensor x, KvCache cache)   // [B, T, d] → [B, T, d]
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        long b = x.shape[0], t = x.shape[1];
        int start = cache.Length, dc = KvLatentDim, h = Heads;
        cache.EnsureRoom(t);
        var (qContent, qRope) = Queries(x, start);                   // [B, n_h, T, d_h], [B, n_h, T, d_h^R]
        var (latent, kRope) = Latents(x, start);
        var rows = cache.Write(0, cat([latent, kRope], -1));         // [B, S, d_c + d_h^R]
        cache.Advance((int)t);
        long s = rows.shape[1];
        if (Inference == MlaInference.Naive)
        {
            var (kContent, v) = Decompress(rows.narrow(-1, 0, dc));  // [B, n_h, S, d_h], [B, n_h, S, d_v]: every step
            var k = cat([kContent, rows.narrow(-1, dc, RopeHeadDim).unsqueeze(1).expand(b, h, s, RopeHeadDim)], -1);
            var q = cat([qContent, qRope], -1).unsqueeze(2);         // [B, n_h, 1, T, d_h + d_h^R]
            var attended = CachedAttention.Attend(q, k, v, scale).squeeze(2);   // [B, n_h, T, d_v]
            return wo.forward(attended.transpose(1, 2).reshape(b, t, -1)).MoveToOuterDisposeScope();
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
        return wo.forward(values.view(h, b, t, -1).permute(1, 2, 0, 3).reshape(b, t, -1)).MoveToOuterDisposeScope();
    }

    // V2 eqs. 12–15 (V3 eqs. 6–9): content and rope queries of positions start..start+T−1.
    private (Tensor Content, Tensor Rope) Queries(Tensor x, int start)
    {
        using var scope = NewDisposeScope();
        var projected = wq is not null ? wq.forward(x) : wqB!.forward(qNorm!.forward(wqA!.forward(x)));   // c^Q = W^DQ h; [W^UQ; W^QR] c^Q
        var heads = Attention.SplitHeads(projected, Heads);                             // [B, n_h, T, d_h + d_h^R]
        var content = heads.narrow(-1, 0, Config.QkNopeHeadDim);
        var rope = Rope.Apply(heads.narrow(-1, Config.QkNopeHeadDim, RopeHeadDim), cos, sin, start);
        return (content.MoveToOuterDisposeScope(), rope.MoveToOuterDisposeScope());
    }

    // V2 eqs. 9 and 14 (V3 eqs. 1 and 3): the normalised latent c^KV and the rotated shared key k^R, [B, T, ·] each.
    private (Tensor Latent, Tensor RopeKey) Latents(Tensor x, int start)
    {
        using var scope = NewDisposeScope();
        var down = wkvA.forward(x);                                                      // [B, T, d_c + d_h^R]
        var latent = kvNorm.forward(down.narrow(-1, 0, KvLatentDim));
        var ropeKey = Rope.Apply(down.narrow(-1, KvLatentDim, RopeHeadDim), cos, sin, start);
        return (latent.MoveToOuterDisposeScope(), ropeKey.MoveToOuterDisposeScope());
    }

    // V2 eqs. 10–11: per-head content keys and values from latents [B, S, d_c] → [B, n_h, S, d_h], [B, n_h, S, d_v].
    private (Tensor Keys, Tensor Values) Decompress(Tensor latent)
    {
        using var scope = NewDisposeScope();
        var heads = Attention.SplitHeads(wkvB.forward(latent), Heads);                  // [B, n_h, S, d_h + d_v]
        return (heads.narrow(-1, 0, Config.QkNopeHeadDim).MoveToOuterDisposeScope(),
                heads.narrow(-1, Config.QkNopeHeadDim, Config.VHeadDim).MoveToOuterDisposeScope());
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

    /// <summary>W^UK and W^UV split per head out of wkv_b: [n_h, d_h, d_c] and [n_h, d_v, d_c] (views, no copy).</summary>
    public (Tensor UpKey, Tensor UpValue) UpProjections()
    {
        var w = wkvB.Weight.view(Heads, Config.QkNopeHeadDim + Config.VHeadDim, KvLatentDim);
        return (w.narrow(1, 0, Config.QkNopeHeadDim), w.narrow(1, Config.QkNopeHeadDim, Config.VHeadDim));
    }
}

/// <summary>One token's routing: affinities s [N, N_r] (with gradient), the chosen experts [N, K], their gate values
/// g [N, K] (normalised and scaled as configured, zero where dropped) and which assignments fit the capacity (null: dropless).</summary>
public sealed record Routing(Tensor Scores, Tensor Experts, Tensor Weights, Tensor? Kept);

/// <summary>
/// The gate of a DeepSeekMoE layer (V3 §2.1.2, eqs. 15–18): affinities s_{i,t} = σ(u_tᵀ e_i) (V3) or softmax (V2) to
/// the expert centroids e_i; the top K_r experts by s + b, optionally from the best topk_group of n_group groups; gate
/// values from the unbiased s, normalised over the chosen K_r and scaled by routed_scaling_factor. The bias b (a
/// buffer, moved by <see cref="Balancing.UpdateBias"/>) steers selection only: auxiliary-loss-free balancing.
/// </summary>
public sealed class Router : nn.Module
{
    private readonly Parameter weight;   // centroids e [N_r, d]
    private readonly Tensor bias;        // b [N_r] float32

    public Router(int dim, RouterConfig config, Device device, Generator? generator = null) : base(nameof(Router))
    {
        Config = config.Validated();
        if (dim < 1) throw new ArgumentOutOfRangeException(nameof(dim), dim, "Router: dim must be ≥ 1");
        weight = new Parameter(empty(config.Experts, dim, device: device));
        using (no_grad()) weight.normal_(0, 0.02, generator);
        bias = zeros(config.Experts, device: device);
        register_parameter("weight", weight);
        register_buffer("bias", bias);
    }

    public RouterConfig Config { get; }

    public Parameter Weight => weight;

    public Tensor Bias => bias;

    /// <summary>Routes x [N, d].</summary>
    public Routing Route(Tensor x)
    {
        if (x.dim() != 2 || x.shape[1] != weight.shape[1])
            throw new ArgumentException($"Router.Route: x must be [tokens, {weight.shape[1]}], got [{string.Join(", ", x.shape)}]", nameof(x));
        var logits = nn.functional.linear(x.to(weight.dtype), weight);
        var scores = Config.Affinity == Affinity.Sigmoid ? logits.sigmoid() : logits.softmax(-1);
        var experts = Select(scores.detach(), bias, Config);
        var weights = scores.gather(1, experts);
        if (Config.NormalizeTopK) weights = weights / weights.sum(-1, keepdim: true);
        if (Config.RoutedScaling != 1.0) weights = weights * Config.RoutedScaling;
        Tensor? kept = null;
        if (Config.CapacityFactor is double factor)
        {
            kept = WithinCapacity(experts, weights.detach(), Config.Experts, Capacity(x.shape[0], Config, factor));
            weights = weights * kept;
        }
        return new Routing(scores, experts, weights, kept);
    }

    /// <summary>Assignments one expert takes with a capacity factor: ⌈factor · tokens · K / N_r⌉.</summary>
    public static long Capacity(long tokens, RouterConfig config, double factor) =>
        (long)Math.Ceiling(factor * tokens * config.TopK / config.Experts);

    /// <summary>The chosen experts [N, K] for scores [N, N_r] plus the bias, within the best groups when group-limited.</summary>
    public static Tensor Select(Tensor scores, Tensor? bias, RouterConfig config)
    {
        using var scope = NewDisposeScope();
        var biased = bias is null ? scores : scores + bias;
        if (config.Groups > 1 && config.TopGroups < config.Groups)
        {
            long n = scores.shape[0];
            var grouped = biased.view(n, config.Groups, config.GroupSize);
            var groupScore = config.GroupScore == GroupScore.Max || config.GroupSize == 1
                ? grouped.amax([-1])
                : grouped.topk(2, -1).values.sum(-1);
            var keptGroups = groupScore.topk(config.TopGroups, -1).indexes;              // [N, M]
            var groupMask = zeros(n, config.Groups, dtype: ScalarType.Bool, device: scores.device)
                .scatter_(1, keptGroups, ones_like(keptGroups, dtype: ScalarType.Bool));
            // Experts of the other groups can never be chosen: −∞ rather than 0, which could beat negative biased scores.
            biased = grouped.masked_fill(groupMask.logical_not().unsqueeze(-1), double.NegativeInfinity).view(n, config.Experts);
        }
        return biased.topk(config.TopK, -1).indexes.MoveToOuterDisposeScope();
    }

    /// <summary>Which assignments each expert keeps under <paramref name="capacity"/>: the highest gate values first
    /// (GShard-style dropping, for comparison with V3's dropless routing).</summary>
    public static Tensor WithinCapacity(Tensor experts, Tensor weights, int expertCount, long capacity)
    {
        using var scope = NewDisposeScope();
        var flatExperts = experts.flatten();
        var byWeight = StableArgsort(weights.flatten(), descending: true);
        var byExpert = StableArgsort(flatExperts.index_select(0, byWeight));
        var order = byWeight.index_select(0, byExpert);                               // by expert, then weight desc
        var sortedExperts = flatExperts.index_select(0, order);
        var counts = flatExperts.bincount(null, expertCount);
        var starts = counts.cumsum(0) - counts;
        var rank = arange(order.shape[0], device: experts.device) - starts.index_select(0, sortedExperts);
        var kept = zeros(order.shape[0], dtype: ScalarType.Bool, device: experts.device)
            .index_put_(rank < capacity, order);
        return kept.view_as(experts).MoveToOuterDisposeScope();
    }

    /// <summary>Indices that sort <paramref name="values"/> [N], ties kept in input order.</summary>
    public static Tensor StableArgsort(Tensor values, bool descending = false)
    {
        var (sorted, indices) = values.sort(0, descending, true);
        sorted.Dispose();
        return indices;
    }
}

/// <summary>SwiGLU feed-forward (Shazeer 2020), DeepSeek's dense FFN and the shape of every expert: W₂(SiLU(W₁x) ⊙ W₃x).</summary>
public sealed class SwiGlu : nn.Module<Tensor, Tensor>
{
    private readonly Linear w1;   // W₁ [hidden, d]
    private readonly Linear w3;   // W₃ [hidden, d]
    private readonly Linear w2;   // W₂ [d, hidden], a residual projection

    public SwiGlu(int dim, int hidden, Device device, Fp8TrainingRecipe? fp8 = null) : base(nameof(SwiGlu))
    {
        w1 = new Linear(dim, hidden, device, fp8);
        w3 = new Linear(dim, hidden, device, fp8);
        w2 = new Linear(hidden, dim, device, fp8);
        RegisterComponents();
    }

    /// <summary>The hidden width.</summary>
    public long Hidden => w1.Weight.shape[0];

    public override Tensor forward(Tensor x)   // [..., d] → [..., d]
    {
        using var scope = NewDisposeScope();
        return w2.forward(nn.functional.silu(w1.forward(x)) * w3.forward(x)).MoveToOuterDisposeScope();
    }
}

/// <summary>Expert loads of one routed pass: tokens sent to each expert before any drop, and how many were dropped.</summary>
public sealed record RoutingStats(long[] Loads, long Tokens, int TopK, long Dropped)
{
    /// <summary>MaxVio = max load / mean load − 1 (V3 §4.5.2 / Wang et al. 2024).</summary>
    public double MaxVio => LoadMetrics.MaxVio(Loads);
    public double CoefficientOfVariation => LoadMetrics.CoefficientOfVariation(Loads);
    public double DroppedFraction => Dropped / (double)(Tokens * TopK);
}

/// <summary>One weight of every routed expert stacked: [N_r, out, in], so the sorted dispatch slices it per expert.</summary>
public sealed class ExpertWeights : nn.Module
{
    private readonly Parameter weight;

    public ExpertWeights(int experts, int outFeatures, int inFeatures, Device device) : base(nameof(ExpertWeights))
    {
        weight = new Parameter(zeros(experts, outFeatures, inFeatures, device: device));
        register_parameter("weight", weight);
    }

    public Parameter Weight => weight;
}

/// <summary>
/// A DeepSeekMoE layer (V3 eqs. 12–14): h' = u + Σ_{i≤N_s} FFN^(s)_i(u) + Σ_{i≤N_r} g_{i,t} FFN^(r)_i(u), N_s shared
/// experts always on (one SwiGLU of width N_s·moe_intermediate_size) and K_r of N_r routed experts chosen by the gate.
/// Training records each pass's expert loads (for the bias update and MaxVio) and the configured balancing loss.
/// </summary>
public sealed class MoeLayer : nn.Module<Tensor, Tensor>
{
    private readonly Router gate;            // the router: centroids and balancing bias
    private readonly ExpertWeights w1;       // W₁ of each routed expert [N_r, h, d]
    private readonly ExpertWeights w3;       // W₃ [N_r, h, d]
    private readonly ExpertWeights w2;       // W₂ [N_r, d, h], a residual projection
    private readonly SwiGlu? sharedExperts;  // the N_s shared experts as one SwiGLU
    private readonly Fp8TrainingRecipe? fp8;
    private long[]? trainingLoads;

    /// <param name="generator">Draws the layer's weights (σ = 0.02); a <see cref="LanguageModel"/> re-draws them with its own init.</param>
    public MoeLayer(ModelConfig config, Device device, Generator? generator = null) : base(nameof(MoeLayer))
    {
        if (!config.IsMoe) throw new ConfigException($"ModelConfig '{config.Name}': an MoE layer needs n_routed_experts");
        Config = config.Validated();
        Balance = config.Balance.Validated();
        fp8 = config.Fp8 is { Enabled: true } r ? r.Validated() : null;
        var router = config.ToRouterConfig();
        int d = config.HiddenSize, n = router.Experts, h = config.MoeIntermediateSize;
        gate = new Router(d, router, device, generator);
        w1 = new ExpertWeights(n, h, d, device);
        w3 = new ExpertWeights(n, h, d, device);
        w2 = new ExpertWeights(n, d, h, device);
        sharedExperts = config.NSharedExperts > 0 ? new SwiGlu(d, config.NSharedExperts * h, device, fp8) : null;
        RegisterComponents();
        using var noGrad = no_grad();
        foreach (var (name, p) in named_parameters())
            if (p.dim() >= 2 && !name.StartsWith("gate", StringComparison.Ordinal)) p.normal_(0, 0.02, generator);
    }

    public ModelConfig Config { get; }

    /// <summary>The balancing this layer trains with.</summary>
    public BalancingConfig Balance { get; }

    public int Dim => Config.HiddenSize;

    public Router Router => gate;

    /// <summary>Hidden width active per token: <see cref="ModelConfig.ActiveExpertWidth"/>.</summary>
    public int ActiveHidden => Config.ActiveExpertWidth;

    /// <summary>Loads of the last forward pass.</summary>
    public RoutingStats? LastStats { get; private set; }

    /// <summary>When set, <see cref="LastExperts"/> keeps every token's chosen experts of the last pass.</summary>
    public bool RecordSelections { get; set; }

    public long[]? LastExperts { get; private set; }

    /// <summary>The configured balancing loss of the last training pass (null in evaluation or with none configured).</summary>
    public Tensor? LastBalanceLoss { get; private set; }

    public override Tensor forward(Tensor x)   // [..., d] → [..., d]
    {
        if (x.shape[^1] != Dim) throw new ArgumentException($"MoeLayer.forward: last dimension must be {Dim}, got [{string.Join(", ", x.shape)}]", nameof(x));
        using var scope = NewDisposeScope();
        var flat = x.reshape(-1, Dim);
        var routing = gate.Route(flat);
        var counts = Record(routing);
        var y = DispatchTokens(flat, routing, counts);
        if (sharedExperts is not null) y = y + sharedExperts.forward(flat);
        // Owned by the layer, outside every dispose scope: the blocks around this layer dispose their scopes before the
        // model's caller reads it. The autograd graph keeps what backward needs; the next pass releases this handle.
        LastBalanceLoss?.Dispose();
        LastBalanceLoss = training ? BalanceLoss(routing, x.shape)?.DetachFromDisposeScope() : null;
        return y.view(x.shape).MoveToOuterDisposeScope();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            LastBalanceLoss?.Dispose();
            LastBalanceLoss = null;
        }
        base.Dispose(disposing);
    }

    /// <summary>The auxiliary-loss-free step b_i ← b_i + γ·sign(mean load − load_i) from the last training pass's loads.</summary>
    public void UpdateBias()
    {
        if (Balance.BiasUpdateSpeed == 0) return;
        if (trainingLoads is null) throw new InvalidOperationException("MoeLayer.UpdateBias: no training pass has been routed yet");
        Balancing.UpdateBias(gate.Bias, trainingLoads, Balance.BiasUpdateSpeed);
    }

    /// <summary>The same layer computed token by token and expert by expert: the reference the sorted dispatch is tested against.</summary>
    public Tensor ForwardNaive(Tensor x)
    {
        using var scope = NewDisposeScope();
        var flat = x.reshape(-1, Dim);
        var routing = gate.Route(flat);
        var (g, u, o) = (w1.Weight.unbind(0), w3.Weight.unbind(0), w2.Weight.unbind(0));
        var experts = routing.Experts.cpu().data<long>().ToArray();
        var kept = routing.Kept?.cpu().data<bool>().ToArray();
        int k = Config.NumExpertsPerTok;
        var rows = new Tensor[flat.shape[0]];
        for (int t = 0; t < rows.Length; t++)
        {
            var xt = flat[t].unsqueeze(0);
            var yt = sharedExperts is null ? zeros_like(xt) : sharedExperts.forward(xt);
            for (int j = 0; j < k; j++)
            {
                if (kept is not null && !kept[t * k + j]) continue;
                int e = (int)experts[t * k + j];
                var h = nn.functional.silu(Gemm(xt, g[e])) * Gemm(xt, u[e]);
                yt = yt + routing.Weights[t, j].to(x.dtype) * Gemm(h, o[e]);
            }
            rows[t] = yt;
        }
        return cat(rows, 0).view(x.shape).MoveToOuterDisposeScope();
    }

    // Sorted dispatch: gather the assignments' tokens grouped by expert, one SwiGLU per expert slice, scatter-add back.
    private Tensor DispatchTokens(Tensor flat, Routing routing, long[] counts)
    {
        int k = Config.NumExpertsPerTok;
        long n = flat.shape[0];
        var experts = routing.Experts.flatten();
        var weights = routing.Weights.flatten();
        var tokens = arange(n, device: flat.device).repeat_interleave(k);
        if (routing.Kept is not null)
        {
            var keep = routing.Kept.flatten().nonzero().squeeze(1);
            (experts, weights, tokens) = (experts.index_select(0, keep), weights.index_select(0, keep), tokens.index_select(0, keep));
        }
        var order = Router.StableArgsort(experts);
        var sortedTokens = tokens.index_select(0, order);
        var gathered = flat.index_select(0, sortedTokens);
        var sortedOutputs = ExpertLoop(gathered, counts);
        var result = zeros_like(flat);
        if (sortedOutputs is null) return result;
        var ys = sortedOutputs * weights.index_select(0, order).unsqueeze(1).to(flat.dtype);
        return result.index_add(0, sortedTokens, ys, 1);
    }

    // One SwiGLU per expert on its contiguous slice of the expert-sorted rows.
    private Tensor? ExpertLoop(Tensor gathered, long[] counts)
    {
        if (gathered.shape[0] == 0) return null;
        if (fp8 is null)
        {
            // Per-expert GEMMs as one autograd node per projection; the element-wise SwiGLU once over all rows.
            var hidden = nn.functional.silu(ExpertGemm.Apply(gathered, w1.Weight, counts)) * ExpertGemm.Apply(gathered, w3.Weight, counts);
            return ExpertGemm.Apply(hidden, w2.Weight, counts);
        }
        // unbind once: its backward stacks the N_r gradients in one op, where indexing each expert would write a full-size zero gradient per expert.
        var (g, u, o) = (w1.Weight.unbind(0), w3.Weight.unbind(0), w2.Weight.unbind(0));
        // split, not narrow: narrow's backward writes each slice's gradient into a full-size zero tensor (N_r of them);
        // split's concatenates the slices' gradients once.
        var slices = gathered.split(counts);
        var pieces = new List<Tensor>(counts.Length);
        for (int e = 0; e < counts.Length; e++)
        {
            if (counts[e] == 0) continue;
            var h = nn.functional.silu(Gemm(slices[e], g[e])) * Gemm(slices[e], u[e]);
            pieces.Add(Gemm(h, o[e]));
        }
        return cat(pieces, 0);
    }

    private Tensor Gemm(Tensor x, Tensor w) => fp8 is null ? nn.functional.linear(x, w) : Fp8Training.Linear(x, w, null, fp8);

    // Loads before drops feed the balancer; counts after drops size the dispatch slices.
    private long[] Record(Routing routing)
    {
        using var scope = NewDisposeScope();
        int n = gate.Config.Experts;
        var selected = routing.Experts.flatten().bincount(null, n).cpu().data<long>().ToArray();
        var kept = routing.Kept is null ? selected
            : routing.Experts.flatten().masked_select(routing.Kept.flatten()).bincount(null, n).cpu().data<long>().ToArray();
        long dropped = selected.Sum() - kept.Sum();
        LastStats = new RoutingStats(selected, routing.Experts.shape[0], gate.Config.TopK, dropped);
        if (training) trainingLoads = selected;
        LastExperts = RecordSelections ? routing.Experts.flatten().cpu().data<long>().ToArray() : null;
        return kept;
    }

    private Tensor? BalanceLoss(Routing routing, long[] inputShape)
    {
        Tensor? loss = null;
        if (Balance.AuxLossAlpha > 0) loss = Balancing.AuxLoss(routing.Scores, routing.Experts, Balance.AuxLossAlpha);
        if (Balance.SequenceAuxLossAlpha > 0)
        {
            // Sequences are the leading dimensions of the input: [B, T, d] → B sequences of T tokens; [N, d] is one.
            long t = inputShape.Length >= 3 ? inputShape[^2] : routing.Scores.shape[0];
            var sequence = Balancing.SequenceAuxLoss(routing.Scores.view(-1, t, gate.Config.Experts),
                routing.Experts.view(-1, t, gate.Config.TopK), Balance.SequenceAuxLossAlpha);
            loss = loss is null ? sequence : loss + sequence;
        }
        return loss;
    }
}

/// <summary>One pre-norm block: h = x + Attention(RMSNorm(x)); out = h + FFN(RMSNorm(h)). The attention is MLA when
/// kv_lora_rank is set, else MHA/GQA; the FFN is DeepSeekMoE from layer first_k_dense_replace on, else a dense SwiGLU.</summary>
public sealed class Block : nn.Module<Tensor, Tensor>
{
    private readonly RmsNorm attnNorm;
    private readonly nn.Module<Tensor, Tensor> attn;
    private readonly RmsNorm ffnNorm;
    private readonly nn.Module<Tensor, Tensor> ffn;

    public Block(ModelConfig config, int layer, Device device) : base(nameof(Block))
    {
        attnNorm = new RmsNorm(config.HiddenSize, config.RmsNormEps, device);
        attn = config.IsMla ? new MultiHeadLatentAttention(config, device) : new Attention(config, device);
        ffnNorm = new RmsNorm(config.HiddenSize, config.RmsNormEps, device);
        ffn = config.IsMoe && layer >= config.FirstKDenseReplace
            ? new MoeLayer(config, device)
            : new SwiGlu(config.HiddenSize, config.IntermediateSize, device, config.Fp8);
        RegisterComponents();
    }

    public nn.Module<Tensor, Tensor> Attention => attn;

    public nn.Module<Tensor, Tensor> FeedForward => ffn;

    public IIncrementalAttention Incremental => (IIncrementalAttention)attn;

    public override Tensor forward(Tensor x)   // [B, T, d] → [B, T, d]
    {
        using var scope = NewDisposeScope();
        var h = x + attn.forward(attnNorm.forward(x));
        return (h + ffn.forward(ffnNorm.forward(h))).MoveToOuterDisposeScope();
    }

    /// <summary>The same block over the next tokens with a KV cache: [B, T_new, d] → [B, T_new, d].</summary>
    public Tensor Decode(Tensor x, KvCache cache)
    {
        using var scope = NewDisposeScope();
        var h = x + Incremental.Decode(attnNorm.forward(x), cache);
        return (h + ffn.forward(ffnNorm.forward(h))).MoveToOuterDisposeScope();
    }
}

/// <summary>
/// MTP module k (V3 §2.2, eqs. 21–23): h'^k_i = M_k [RMSNorm(h^{k−1}_i); RMSNorm(Emb(t_{i+k}))], then one block,
/// h^k = TRM_k(h'^k); its logits go through the main model's output head (shared, as is the embedding).
/// </summary>
public sealed class MtpDepth : nn.Module<Tensor, Tensor, Tensor>
{
    private readonly RmsNorm hnorm;
    private readonly RmsNorm enorm;
    private readonly Linear ehProj;   // M_k [d, 2d]
    private readonly Block block;
    private readonly RmsNorm norm;

    public MtpDepth(ModelConfig config, int layer, Device device) : base(nameof(MtpDepth))
    {
        int d = config.HiddenSize;
        hnorm = new RmsNorm(d, config.RmsNormEps, device);
        enorm = new RmsNorm(d, config.RmsNormEps, device);
        ehProj = new Linear(2 * d, d, device);   // V3 keeps M_k out of FP8 like the embedding and head
        block = new Block(config, layer, device);
        norm = new RmsNorm(d, config.RmsNormEps, device);
        RegisterComponents();
    }

    public Block Block => block;

    /// <summary>M_k: [d, 2d].</summary>
    public Tensor ProjectionWeight => ehProj.Weight;

    /// <summary>h^{k−1} [B, T, d] and Emb(t_{i+k}) [B, T, d] → h^k [B, T, d].</summary>
    public override Tensor forward(Tensor previous, Tensor nextEmbedding)
    {
        if (!previous.shape.SequenceEqual(nextEmbedding.shape))
            throw new ArgumentException($"MtpDepth: the hidden states [{string.Join(", ", previous.shape)}] and the next tokens' embeddings [{string.Join(", ", nextEmbedding.shape)}] must have one shape");
        using var scope = NewDisposeScope();
        return block.forward(ehProj.forward(cat([hnorm.forward(previous), enorm.forward(nextEmbedding)], -1))).MoveToOuterDisposeScope();
    }

    public KvCache NewCache(int batch, int capacity) => block.Incremental.NewCache(batch, capacity);

    /// <summary><see cref="forward"/> over the next tokens with this depth's own KV cache (drafting).</summary>
    public Tensor Decode(Tensor previous, Tensor nextEmbedding, KvCache cache)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        return block.Decode(ehProj.forward(cat([hnorm.forward(previous), enorm.forward(nextEmbedding)], -1)), cache).MoveToOuterDisposeScope();
    }

    /// <summary>This depth's logits through the main model's head: OutHead(RMSNorm(h^k)).</summary>
    public Tensor Logits(LanguageModel model, Tensor hidden) => model.Head(norm.forward(hidden));
}

/// <summary>One batch's losses: the main next-token loss, each MTP depth's, the balancing losses summed over the MoE
/// layers (null when none is configured or in evaluation), and what training minimises:
/// main + (λ/D)·Σ_k L^k_MTP (V3 eq. 25) + balancing.</summary>
public sealed record LmLosses(Tensor Main, IReadOnlyList<Tensor> Depths, Tensor? Balance, Tensor Total);

/// <summary>
/// The language model: token embedding, num_hidden_layers <see cref="Block"/>s, final RMSNorm, output head, and
/// num_nextn_predict_layers <see cref="MtpDepth"/>s that share the embedding and head (V3 §2.2; dropped at inference).
/// Weights are drawn from one generator: every matrix N(0, σ²) with σ = initializer_range, residual output projections
/// (W^O, W₂) with σ/√(2·layers) (GPT-2).
/// </summary>
public sealed class LanguageModel : nn.Module<Tensor, Tensor>
{
    private readonly Embedding embed;          // [V, d]
    private readonly ModuleList<Block> layers;
    private readonly RmsNorm norm;
    private readonly TorchSharp.Modules.Linear head;   // [V, d], FP32 as in V3
    private readonly ModuleList<MtpDepth> mtp;

    public LanguageModel(ModelConfig config, Device device, Generator generator) : base(nameof(LanguageModel))
    {
        Config = config.Buildable();
        int d = config.HiddenSize;
        embed = nn.Embedding(config.VocabSize, d, device: device);
        layers = new ModuleList<Block>([.. Enumerable.Range(0, config.NumHiddenLayers).Select(l => new Block(config, l, device))]);
        norm = new RmsNorm(d, config.RmsNormEps, device);
        head = nn.Linear(d, config.VocabSize, hasBias: false, device: device);
        mtp = new ModuleList<MtpDepth>([.. Enumerable.Range(0, config.NumNextnPredictLayers).Select(k => new MtpDepth(config, config.NumHiddenLayers + k, device))]);
        RegisterComponents();
        // The depths are drawn after the main model, so a model's main weights do not depend on D.
        foreach (var part in new nn.Module[] { embed, layers, head, mtp }) InitializeWeights(part, config, generator);
        MoeLayers = [.. modules().OfType<MoeLayer>()];
    }

    public ModelConfig Config { get; }

    public IReadOnlyList<Block> Blocks => [.. layers];

    /// <summary>The D MTP depths, in order.</summary>
    public IReadOnlyList<MtpDepth> Depths => [.. mtp];

    /// <summary>Every MoE layer, the main model's first, then the MTP depths'.</summary>
    public IReadOnlyList<MoeLayer> MoeLayers { get; }

    /// <summary>The main model's MoE layers (what inference routes through).</summary>
    public IReadOnlyList<MoeLayer> MainMoeLayers => [.. layers.Select(b => b.FeedForward).OfType<MoeLayer>()];

    /// <summary>Trainable parameters, MTP depths included (the balancing biases are buffers).</summary>
    public long ParameterCount => parameters().Sum(p => p.numel());

    /// <summary>Parameters of the MTP depths alone.</summary>
    public long MtpParameters => mtp.parameters().Sum(p => p.numel());

    /// <summary>Parameters of the main model (what inference keeps).</summary>
    public long MainParameters => ParameterCount - MtpParameters;

    /// <summary>Balancing-bias elements (buffers): what the accounting's GateBias part counts.</summary>
    public long GateBiasElements => Config.HasGateBias ? MoeLayers.Sum(m => m.Router.Bias.numel()) : 0;

    /// <summary>tokens [B, T] int64 → logits [B, T, V] of the main model.</summary>
    public override Tensor forward(Tensor tokens)
    {
        if (tokens.dim() != 2 || tokens.dtype != ScalarType.Int64)
            throw new ArgumentException($"LanguageModel.forward: tokens must be int64 [batch, seq], got {tokens.dtype} [{string.Join(", ", tokens.shape)}]", nameof(tokens));
        if (tokens.shape[1] > Config.MaxPositionEmbeddings)
            throw new ArgumentException($"LanguageModel.forward: sequence length {tokens.shape[1]} exceeds max_position_embeddings ({Config.MaxPositionEmbeddings})", nameof(tokens));
        using var scope = NewDisposeScope();
        return Logits(HiddenStates(tokens)).MoveToOuterDisposeScope();
    }

    public Tensor Embed(Tensor tokens) => embed.forward(tokens);

    /// <summary>The last block's output h⁰ [B, T, d], before the final norm.</summary>
    public Tensor HiddenStates(Tensor tokens)
    {
        using var scope = NewDisposeScope();
        var x = embed.forward(tokens);
        foreach (var block in layers) x = block.forward(x);
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>OutHead(RMSNorm(h)).</summary>
    public Tensor Logits(Tensor hidden) => head.forward(norm.forward(hidden));

    /// <summary>The output head alone, on already normalised states (the MTP depths apply their own norm).</summary>
    public Tensor Head(Tensor normalized) => head.forward(normalized);

    /// <summary>
    /// Next-token loss, the D depths' losses (depth k predicts t_{i+k+1} from h^{k−1}_i and Emb(t_{i+k})) and the MoE
    /// layers' balancing losses of this pass. sequences: [B, T+1]; <paramref name="targetMask"/> [B, T] marks the
    /// targets that count (null: all).
    /// </summary>
    public LmLosses Losses(Tensor sequences, double lambda = 0, Tensor? targetMask = null)
    {
        if (!(lambda >= 0)) throw new ConfigException($"MtpConfig.Lambda (λ) must be ≥ 0 (got {lambda})");
        int depth = mtp.Count;
        long t = sequences.shape[1] - 1;
        if (depth >= t) throw new ConfigException($"num_nextn_predict_layers (D = {depth}) must be below the sequence's {t} positions");
        using var scope = NewDisposeScope();
        var hidden = HiddenStates(sequences.narrow(1, 0, t));                                // h⁰ [B, T, d]
        var (mainTargets, mainMask) = MultiTokenPredictionTargets(sequences, 0, targetMask);
        var main = CrossEntropy(Logits(hidden), mainTargets, mainMask);
        var depthLosses = new List<Tensor>();
        for (int k = 1; k <= depth; k++)
        {
            long kept = t - k;
            var next = embed.forward(sequences.narrow(1, k, kept));                          // Emb(t_{i+k})
            hidden = mtp[k - 1].forward(hidden.narrow(1, 0, kept), next);                   // h^k [B, T−k, d]
            var (targets, mask) = MultiTokenPredictionTargets(sequences, k, targetMask);
            depthLosses.Add(CrossEntropy(mtp[k - 1].Logits(this, hidden), targets.narrow(1, 0, kept), mask.narrow(1, 0, kept)));
        }
        var total = depth == 0 ? main : main + lambda / depth * stack(depthLosses).sum();
        Tensor? balance = null;
        foreach (var layer in MoeLayers)
            if (layer.LastBalanceLoss is Tensor b) balance = balance is null ? b.alias() : balance + b;
        if (balance is not null) total = total + balance;
        return new LmLosses(main.MoveToOuterDisposeScope(), [.. depthLosses.Select(l => l.MoveToOuterDisposeScope())],
            balance?.MoveToOuterDisposeScope(), ReferenceEquals(total, main) ? main : total.MoveToOuterDisposeScope());
    }

    /// <summary>The targets of depth k (0 = the main model) for sequences [B, T+1]: t_{i+k+1} at positions 0..T−k−1,
    /// masked beyond; [B, T] each.</summary>
    public static (Tensor Targets, Tensor Mask) MultiTokenPredictionTargets(Tensor sequences, int k, Tensor? targetMask = null)
    {
        long b = sequences.shape[0], t = sequences.shape[1] - 1;
        if (k < 0 || k >= t) throw new ArgumentOutOfRangeException(nameof(k), k, $"MultiTokenPredictionTargets: k must be in 0..{t - 1}");
        using var scope = NewDisposeScope();
        long kept = t - k;
        var targets = cat([sequences.narrow(1, k + 1, kept), zeros(b, k, sequences.dtype, sequences.device)], 1);
        var mask = cat([ones(b, kept, ScalarType.Bool, sequences.device), zeros(b, k, ScalarType.Bool, sequences.device)], 1);
        if (targetMask is not null)
            mask = mask.logical_and(cat([targetMask.narrow(1, k, kept), zeros(b, k, ScalarType.Bool, sequences.device)], 1));
        return (targets.MoveToOuterDisposeScope(), mask.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// The language-modelling loss, the one every experiment trains with: mean over the kept positions of
    /// −log softmax(logits)[label]. logits [B, S, V], labels [B, S] int64 in 0..V−1 where kept, mask [B, S] bool (null:
    /// every position). Masked positions contribute exactly 0, whatever their logits or label ids (−100 included).
    /// </summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor labels, Tensor? mask = null)
    {
        if (logits.dim() != 3 || !logits.is_floating_point())
            throw new ArgumentException($"CrossEntropy: logits must be floating point [batch, seq, vocab], got {logits.dtype} [{string.Join(", ", logits.shape)}]", nameof(logits));
        long batch = logits.shape[0], seq = logits.shape[1], vocab = logits.shape[2];
        if (labels.dtype != ScalarType.Int64 || labels.dim() != 2 || labels.shape[0] != batch || labels.shape[1] != seq)
            throw new ArgumentException($"CrossEntropy: labels must be int64 with shape [{batch}, {seq}] (batch, seq) of the logits, got {labels.dtype} [{string.Join(", ", labels.shape)}]", nameof(labels));
        if (mask is not null && (mask.dtype != ScalarType.Bool || !mask.shape.SequenceEqual(labels.shape)))
            throw new ArgumentException($"CrossEntropy: mask must be bool [{batch}, {seq}], got {mask.dtype} [{string.Join(", ", mask.shape)}]", nameof(mask));
        using var scope = NewDisposeScope();
        var ids = mask is null ? labels : labels.masked_fill(mask.logical_not(), 0);   // gather never sees an ignore id
        long min = ids.min().item<long>(), max = ids.max().item<long>();
        if (min < 0 || max >= vocab)
            throw new ArgumentOutOfRangeException(nameof(labels), $"CrossEntropy: labels must be in 0..{vocab - 1} (vocabulary {vocab}) at unmasked positions, got values from {min} to {max}");
        var perToken = -logits.log_softmax(-1).gather(-1, ids.unsqueeze(-1)).squeeze(-1);    // [B, S]
        return MaskedMean(perToken, mask).MoveToOuterDisposeScope();
    }

    /// <summary>Mean of [B, S] over the kept positions. <c>where</c>, not a multiply by the mask, so a NaN or Inf at a
    /// masked position cannot leak into the sum.</summary>
    public static Tensor MaskedMean(Tensor perToken, Tensor? mask)
    {
        if (mask is null) return perToken.mean();
        var keep = mask.to(perToken.device);
        var count = keep.sum().to_type(perToken.dtype);
        return where(keep, perToken, zeros_like(perToken)).sum() / count;
    }

    /// <summary>The auxiliary-loss-free step for every MoE layer, from the loads of the last training pass.</summary>
    public void UpdateBiases()
    {
        foreach (var layer in MoeLayers) layer.UpdateBias();
    }

    /// <summary>An empty KV cache for every block of the main model.</summary>
    public LmCache NewCache(int batch, int capacity) => new([.. layers.Select(b => b.Incremental.NewCache(batch, capacity))]);

    /// <summary>KV-cache elements per token of the main model, from a real cache (MLA: (d_c + d_h^R) per layer).</summary>
    public long KvCacheElementsPerToken
    {
        get
        {
            using var cache = NewCache(1, 1);
            return cache.ElementsPerToken;
        }
    }

    /// <summary>Logits [B, T_new, V] of the next tokens [B, T_new], appending them to <paramref name="cache"/>.</summary>
    public Tensor Decode(Tensor tokens, LmCache cache)
    {
        if (tokens.dim() != 2 || tokens.dtype != ScalarType.Int64)
            throw new ArgumentException($"LanguageModel.Decode: tokens must be int64 [batch, seq], got {tokens.dtype} [{string.Join(", ", tokens.shape)}]", nameof(tokens));
        if (cache.Layers.Count != layers.Count)
            throw new ArgumentException($"LanguageModel.Decode: the cache has {cache.Layers.Count} layers, the model {layers.Count}", nameof(cache));
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        return head.forward(norm.forward(DecodeHidden(tokens, cache))).MoveToOuterDisposeScope();
    }

    /// <summary>The last block's output [B, T_new, d] for the next tokens, appending them to the cache.</summary>
    public Tensor DecodeHidden(Tensor tokens, LmCache cache)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var x = embed.forward(tokens);
        for (int i = 0; i < layers.Count; i++) x = layers[i].Decode(x, cache.Layers[i]);
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>Draws every matrix of <paramref name="module"/> from N(0, σ²), σ = initializer_range, and the residual
    /// output projections (wo, w2) from N(0, σ²/(2·layers)); vectors (norm gains) keep their values.</summary>
    public static void InitializeWeights(nn.Module module, ModelConfig config, Generator generator)
    {
        using var noGrad = no_grad();
        double residualStd = config.InitializerRange / Math.Sqrt(2.0 * config.NumHiddenLayers);
        foreach (var (name, p) in module.named_parameters())
        {
            if (p.dim() < 2) continue;
            bool residual = name.EndsWith("wo.weight", StringComparison.Ordinal) || name.EndsWith("w2.weight", StringComparison.Ordinal);
            p.normal_(0, residual ? residualStd : config.InitializerRange, generator);
        }
    }
}

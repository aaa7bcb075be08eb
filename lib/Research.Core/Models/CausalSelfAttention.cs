using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Research.Models;

/// <summary>
/// Standard multi-head attention (Vaswani et al. 2017) with RoPE on queries and keys and a causal mask: the default
/// attention of <see cref="TinyLm"/>. Each of the n_h heads has its own query, key and value of width d_h.
/// </summary>
public sealed class CausalSelfAttention : nn.Module<Tensor, Tensor>
{
    private readonly Linear query;    // W^Q [n_h·d_h, d]
    private readonly Linear key;      // W^K [n_h·d_h, d]
    private readonly Linear value;    // W^V [n_h·d_h, d]
    private readonly Linear output;   // W^O [d, n_h·d_h]; "output" marks a residual projection for TinyLm's init
    private readonly Tensor cos;      // RoPE tables [MaxSequence, d_h/2]: buffers, so they follow .to(device)
    private readonly Tensor sin;
    private readonly int heads;

    public CausalSelfAttention(TinyLmConfig config, Device device) : base(nameof(CausalSelfAttention))
    {
        config.Validated();
        heads = config.Heads;
        query = nn.Linear(config.Dim, config.Dim, hasBias: false, device: device);
        key = nn.Linear(config.Dim, config.Dim, hasBias: false, device: device);
        value = nn.Linear(config.Dim, config.Dim, hasBias: false, device: device);
        output = nn.Linear(config.Dim, config.Dim, hasBias: false, device: device);
        (cos, sin) = Rope.Tables(config.HeadDim, config.MaxSequence, config.RopeTheta, device);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)   // x: [B, T, d] → [B, T, d]
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], t = x.shape[1];
        var q = SplitHeads(query.forward(x), heads);   // [B, n_h, T, d_h]
        var k = SplitHeads(key.forward(x), heads);
        var v = SplitHeads(value.forward(x), heads);
        q = Rope.Apply(q, cos, sin);
        k = Rope.Apply(k, cos, sin);
        // softmax(q kᵀ / √d_h) v with future positions masked (no mask tensor, no dropout, causal = true);
        // libtorch picks a fused kernel where it has one.
        var attended = nn.functional.scaled_dot_product_attention(q, k, v, null, 0.0, true);   // [B, n_h, T, d_h]
        var merged = attended.transpose(1, 2).reshape(b, t, -1);                                // [B, T, n_h·d_h]
        return output.forward(merged).MoveToOuterDisposeScope();
    }

    /// <summary>[B, T, n·w] → [B, n, T, w].</summary>
    public static Tensor SplitHeads(Tensor x, int heads) =>
        x.reshape(x.shape[0], x.shape[1], heads, -1).transpose(1, 2);
}

using static TorchSharp.torch;

namespace Research.Models;

/// <summary>
/// Rotary position embedding (RoFormer, Su et al. 2021): dimensions (2i, 2i+1) of a query or key at position m are
/// rotated by the angle m·θ^(−2i/d). The dot product of a rotated query and key then depends only on their distance.
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

    /// <summary>
    /// Rotates <paramref name="x"/> [..., T, d] whose rows are positions <paramref name="start"/>..start+T−1.
    /// Pairs are adjacent dimensions (2i, 2i+1), as DeepSeek-V3's reference code (complex multiplication).
    /// </summary>
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

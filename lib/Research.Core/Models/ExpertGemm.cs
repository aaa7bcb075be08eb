using TorchSharp;
using static TorchSharp.torch;

namespace Research.Models;

/// <summary>
/// The routed experts' GEMMs over expert-sorted rows as one autograd node per projection: rows
/// <c>start_e .. start_e + counts[e]</c> of x meet expert e's weight. Each expert's product is written straight into its
/// slice of one output (no <c>cat</c>), and the SwiGLU's element-wise part then runs once over all rows, where a
/// per-expert loop under autograd pays 64 small graphs of six nodes each.
/// </summary>
/// <remarks>
/// The arithmetic is the per-expert loop's, GEMM for GEMM: forward x_e·W_eᵀ, backward dX_e = dY_e·W_e and
/// dW_e = dY_eᵀ·X_e, experts without rows get a zero gradient. Padding the experts to a common capacity for one
/// <c>bmm</c> per projection was measured slower on a 2-core CPU (libtorch's batched GEMM ran at half the speed of
/// 64 plain GEMMs, before the padded rows), so there is none. Any device: only <c>addmm_</c> on slices.
/// </remarks>
public static class ExpertGemm
{
    /// <summary>y_e = x_e·W_eᵀ for every expert's rows. x: [A, in] sorted by expert; w: [E, out, in]; counts: rows per expert (Σ = A) → [A, out].</summary>
    public static Tensor Apply(Tensor x, Tensor w, long[] counts)
    {
        Check(x, w, counts);
        return Single.apply(x, w, counts);
    }

    /// <summary>
    /// The SwiGLU's two input projections at once, [x_e·W1_eᵀ, x_e·W3_eᵀ] → [A, 2·hidden]: one GEMM of twice the width per
    /// expert, which a 2-core CPU runs faster than two of the width. The values are the two GEMMs' (each output element is
    /// the same dot product); backward is the two projections' own, dX_e = dA_e·W1_e + dB_e·W3_e.
    /// </summary>
    public static Tensor ApplyPair(Tensor x, Tensor w1, Tensor w3, long[] counts)
    {
        Check(x, w1, counts);
        if (!w3.shape.SequenceEqual(w1.shape))
            throw new ArgumentException($"ExpertGemm.ApplyPair: w3 [{string.Join(", ", w3.shape)}] must match w1 [{string.Join(", ", w1.shape)}]", nameof(w3));
        return Pair.apply(x, w1, w3, counts);
    }

    private static void Check(Tensor x, Tensor w, long[] counts)
    {
        if (x.dim() != 2 || w.dim() != 3 || w.shape[2] != x.shape[1])
            throw new ArgumentException($"ExpertGemm: x must be [rows, in] and w [experts, out, in], got [{string.Join(", ", x.shape)}] and [{string.Join(", ", w.shape)}]", nameof(x));
        if (counts.Length != w.shape[0] || counts.Sum() != x.shape[0] || counts.Any(c => c < 0))
            throw new ArgumentException($"ExpertGemm: counts must hold one non-negative row count per expert ({w.shape[0]}) summing to the rows of x ({x.shape[0]})", nameof(counts));
    }

    // Calls body(e, start, count) for every expert with rows.
    private static void ForExperts(long[] counts, Action<int, long, long> body)
    {
        long start = 0;
        for (int e = 0; e < counts.Length; e++)
        {
            if (counts[e] > 0) body(e, start, counts[e]);
            start += counts[e];
        }
    }

    // out[rows] = a[rows]·b (β = 0: out's old contents are ignored, as mm writes a fresh tensor).
    private static void Product(Tensor output, Tensor a, Tensor b, long start, long count)
    {
        using var o = output.narrow(0, start, count);
        using var x = a.narrow(0, start, count);
        o.addmm_(x, b, 0, 1);
    }

    private sealed class Single : autograd.SingleTensorFunction<Single>
    {
        public override string Name => "ExpertGemm";

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var (x, w, counts) = ((Tensor)vars[0], (Tensor)vars[1], (long[])vars[2]);
            ctx.save_for_backward([x, w]);
            ctx.save_data("counts", counts);
            var y = empty(x.shape[0], w.shape[1], dtype: x.dtype, device: x.device);
            ForExperts(counts, (e, start, count) =>
            {
                using var we = w[e];
                using var wt = we.t();
                Product(y, x, wt, start, count);
            });
            return y;
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad)
        {
            var saved = ctx.get_saved_variables();
            var (x, w, counts) = (saved[0], saved[1], (long[])ctx.get_data("counts"));
            var dx = empty_like(x);
            var dw = WeightGradients(w, counts);
            ForExperts(counts, (e, start, count) =>
            {
                using var we = w[e];
                Product(dx, grad, we, start, count);
                WeightGradient(dw, e, grad, x, start, count);
            });
            return [dx, dw, null!];
        }
    }

    private sealed class Pair : autograd.SingleTensorFunction<Pair>
    {
        public override string Name => "ExpertGemmPair";

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var (x, w1, w3, counts) = ((Tensor)vars[0], (Tensor)vars[1], (Tensor)vars[2], (long[])vars[3]);
            ctx.save_for_backward([x, w1, w3]);
            ctx.save_data("counts", counts);
            using var w13 = cat([w1, w3], 1);   // [E, 2h, in]: both projections of an expert in one GEMM
            var y = empty(x.shape[0], w13.shape[1], dtype: x.dtype, device: x.device);
            ForExperts(counts, (e, start, count) =>
            {
                using var we = w13[e];
                using var wt = we.t();
                Product(y, x, wt, start, count);
            });
            return y;
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad)
        {
            var saved = ctx.get_saved_variables();
            var (x, w1, w3, counts) = (saved[0], saved[1], saved[2], (long[])ctx.get_data("counts"));
            long h = w1.shape[1];
            using var gradA = grad.narrow(1, 0, h);
            using var gradB = grad.narrow(1, h, h);
            var dx = empty_like(x);
            using var fromB = empty_like(x);
            var (dw1, dw3) = (WeightGradients(w1, counts), WeightGradients(w3, counts));
            ForExperts(counts, (e, start, count) =>
            {
                using var w1e = w1[e];
                using var w3e = w3[e];
                Product(dx, gradA, w1e, start, count);
                Product(fromB, gradB, w3e, start, count);
                WeightGradient(dw1, e, gradA, x, start, count);
                WeightGradient(dw3, e, gradB, x, start, count);
            });
            dx.add_(fromB);   // the two projections' input gradients, summed once as autograd sums a shared input's
            return [dx, dw1, dw3, null!];
        }
    }

    // dW for every expert: the slices of experts with rows are written by their GEMM, the rest are zero.
    private static Tensor WeightGradients(Tensor w, long[] counts)
    {
        var dw = empty_like(w);
        for (int e = 0; e < counts.Length; e++)
            if (counts[e] == 0)
            {
                using var idle = dw[e];
                idle.zero_();
            }
        return dw;
    }

    // dW_e = dY_eᵀ·X_e, written into expert e's slice of dw.
    private static void WeightGradient(Tensor dw, int e, Tensor grad, Tensor x, long start, long count)
    {
        using var dwe = dw[e];
        using var g = grad.narrow(0, start, count);
        using var gt = g.t();
        using var xs = x.narrow(0, start, count);
        dwe.addmm_(gt, xs, 0, 1);
    }
}

using TorchSharp;
using static TorchSharp.torch;

namespace Research.Models;

/// <summary>
/// The routed experts' GEMMs over expert-sorted rows as one autograd node per projection: rows
/// <c>start_e .. start_e + counts[e]</c> of x meet expert e's weight. Each expert's product is written straight into its
/// slice of one output (no <c>cat</c>), so the SwiGLU's element-wise part can run once over all rows, where a
/// per-expert loop under autograd builds 64 small graphs of six nodes each.
/// </summary>
/// <remarks>
/// The arithmetic is the per-expert loop's, GEMM for GEMM: forward x_e·W_eᵀ, backward dX_e = dY_e·W_e and
/// dW_e = dY_eᵀ·X_e, experts without rows get a zero gradient. Padding the experts to a common capacity for one
/// <c>bmm</c> per projection was measured slower on a 2-core CPU (libtorch's batched GEMM ran at half the speed of
/// 64 plain GEMMs, before the padded rows), and so was W₁ and W₃ in one GEMM of twice the width (the weights' copy and
/// a second input-gradient buffer cost more than the wider GEMM saved). Any device: only <c>addmm_</c> on slices.
/// </remarks>
public static class ExpertGemm
{
    /// <summary>y_e = x_e·W_eᵀ for every expert's rows. x: [A, in] sorted by expert; w: [E, out, in]; counts: rows per expert (Σ = A) → [A, out].</summary>
    public static Tensor Apply(Tensor x, Tensor w, long[] counts)
    {
        Check(x, w, counts);
        return Function.apply(x, w, counts);
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

    private sealed class Function : autograd.SingleTensorFunction<Function>
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

using Research.Models;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Research.Tests.Models;

// The oracle is libtorch itself: functional.linear on each expert's slice under autograd, the loop MoeLayer ran before
// the grouped GEMMs. ExpertGemm.Apply runs the same GEMMs, so it equals the loop bit for bit. ApplyPair's GEMM of twice
// the width may pick another kernel, whose sums round differently in the last bit at some widths; its gradients are the
// two single projections' own.
public sealed class ExpertGemmTests
{
    // Row counts with an empty expert, single rows and a long slice: the edge cases of the slicing.
    private static readonly long[] Counts = [3, 0, 1, 9, 2];

    private static (Tensor X, Tensor W1, Tensor W3, Tensor W2, Tensor Target) Inputs()
    {
        var g = new Generator(7);
        long rows = Counts.Sum();
        return (randn([rows, 6], generator: g), randn([Counts.Length, 4, 6], generator: g), randn([Counts.Length, 4, 6], generator: g),
            randn([Counts.Length, 6, 4], generator: g), randn([rows, 6], generator: g));
    }

    private static Tensor Grouped(Tensor x, Tensor w) => ExpertGemm.Apply(x, w, Counts);

    private static Tensor Loop(Tensor x, Tensor w)
    {
        var slices = x.split(Counts);
        return cat(Enumerable.Range(0, Counts.Length).Where(e => Counts[e] > 0).Select(e => nn.functional.linear(slices[e], w[e])).ToArray(), 0);
    }

    // y = f(x, w) and the gradients of Σ y·target with respect to x and w.
    private static float[][] Run(Func<Tensor, Tensor, Tensor> f)
    {
        var (x, w, _, _, _) = Inputs();
        var target = randn([Counts.Sum(), 4], generator: new Generator(8));
        Tensor[] leaves = [x.requires_grad_(true), w.requires_grad_(true)];
        var y = f(leaves[0], leaves[1]);
        (y * target).sum().backward();
        return [Values(y), .. leaves.Select(t => Values(t.grad!))];
    }

    private static float[] Values(Tensor t) => t.detach().contiguous().data<float>().ToArray();

    [Fact]
    public void Values_and_gradients_equal_the_per_expert_linear_loop_bit_for_bit()
    {
        var grouped = Run(Grouped);
        var loop = Run(Loop);
        string[] names = ["y", "dx", "dW"];
        for (int i = 0; i < names.Length; i++) Assert.True(grouped[i].SequenceEqual(loop[i]), $"{names[i]} differs from the loop");
    }

    [Fact]
    public void The_pair_is_both_projections_and_its_gradients_are_theirs_bit_for_bit()
    {
        var (x, w1, w3, _, _) = Inputs();
        var gradOutput = randn([Counts.Sum(), 8], generator: new Generator(9));
        Tensor[] pairLeaves = [x.clone().requires_grad_(true), w1.clone().requires_grad_(true), w3.clone().requires_grad_(true)];
        var pair = ExpertGemm.ApplyPair(pairLeaves[0], pairLeaves[1], pairLeaves[2], Counts);
        pair.backward([gradOutput]);
        Tensor[] singleLeaves = [x.clone().requires_grad_(true), w1.clone().requires_grad_(true), w3.clone().requires_grad_(true)];
        var a = ExpertGemm.Apply(singleLeaves[0], singleLeaves[1], Counts);
        var b = ExpertGemm.Apply(singleLeaves[0], singleLeaves[2], Counts);
        cat([a, b], 1).backward([gradOutput]);

        // Values: the same dot products, rounded by possibly another kernel (a few ulps at most).
        Assert.True(allclose(pair, cat([a, b], 1), rtol: 1e-6, atol: 1e-6), "the pair's values are not the two projections'");
        string[] names = ["dx", "dW1", "dW3"];
        for (int i = 0; i < names.Length; i++)
            Assert.True(Values(pairLeaves[i].grad!).SequenceEqual(Values(singleLeaves[i].grad!)), $"{names[i]} differs from the single projections'");
    }

    [Fact]
    public void An_expert_without_rows_gets_a_zero_weight_gradient()
    {
        var grads = Run(Grouped);
        int perExpert = 4 * 6;
        Assert.All(grads[2].Skip(perExpert).Take(perExpert), v => Assert.Equal(0f, v));   // dW of expert 1
        Assert.Contains(grads[2].Take(perExpert), v => v != 0f);
    }

    [Fact]
    public void Counts_that_do_not_cover_the_rows_are_refused()
    {
        var (x, w1, _, _, _) = Inputs();
        var e = Assert.Throws<ArgumentException>(() => ExpertGemm.Apply(x, w1, [1, 1, 1, 1, 1]));
        Assert.Contains("counts", e.Message);
    }
}

using Research.Models;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Research.Tests.Models;

// The oracle is libtorch itself: functional.linear on each expert's slice under autograd, the loop MoeLayer ran before
// the grouped GEMMs. ExpertGemm runs the same GEMMs, so it equals the loop bit for bit.
public sealed class ExpertGemmTests
{
    // Row counts with an empty expert, single rows and a long slice: the edge cases of the slicing.
    private static readonly long[] Counts = [3, 0, 1, 9, 2];

    private static (Tensor X, Tensor W) Inputs()
    {
        var g = new Generator(7);
        return (randn([Counts.Sum(), 6], generator: g), randn([Counts.Length, 4, 6], generator: g));
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
        var (x, w) = Inputs();
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
        var (x, w1) = Inputs();
        var e = Assert.Throws<ArgumentException>(() => ExpertGemm.Apply(x, w1, [1, 1, 1, 1, 1]));
        Assert.Contains("counts", e.Message);
    }
}

using Research.Numerics;
using Xunit;
using static TorchSharp.torch;

namespace Research.Tests.Numerics;

public sealed class GradientCheckTests
{
    [Fact]
    public void Autograd_and_finite_differences_agree_with_the_closed_form_of_sum_x_sin_x()
    {
        var x = tensor(new double[] { -1.5, 0.25, 2.0 });

        var g = GradientCheck.Compare(v => (v * v.sin()).sum(), x);

        // d/dx x·sin x = sin x + x·cos x
        var closed = new[] { -1.5, 0.25, 2.0 }.Select(v => Math.Sin(v) + v * Math.Cos(v)).ToArray();
        Assert.All(g.Autograd.Zip(closed), p => Assert.Equal(p.Second, p.First, 1e-12));
        Assert.True(g.MaxAbsError < 1e-8, $"max error {g.MaxAbsError}");
    }

    [Fact]
    public void A_wrong_gradient_is_caught()
    {
        // Gradient of a detached term is lost: autograd says 0 where the function really depends on x.
        var g = GradientCheck.Compare(v => (v * v.detach()).sum(), tensor(new double[] { 1.0, 2.0 }));

        Assert.True(g.MaxAbsError > 0.5);
    }

    [Fact]
    public void A_non_scalar_function_is_rejected()
    {
        Assert.Throws<ArgumentException>(() => GradientCheck.Compare(v => v * 2, tensor(new double[] { 1.0, 2.0 })));
    }
}

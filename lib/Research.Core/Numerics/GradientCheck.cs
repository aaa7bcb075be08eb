using static TorchSharp.torch;

namespace Research.Numerics;

/// <summary>Autograd gradient against central finite differences, the oracle for any new differentiable op.</summary>
/// <param name="Autograd">∂f/∂x from backward().</param>
/// <param name="FiniteDifference">(f(x + h·eᵢ) − f(x − h·eᵢ)) / 2h for each element i.</param>
/// <param name="MaxAbsError">max |autograd − finite difference|.</param>
public sealed record GradientComparison(double[] Autograd, double[] FiniteDifference, double MaxAbsError);

public static class GradientCheck
{
    /// <summary>
    /// Compares the gradient of the scalar function <paramref name="f"/> at <paramref name="x"/> with central
    /// differences of step <paramref name="h"/>. Runs in float64: the central difference's error is O(h²) plus
    /// rounding of order ε/h, so h = 1e-6 leaves about 1e-10 in double precision, which float32 could not show.
    /// </summary>
    public static GradientComparison Compare(Func<Tensor, Tensor> f, Tensor x, double h = 1e-6)
    {
        if (h <= 0) throw new ArgumentOutOfRangeException(nameof(h), h, "GradientCheck.Compare: h must be > 0");
        using var scope = NewDisposeScope();
        var x64 = x.detach().to_type(ScalarType.Float64).clone().requires_grad_(true);
        var y = f(x64);
        if (y.numel() != 1) throw new ArgumentException($"f must return a scalar, got shape [{string.Join(", ", y.shape)}]", nameof(f));
        y.backward();
        var autograd = x64.grad!.flatten().data<double>().ToArray();

        var numeric = new double[autograd.Length];
        using (no_grad())
        {
            var flat = x64.detach().flatten();
            for (int i = 0; i < numeric.Length; i++)
            {
                using var step = NewDisposeScope();
                var plus = flat.clone(); plus[i] += h;
                var minus = flat.clone(); minus[i] -= h;
                numeric[i] = (f(plus.view(x64.shape)).item<double>() - f(minus.view(x64.shape)).item<double>()) / (2 * h);
            }
        }
        double max = autograd.Zip(numeric, (a, n) => Math.Abs(a - n)).DefaultIfEmpty(0).Max();
        return new GradientComparison(autograd, numeric, max);
    }
}

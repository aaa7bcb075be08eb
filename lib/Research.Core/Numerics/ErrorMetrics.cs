using static TorchSharp.torch;

namespace Research.Numerics;

/// <summary>Error measures over whole tensors, computed in float64 so the measure adds no rounding of its own.</summary>
public static class ErrorMetrics
{
    /// <summary>‖approx − exact‖₂ / ‖exact‖₂: the relative RMSE (0 for a perfect approximation).</summary>
    public static double RelativeRmse(Tensor approx, Tensor exact)
    {
        using var scope = NewDisposeScope();
        var e = exact.to_type(ScalarType.Float64);
        return ((approx.to_type(ScalarType.Float64) - e).norm() / e.norm()).item<double>();
    }
}

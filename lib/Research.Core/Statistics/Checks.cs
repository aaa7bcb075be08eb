namespace Research.Statistics;

/// <summary>Argument checks shared by the statistics entry points, so every message names its parameter the same way.</summary>
internal static class Checks
{
    public static void Alpha(double alpha, string caller)
    {
        if (!(alpha > 0 && alpha < 1))
            throw new ArgumentOutOfRangeException(nameof(alpha), alpha, $"{caller}: alpha must be in (0, 1).");
    }

    public static void Resamples(int resamples, string paramName, string caller)
    {
        if (resamples < 1)
            throw new ArgumentOutOfRangeException(paramName, resamples, $"{caller}: {paramName} must be ≥ 1.");
    }
}

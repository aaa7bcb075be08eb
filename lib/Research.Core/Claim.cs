namespace Research;

/// <summary>A claim a notebook made that its numbers do not support.</summary>
public sealed class ClaimFailedException(string message) : Exception(message);

/// <summary>
/// The last cell of every notebook checks the claims its prose made. A failed claim throws, so the notebook
/// runner reports it as notebook:cell:line and the test suite fails.
/// </summary>
public static class Claim
{
    /// <summary>Throws <see cref="ClaimFailedException"/> stating <paramref name="claim"/> unless <paramref name="holds"/>.</summary>
    public static void That(bool holds, string claim)
    {
        if (!holds) throw new ClaimFailedException($"claim failed: {claim}");
    }

    /// <summary>Checks |actual − expected| ≤ tolerance and says all three numbers when it does not hold.</summary>
    public static void Close(double actual, double expected, double tolerance, string claim)
    {
        if (!(Math.Abs(actual - expected) <= tolerance))
            throw new ClaimFailedException($"claim failed: {claim} (actual {actual:R}, expected {expected:R} ± {tolerance:R})");
    }
}

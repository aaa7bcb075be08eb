namespace Research.Statistics;

/// <summary>
/// Holm's step-down correction (Holm 1979, "A simple sequentially rejective multiple test procedure"): it keeps the
/// family-wise error rate at α under any dependence between the tests, and never rejects less than Bonferroni.
/// </summary>
public static class Holm
{
    /// <summary>
    /// Adjusted p-values in the order given: with p_(1) ≤ … ≤ p_(m), adjusted p_(i) = max_{j≤i} min(1, (m − j + 1)·p_(j)),
    /// so "adjusted &lt; α" is exactly Holm's rejection at level α. Ties keep their input order (they get equal values).
    /// A NaN p-value (a test that could not be run) stays NaN and is ranked last, but still counts in m: the family is
    /// every hypothesis looked at, and dropping the ones that failed would make the others look stronger.
    /// </summary>
    public static double[] Adjust(IReadOnlyList<double> pValues)
    {
        ArgumentNullException.ThrowIfNull(pValues);
        for (int i = 0; i < pValues.Count; i++)
            if (!(double.IsNaN(pValues[i]) || pValues[i] is >= 0 and <= 1))
                throw new ArgumentException($"Holm.Adjust: pValues[{i}] = {pValues[i]} is not a probability in [0, 1].", nameof(pValues));

        int m = pValues.Count;
        // OrderBy is a stable sort; a NaN sorts after every probability.
        var order = Enumerable.Range(0, m).OrderBy(i => double.IsNaN(pValues[i]) ? 2.0 : pValues[i]).ToArray();
        var adjusted = new double[m];
        double running = 0;
        for (int j = 0; j < m; j++)     // j is 0-based, so the factor m − j + 1 of the 1-based formula is m − j
        {
            int i = order[j];
            if (double.IsNaN(pValues[i])) { adjusted[i] = double.NaN; continue; }
            running = Math.Max(running, Math.Min(1, (m - j) * pValues[i]));
            adjusted[i] = running;
        }
        return adjusted;
    }
}

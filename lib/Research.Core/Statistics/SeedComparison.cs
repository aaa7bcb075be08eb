namespace Research.Statistics;

/// <summary>One seed's value of one metric in one arm.</summary>
public sealed record SeedValue(int Seed, double Value);

/// <summary>One arm on one metric: its usable seeds, their summary (null without any), and what is missing.</summary>
/// <param name="Missing">Planned seeds with no value (not run, or not finished).</param>
/// <param name="Diverged">Seeds whose value is NaN, infinite or beyond the metric's divergence bound (a diverged run):
/// left out of every statistic and counted.</param>
public sealed record ArmReport(string Arm, Summary? Summary, IReadOnlyList<SeedValue> Values, int Missing, IReadOnlyList<int> Diverged);

/// <summary>One metric across the arms, and each arm against the baseline over the seeds both have usable values for.</summary>
/// <param name="Path">Where the metric is read from (a sweep's metric path, or the experiment's description of it).</param>
/// <param name="DivergedAbove">A value above this (below it, for a higher-is-better metric: see <see cref="SeedComparison.IsDiverged"/>)
/// counts as a diverged run; null: only NaN and ±∞ do.</param>
/// <param name="TrialsPerSeed">For an accuracy-type metric (a share of problems solved), the problems each seed scores;
/// null otherwise.</param>
public sealed record MetricReport(string Name, string Path, Direction Direction, double? Margin, IReadOnlyList<ArmReport> Arms,
    IReadOnlyList<PairedDifference> Comparisons, string Baseline = "", double? DivergedAbove = null, int? TrialsPerSeed = null)
{
    /// <summary>
    /// For an accuracy-type metric, the binomial standard error of an arm's mean share over problems × seeds,
    /// √(p̄(1 − p̄)/(problems · n)): how far the share could move by the draw of problems alone. Null otherwise.
    /// </summary>
    public double? ProblemStandardError(ArmReport arm) =>
        TrialsPerSeed is int trials && arm.Summary is { } s ? Math.Sqrt(Math.Clamp(s.Mean, 0, 1) * (1 - Math.Clamp(s.Mean, 0, 1)) / ((double)trials * s.N)) : null;

    /// <summary>The comparison of <paramref name="arm"/> against the baseline; an unknown arm is an error naming the known ones.</summary>
    public PairedDifference this[string arm] => Comparisons.FirstOrDefault(c => c.Arm == arm)
        ?? throw new ArgumentException($"metric '{Name}' compares no arm '{arm}' with {Baseline}; it compares {string.Join(", ", Comparisons.Select(c => c.Arm))}");

    /// <summary>The arm's own values and summary; an unknown arm is an error naming the known ones.</summary>
    public ArmReport Arm(string arm) => Arms.FirstOrDefault(a => a.Arm == arm)
        ?? throw new ArgumentException($"metric '{Name}' has no arm '{arm}'; it has {string.Join(", ", Arms.Select(a => a.Arm))}");
}

/// <summary>Finding one metric's report in a list of them.</summary>
public static class MetricReports
{
    /// <summary>The report of metric <paramref name="name"/>; an unknown name is an error naming <paramref name="owner"/> and the known ones.</summary>
    public static MetricReport Named(this IReadOnlyList<MetricReport> reports, string name, string owner) =>
        reports.FirstOrDefault(c => c.Name == name)
        ?? throw new ArgumentException($"{owner} has no comparison named '{name}'; it has {string.Join(", ", reports.Select(c => c.Name))}");
}

/// <summary>
/// Builds a <see cref="MetricReport"/> from per-arm, per-seed values: what a sweep's report and an experiment's own
/// multi-seed comparison both compute, so a table printed by <c>research run</c> and one by <c>research sweep report</c>
/// rest on the same statistics (<see cref="PairedComparisons"/>: paired t, Holm across the arms, TOST, n &lt; 3 inconclusive).
/// </summary>
public static class SeedComparison
{
    /// <summary>
    /// True when <paramref name="value"/> is not finite, or lies beyond <paramref name="divergedAbove"/>: above it for a loss
    /// (lower is better); for a higher-is-better metric the bound is the floor a working run stays above.
    /// </summary>
    public static bool IsDiverged(double value, Direction direction, double? divergedAbove) =>
        !double.IsFinite(value) || divergedAbove is double bound && (direction == Direction.Lower ? value > bound : value < bound);

    /// <summary>
    /// The report of one metric. <paramref name="values"/> maps each arm to its values by seed (an arm may miss seeds);
    /// every arm other than <paramref name="baseline"/> is compared with it over the seeds both have usable values for,
    /// and those arms are the family Holm corrects over. <paramref name="plannedSeeds"/> is how many seeds each arm was
    /// meant to have (for the missing count).
    /// </summary>
    public static MetricReport Build(string name, string path, Direction direction, double? margin, double? divergedAbove,
        IReadOnlyList<string> arms, string baseline, IReadOnlyDictionary<string, SortedDictionary<int, double>> values, int plannedSeeds,
        double alpha = PairedComparisons.DefaultAlpha, bool bootstrap = true, int? trialsPerSeed = null)
    {
        ArgumentNullException.ThrowIfNull(arms);
        ArgumentNullException.ThrowIfNull(values);
        if (!arms.Contains(baseline)) throw new ArgumentException($"metric '{name}': the baseline '{baseline}' is not one of the arms ({string.Join(", ", arms)})");
        bool Usable(double v) => !IsDiverged(v, direction, divergedAbove);
        SortedDictionary<int, double> Of(string arm) => values.TryGetValue(arm, out var v) ? v : [];

        var reports = arms.Select(arm =>
        {
            var all = Of(arm);
            var usable = all.Where(kv => Usable(kv.Value)).Select(kv => new SeedValue(kv.Key, kv.Value)).ToList();
            var diverged = all.Where(kv => !Usable(kv.Value)).Select(kv => kv.Key).ToList();
            return new ArmReport(arm, usable.Count == 0 ? null : Describe.Of(usable.Select(v => v.Value).ToList(), 1 - alpha),
                usable, Math.Max(0, plannedSeeds - all.Count), diverged);
        }).ToList();

        var reference = Of(baseline);
        var pairs = arms.Where(a => a != baseline).Select(arm =>
        {
            var mine = Of(arm);
            var shared = mine.Keys.Where(s => reference.TryGetValue(s, out var b) && Usable(b) && Usable(mine[s])).Order();
            return (arm, (IReadOnlyList<double>)shared.Select(s => mine[s] - reference[s]).ToList());
        }).ToList();
        var comparisons = pairs.Count == 0 ? []
            : bootstrap ? PairedComparisons.Compare(pairs, direction, margin, alpha)
            : PairedComparisons.CompareWithoutBootstrap(pairs, direction, margin, alpha);
        return new MetricReport(name, path, direction, margin, reports, comparisons, baseline, divergedAbove, trialsPerSeed);
    }
}

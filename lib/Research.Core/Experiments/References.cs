using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Research.Statistics;
using Research.Sweeps;
using TorchSharp;

namespace Research.Experiments;

/// <summary>Where a reference result's numbers came from.</summary>
/// <param name="KitCommit">The kit's commit every cell ran (the sweep's plan checks all cells ran the same one).</param>
/// <param name="Threads">Intra-op threads of the cells (libtorch's reductions, and so the last bits, depend on them).</param>
/// <param name="WallSeconds">Sum of the cells' own times: the compute one reference costs on this machine.</param>
public sealed record ReferenceProvenance(string KitCommit, string TorchSharp, string LibTorch, string Device, string Cpu, int Threads,
    string Os, double WallSeconds, IReadOnlyList<double> SecondsPerSeed, DateTime CreatedUtc, string Sweep);

/// <summary>
/// A committed multi-seed result (<c>data/results/&lt;id&gt;/&lt;name&gt;.json</c>): an experiment's config run at every seed
/// of a sweep, and the experiment's own comparisons over those seeds, with what it ran on. Notebooks and READMEs state
/// differences from these, never from one live run.
/// </summary>
/// <param name="Name">Which config: "default" or "workshop" (the file's name).</param>
/// <param name="Config">The resolved config, its <c>seeds</c> the reference's seeds.</param>
/// <param name="ConfigHash">SHA-256 of the experiment id and the config with sorted keys.</param>
public sealed record ReferenceResult(string Experiment, string Name, JsonObject Config, string ConfigHash, IReadOnlyList<int> Seeds,
    ReferenceProvenance Provenance, IReadOnlyList<MetricReport> Comparisons)
{
    /// <summary>The comparison of metric <paramref name="name"/>; an unknown name is an error naming the known ones.</summary>
    public MetricReport Comparison(string name) => Comparisons.Named(name, $"reference {Experiment}/{Name}");
}

/// <summary>One metric value of one arm at the verified seed: the committed number and the one computed again.</summary>
public sealed record VerifiedValue(string Metric, string Arm, int Seed, double Committed, double Computed)
{
    public double Difference => Computed - Committed;
}

/// <summary>What <see cref="References.Verify"/> found.</summary>
/// <param name="Tolerance">The largest |computed − committed| accepted, relative to |committed| (0: bit for bit).</param>
/// <param name="StatisticsMatch">The committed comparisons are what the statistics core computes from the committed
/// per-seed values (an edited or stale file fails this).</param>
public sealed record Verification(string Experiment, string Name, int Seed, double Tolerance, IReadOnlyList<VerifiedValue> Values,
    bool StatisticsMatch, string? StatisticsMismatch)
{
    public bool Reproduced => StatisticsMatch && Values.Count > 0 && Values.All(v => Math.Abs(v.Difference) <= Tolerance * Math.Abs(v.Committed));
}

/// <summary>Builds, reads and checks the committed reference results.</summary>
public static class References
{
    /// <summary>
    /// The reference of a finished sweep in <paramref name="sweepDirectory"/>: one arm (the config) at every seed of the
    /// plan, every cell done on one environment. The experiment's comparisons are computed from the cells' per-seed
    /// results by the same code <c>research run --seeds</c> uses.
    /// </summary>
    public static ReferenceResult Collect(string sweepDirectory, string name)
    {
        var plan = SweepPlan.Read(sweepDirectory);
        var definition = ExperimentCatalog.Find(plan.Experiment);
        if (plan.Arms.Count != 1)
            throw new ConfigException($"sweep '{plan.Name}' has {plan.Arms.Count} arms; a reference result is one config at many seeds (one arm)");
        var pending = plan.Cells.Where(c => SweepCells.StateOf(sweepDirectory, c) != CellState.Done).ToList();
        if (pending.Count > 0)
            throw new ConfigException($"sweep '{plan.Name}': {pending.Count} of {plan.Cells.Count} cells are not done (seeds {string.Join(", ", pending.Select(c => c.Seed))}); run research sweep run {sweepDirectory} first");

        var documents = plan.Cells.Select(c => JsonNode.Parse(File.ReadAllText(Path.Combine(sweepDirectory, c.Folder, SweepPlan.ResultFile)))!.AsObject()).ToList();
        var config = documents[0]["config"]!.DeepClone().AsObject();
        config[SweepDefinition.SeedsField] = new JsonArray([.. plan.Seeds.Select(s => (JsonNode)s)]);
        var perSeed = plan.Cells.Zip(documents, (c, d) => (c.Seed, Result: d["result"]!["perSeed"]![0]!["result"]!)).ToList();
        var comparisons = definition.CompareJson!(config, perSeed);

        var environments = documents.Select(d => d["environment"]).ToList();
        var first = environments[0]!;
        var cpu = first["cpu"]?.GetValue<string>() ?? "unknown";
        int threads = first["threads"]?.GetValue<int>() ?? 0;
        var seconds = documents.Select(d => d["elapsedSeconds"]!.GetValue<double>()).ToList();
        var provenance = new ReferenceProvenance(plan.Environment.KitCommit, plan.Environment.TorchSharp, plan.Environment.LibTorch,
            plan.Environment.Device, cpu, threads, first["os"]?.GetValue<string>() ?? "", Math.Round(seconds.Sum(), 1), seconds,
            DateTime.UtcNow, plan.Name);
        return new ReferenceResult(plan.Experiment, name, config, ConfigHash(plan.Experiment, config), plan.Seeds, provenance, comparisons);
    }

    /// <summary>SHA-256 of the experiment id and the config with its keys sorted.</summary>
    public static string ConfigHash(string experiment, JsonObject config) =>
        SweepPlanner.Hash(experiment, config, new SweepEnvironment("", "", "", ""));

    /// <summary>Writes <paramref name="reference"/> to <paramref name="path"/>, whole or not at all.</summary>
    public static void Write(ReferenceResult reference, string path) =>
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(reference, ExperimentConfigs.Json) + "\n");

    /// <summary>Reads a reference file; errors name the file.</summary>
    public static ReferenceResult Read(string path)
    {
        try
        {
            return JsonSerializer.Deserialize<ReferenceResult>(ExperimentConfigs.ReadFile(path), ExperimentConfigs.Json)
                   ?? throw new ConfigException($"{path}: the file holds null, expected a reference result");
        }
        catch (JsonException e)
        {
            throw new ConfigException($"{path}: not a reference result of this kit: {e.Message.Split(" Path:")[0]}", e);
        }
    }

    /// <summary>
    /// The reference the kit ships for <paramref name="experiment"/> and config <paramref name="name"/> (embedded from
    /// data/results), or an error listing the ones it has.
    /// </summary>
    public static ReferenceResult Load(string experiment, string name = "workshop")
    {
        var resource = $"results/{experiment}/{name}.json";
        using var stream = typeof(References).Assembly.GetManifestResourceStream(resource)
            ?? throw new ConfigException($"no reference result {experiment}/{name}; the kit has {string.Join(", ", Shipped())}");
        return JsonSerializer.Deserialize<ReferenceResult>(stream, ExperimentConfigs.Json)!;
    }

    /// <summary>Every reference the kit ships, in the order of <see cref="Shipped"/>.</summary>
    public static IReadOnlyList<ReferenceResult> LoadShipped() =>
        [.. Shipped().Select(key => key.Split('/') is [var experiment, var name] ? Load(experiment, name) : throw new InvalidOperationException($"bad resource name {key}"))];

    /// <summary>The shipped reference of <paramref name="experiment"/> whose config is <paramref name="config"/> apart from
    /// its seeds, or null: where a run of a few seeds can look for the verdicts of many.</summary>
    public static ReferenceResult? Of<TConfig>(string experiment, TConfig config)
    {
        JsonNode Unseeded(TConfig c)
        {
            var node = JsonSerializer.SerializeToNode(c, ExperimentConfigs.Json)!.AsObject();
            node.Remove(SweepDefinition.SeedsField);
            return node;
        }
        var mine = Unseeded(config);
        bool Same(JsonObject reference)
        {
            try { return reference.Deserialize<TConfig>(ExperimentConfigs.Json) is { } theirs && JsonNode.DeepEquals(mine, Unseeded(theirs)); }
            catch (JsonException) { return false; }   // another experiment's config: not this one
        }
        // Only this experiment's files are read: an experiment's output asks this once per run.
        return Shipped().Where(key => key.StartsWith(experiment + "/", StringComparison.Ordinal))
            .Select(key => Load(experiment, key[(experiment.Length + 1)..])).FirstOrDefault(r => Same(r.Config));
    }

    /// <summary>"0–9" for a run of consecutive seeds, else the list.</summary>
    public static string SeedRange(IReadOnlyList<int> seeds) =>
        seeds.Count > 2 && seeds.Zip(seeds.Skip(1)).All(p => p.Second == p.First + 1) ? $"{seeds[0]}–{seeds[^1]}" : string.Join(", ", seeds);

    /// <summary>The shipped references as "experiment/name".</summary>
    public static IReadOnlyList<string> Shipped() =>
        [.. typeof(References).Assembly.GetManifestResourceNames().Where(n => n.StartsWith("results/", StringComparison.Ordinal))
            .Select(n => n["results/".Length..^".json".Length]).Order(StringComparer.Ordinal)];

    /// <summary>
    /// Re-runs seed <paramref name="seed"/> of <paramref name="reference"/> (by default its first) on
    /// <paramref name="device"/> and compares every metric value of that seed with the committed one, within
    /// <paramref name="tolerance"/> relative (0: bit for bit); checks too that the committed comparisons are what the
    /// statistics core computes from the committed values.
    /// </summary>
    public static Verification Verify(ReferenceResult reference, torch.Device device, int? seed = null, double tolerance = 0,
        CancellationToken cancellation = default)
    {
        var definition = ExperimentCatalog.Find(reference.Experiment);
        int s = seed ?? reference.Seeds[0];
        if (!reference.Seeds.Contains(s))
            throw new ArgumentException($"seed {s} is not one of the reference's seeds ({string.Join(", ", reference.Seeds)})");
        var hash = ConfigHash(reference.Experiment, reference.Config);
        if (hash != reference.ConfigHash)
            return new Verification(reference.Experiment, reference.Name, s, tolerance, [], false, $"the config's hash is {hash}, the file says {reference.ConfigHash}: the config was edited");

        var (statisticsMatch, mismatch) = RecomputedStatistics(reference);
        var single = definition.RunSeedJson!(reference.Config, s, new ExperimentRequest(device, Cancellation: cancellation));
        var computed = definition.CompareJson!(reference.Config, [(s, single)]);
        var values = new List<VerifiedValue>();
        foreach (var metric in reference.Comparisons)
        {
            var again = computed.FirstOrDefault(c => c.Name == metric.Name);
            foreach (var arm in metric.Arms)
            {
                var committed = arm.Values.FirstOrDefault(v => v.Seed == s);
                var now = again?.Arms.FirstOrDefault(a => a.Arm == arm.Arm)?.Values.FirstOrDefault(v => v.Seed == s);
                if (committed is null) continue;   // that arm diverged at this seed in the reference
                values.Add(new VerifiedValue(metric.Name, arm.Arm, s, committed.Value, now?.Value ?? double.NaN));
            }
        }
        return new Verification(reference.Experiment, reference.Name, s, tolerance, values, statisticsMatch, mismatch);
    }

    // The comparisons again from the committed per-seed values: a hand-edited mean or verdict does not survive this.
    private static (bool, string?) RecomputedStatistics(ReferenceResult reference)
    {
        foreach (var metric in reference.Comparisons)
        {
            var values = metric.Arms.ToDictionary(a => a.Arm, a => new SortedDictionary<int, double>(a.Values.ToDictionary(v => v.Seed, v => v.Value)));
            foreach (var a in metric.Arms)
                foreach (int d in a.Diverged) values[a.Arm][d] = double.NaN;
            var again = SeedComparison.Build(metric.Name, metric.Path, metric.Direction, metric.Margin, metric.DivergedAbove,
                [.. metric.Arms.Select(a => a.Arm)], metric.Baseline, values, reference.Seeds.Count, bootstrap: false, trialsPerSeed: metric.TrialsPerSeed);
            foreach (var (c, r) in metric.Comparisons.Zip(again.Comparisons))
                if (c.Arm != r.Arm || c.N != r.N || c.Verdict != r.Verdict || !Same(c.Mean, r.Mean) || !Same(c.Low, r.Low) || !Same(c.AdjustedPValue, r.AdjustedPValue))
                    return (false, $"{metric.Name}, {c.Arm}: the file says mean {c.Mean.ToString(CultureInfo.InvariantCulture)}, {c.Verdict}; its values give {r.Mean.ToString(CultureInfo.InvariantCulture)}, {r.Verdict}");
            if (metric.Comparisons.Count != again.Comparisons.Count) return (false, $"{metric.Name}: {metric.Comparisons.Count} comparisons in the file, {again.Comparisons.Count} from its values");
        }
        return (true, null);
    }

    private static bool Same(double a, double b) => a.Equals(b) || Math.Abs(a - b) <= 1e-12 * Math.Max(1, Math.Abs(a));
}

/// <summary>One value of a live run against the reference's seeds: inside their prediction interval or not.</summary>
public sealed record LiveCheck(string Metric, string Arm, int Seed, double Live, double Low, double High, int ReferenceSeeds)
{
    public bool Inside => Live >= Low && Live <= High;
}

/// <summary>How a live (notebook) run reads against a committed reference.</summary>
public static class LiveRuns
{
    /// <summary>
    /// Every value of every seed of <paramref name="live"/> against the prediction interval of the same metric and arm
    /// over the reference's seeds. The family is every value checked: each interval is at level 1 − α/k (Bonferroni over
    /// the k values), so a run of the same config lands inside all of them with probability at least 1 − α.
    /// Arms or metrics the reference does not have are left out.
    /// </summary>
    public static IReadOnlyList<LiveCheck> Against(ReferenceResult reference, IReadOnlyList<MetricReport> live, double alpha = PairedComparisons.DefaultAlpha)
    {
        var pairs = (from m in live
                     let r = reference.Comparisons.FirstOrDefault(c => c.Name == m.Name)
                     where r is not null
                     from a in m.Arms
                     let ra = r.Arms.FirstOrDefault(x => x.Arm == a.Arm)
                     where ra is { Values.Count: >= 2 }
                     from v in a.Values
                     select (Metric: m.Name, a.Arm, v.Seed, v.Value, Reference: ra)).ToList();
        double level = 1 - alpha / Math.Max(1, pairs.Count);
        return [.. pairs.Select(p =>
        {
            var (low, high) = Describe.PredictionInterval([.. p.Reference.Values.Select(x => x.Value)], level);
            return new LiveCheck(p.Metric, p.Arm, p.Seed, p.Value, low, high, p.Reference.Values.Count);
        })];
    }
}

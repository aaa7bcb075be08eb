using Plotly.NET;
using Plotly.NET.CSharp;
using Research.Charts;
using Research.Experiments;
using Research.Platform;
using static TorchSharp.torch;
using Chart = Plotly.NET.CSharp.Chart;

namespace Research.Moe;

/// <summary>
/// Config of <c>moe-routing</c>: V3's gate on synthetic tokens whose router favours some experts, and a V3-like
/// expert-parallel layout.
/// </summary>
public sealed record MoeRoutingConfig : IExperimentConfig<MoeRoutingConfig>
{
    public RouterConfig Router { get; init; } = RouterConfig.DeepSeekV3;
    public int Dim { get; init; } = 64;
    public int Tokens { get; init; } = 8192;
    /// <summary>Standard deviation of a fixed logit offset per expert (every token sees it): 0 = no favourites. Skew is
    /// what makes expert loads uneven and redundant experts worth having.</summary>
    public double PopularitySkew { get; init; } = 0.5;
    public int Devices { get; init; } = 64;
    public int DevicesPerNode { get; init; } = 8;
    /// <summary>Extra replica slots for EPLB-style rebalancing (V3 prefill: one per GPU).</summary>
    public int RedundantExperts { get; init; } = 64;
    /// <summary>The seeds to run (JSON <c>seeds</c>); each is the root of every generator one run draws from.</summary>
    public IReadOnlyList<int> Seeds { get; init; } = [0];

    public MoeRoutingConfig WithSeeds(IReadOnlyList<int> seeds) => this with { Seeds = seeds };

    public MoeRoutingConfig Validated()
    {
        Router.Validated();
        if (Dim is < 2 or > 4096) throw new ConfigException($"MoeRoutingConfig.Dim must be in 2..4096 (got {Dim})");
        if (Tokens is < 1 or > 1_000_000) throw new ConfigException($"MoeRoutingConfig.Tokens must be in 1..1000000 (got {Tokens})");
        if (!double.IsFinite(PopularitySkew) || PopularitySkew < 0) throw new ConfigException($"MoeRoutingConfig.PopularitySkew must be a finite number ≥ 0 (got {PopularitySkew})");
        if (Devices < 1 || Router.Experts % Devices != 0)
            throw new ConfigException($"MoeRoutingConfig.Devices must divide Router.Experts ({Router.Experts}) (got {Devices})");
        if (DevicesPerNode < 1 || Devices % DevicesPerNode != 0)
            throw new ConfigException($"MoeRoutingConfig.DevicesPerNode must divide Devices ({Devices}) (got {DevicesPerNode})");
        if (RedundantExperts < 0 || (Router.Experts + RedundantExperts) % Devices != 0)
            throw new ConfigException($"MoeRoutingConfig.RedundantExperts must be ≥ 0 and make Router.Experts + RedundantExperts a multiple of Devices ({Devices}) (got {RedundantExperts})");
        return this;
    }
}

/// <summary>How an affinity function spreads a token's scores.</summary>
/// <param name="MeanTop1">Mean over tokens of the largest affinity.</param>
/// <param name="MeanSelectedMass">Mean over tokens of the summed affinities of the K_r selected experts (softmax: the
/// probability mass the gate keeps; V2 does not renormalise it).</param>
/// <param name="Histogram">Counts of all affinities in <see cref="MoeRoutingResult.Bins"/> equal bins of [0, 1].</param>
/// <param name="SelectedHistogram">The same for the selected experts' affinities only.</param>
public sealed record AffinitySummary(string Function, double Mean, double MeanTop1, double MeanSelectedMass, long[] Histogram, long[] SelectedHistogram);

/// <param name="Loads">Assignments per expert under the (group-limited) gate.</param>
/// <param name="Limited">Traffic with the gate's group limit (groups = nodes).</param>
/// <param name="Free">Traffic of the same scores routed without the limit.</param>
public sealed record MoeRoutingResult(int Tokens, int Experts, int TopK, int Devices, int Nodes, int Bins,
    AffinitySummary Sigmoid, AffinitySummary Softmax, long[] Loads, double MaxVio, double CoefficientOfVariation,
    DispatchTraffic Limited, DispatchTraffic Free, double ExpectedNodesUniform, RebalancedPlacement Rebalanced);

/// <summary>A row of <c>nodes_per_token.csv</c>: tokens reaching exactly <paramref name="Nodes"/> nodes, with and without the group limit.</summary>
public sealed record NodesRow(int Nodes, int TokensLimited, int TokensFree);

/// <summary>A row of <c>device_load.csv</c>: a device's load with experts placed contiguously and after rebalancing.</summary>
public sealed record DeviceLoadRow(int Device, int Node, double Contiguous, double Rebalanced);

/// <summary>A row of <c>expert_load.csv</c>.</summary>
public sealed record ExpertRow(int Expert, long Assignments, int Replicas);

/// <summary>
/// <c>moe-routing</c>: where V3's gate sends tokens and what that costs an expert-parallel deployment — affinity
/// distributions (sigmoid against softmax), expert loads, nodes and devices each token must reach with and without
/// node-limited routing, and device loads before and after EPLB-style redundant experts.
/// </summary>
public static class MoeRoutingExperiment
{
    public const string Id = "moe-routing";
    public const int Bins = 20;

    /// <summary>Every seed of <paramref name="config"/> (see <see cref="Experiment"/>).</summary>
    public static SeededResult<MoeRoutingResult> Run(MoeRoutingConfig config, Device device) => Experiment.Run(config, device);

    private static MoeRoutingResult RunSeed(MoeRoutingConfig config, int seed, Device device)
    {
        TorchRuntime.EnsureLoaded();
        using var scope = NewDisposeScope();
        var r = config.Router;
        var generator = new Generator((ulong)seed);
        // Centroids with unit-variance logits, plus a per-expert offset through feature 0, which is 1 for every token.
        var centroids = randn([r.Experts, config.Dim], generator: generator) / Math.Sqrt(config.Dim);
        centroids[.., 0] = randn([r.Experts], generator: generator) * config.PopularitySkew;
        var tokens = randn([config.Tokens, config.Dim], generator: generator);
        tokens[.., 0] = 1f;
        var logits = tokens.to(device).matmul(centroids.to(device).t());
        var sigmoid = logits.sigmoid();
        var softmax = logits.softmax(-1);

        var limited = Longs(Models.Router.Select(sigmoid, null, r));
        var free = Longs(Models.Router.Select(sigmoid, null, r with { Groups = 1, TopGroups = 1 }));
        var loads = new long[r.Experts];
        foreach (var e in limited) loads[e]++;
        var placement = ExpertPlacement.Contiguous(r.Experts, config.Devices, config.DevicesPerNode);
        var rebalanced = ExpertParallel.Rebalance([.. loads.Select(l => (double)l)], config.Devices, config.DevicesPerNode, config.RedundantExperts);
        return new MoeRoutingResult(config.Tokens, r.Experts, r.TopK, config.Devices, placement.Nodes, Bins,
            Summary("sigmoid", sigmoid, r.TopK), Summary("softmax", softmax, r.TopK), loads,
            LoadMetrics.MaxVio(loads), LoadMetrics.CoefficientOfVariation(loads),
            ExpertParallel.Traffic(limited, r.TopK, placement), ExpertParallel.Traffic(free, r.TopK, placement),
            ExpertParallel.ExpectedNodesUniform(r.Experts, r.TopK, placement.Nodes), rebalanced);
    }

    private static long[] Longs(Tensor t) => t.flatten().cpu().data<long>().ToArray();

    private static AffinitySummary Summary(string name, Tensor scores, int k)
    {
        using var scope = NewDisposeScope();
        var top = scores.topk(k, -1).values;
        long[] Histogram(Tensor values) => [.. values.flatten().histc(Bins, 0, 1).cpu().data<float>().Select(c => (long)c)];
        return new AffinitySummary(name, scores.mean().item<float>(), top[.., 0].mean().item<float>(), top.sum(-1).mean().item<float>(),
            Histogram(scores), Histogram(top));
    }

    public static Experiment<MoeRoutingConfig, MoeRoutingResult> Experiment { get; } = new(
        Id,
        "MoE routing: affinities, node-limited routing and expert-parallel load",
        "DeepSeek-V3's gate (256 routed experts, 8 per token, sigmoid, 8 groups, top 4) on synthetic tokens with popular " +
        "experts: sigmoid against softmax affinities, expert loads, nodes and devices each token reaches with and without " +
        "node-limited routing on 64 GPUs in 8 nodes, and device loads before and after EPLB-style redundant experts.",
        (config, seed, request) => RunSeed(config, seed, request.Device), (config, seeded) => Output(config, seeded.First));

    public static ExperimentDefinition Definition => Experiment.Definition;

    public static ExperimentOutput Output(MoeRoutingConfig config, MoeRoutingResult r)
    {
        var summary = new List<string>
        {
            $"{r.Tokens} tokens, {r.Experts} routed experts, top-{r.TopK}, {config.Router.Groups} groups (top {config.Router.TopGroups}); " +
            $"{r.Devices} devices in {r.Nodes} nodes; popularity skew {config.PopularitySkew}",
            $"affinities: sigmoid mean {r.Sigmoid.Mean:F3}, top-1 {r.Sigmoid.MeanTop1:F3}, selected sum {r.Sigmoid.MeanSelectedMass:F3}; " +
            $"softmax mean {r.Softmax.Mean:E2} (= 1/{r.Experts}), top-1 {r.Softmax.MeanTop1:F4}, selected mass {r.Softmax.MeanSelectedMass:F3}",
            $"expert loads: MaxVio {r.MaxVio:F2}, CV {r.CoefficientOfVariation:F2}",
            $"nodes per token: {r.Limited.MeanNodes:F2} (max {r.Limited.MaxNodes}) with the group limit, {r.Free.MeanNodes:F2} (max {r.Free.MaxNodes}) without " +
            $"(uniform random choice: {r.ExpectedNodesUniform:F2}); devices per token {r.Limited.MeanDevices:F2} vs {r.Free.MeanDevices:F2}",
            $"device load max/mean: {r.Rebalanced.ImbalanceBefore:F2} contiguous, {r.Rebalanced.ImbalanceAfter:F2} with {config.RedundantExperts} redundant experts (EPLB-style)",
            "paper: V3 limits each token to 4 nodes; IB ≈ 50 GB/s vs NVLink ≈ 160 GB/s (V3 §3.2.2); 32 redundant experts for prefill on 32 GPUs (§3.4)",
        };
        int At(int[] histogram, int i) => i < histogram.Length ? histogram[i] : 0;
        var traffic = ResultTable.Of("nodes_per_token", Enumerable.Range(0, Math.Max(r.Limited.NodesHistogram.Length, r.Free.NodesHistogram.Length))
            .Select(i => new NodesRow(i, At(r.Limited.NodesHistogram, i), At(r.Free.NodesHistogram, i))));
        var devices = ResultTable.Of("device_load", Enumerable.Range(0, r.Devices)
            .Select(d => new DeviceLoadRow(d, d / (r.Devices / r.Nodes), r.Rebalanced.Before[d], r.Rebalanced.After[d])), display: false);
        var experts = ResultTable.Of("expert_load", Enumerable.Range(0, r.Experts).Select(e => new ExpertRow(e, r.Loads[e], r.Rebalanced.Replicas[e])), display: false);
        return new ExperimentOutput(config, config.Seeds, r, summary, [traffic, devices, experts],
        [
            new NamedChart("affinities", "Sigmoid affinities: all experts and the selected ones", AffinityChart(r)),
            new NamedChart("nodes-per-token", "Nodes each token is sent to, with and without the group limit", NodesChart(r)),
            new NamedChart("device-load", "Device load before and after redundant experts", DeviceLoadChart(r)),
        ]);
    }

    /// <summary>Histogram of all sigmoid affinities against those of the selected experts (share of each set per bin).</summary>
    public static GenericChart AffinityChart(MoeRoutingResult r)
    {
        var centres = Enumerable.Range(0, r.Bins).Select(i => (i + 0.5) / r.Bins).ToArray();
        GenericChart Bars(long[] counts, string name) =>
            Chart.Column<double, double, string>(values: counts.Select(c => c / (double)counts.Sum()).ToArray(), Keys: centres, Name: name);
        return Chart.Combine([Bars(r.Sigmoid.Histogram, "all experts"), Bars(r.Sigmoid.SelectedHistogram, $"selected (top-{r.TopK})")])
            .WithTitle("Sigmoid affinities sᵢ = σ(u·eᵢ): the gate keeps the upper tail")
            .WithXAxisStyle<double, double, string>(TitleText: "affinity")
            .WithYAxisStyle<double, double, string>(TitleText: "share of the set")
            .WithSize(760, 420);
    }

    /// <summary>Tokens by the number of nodes they are dispatched to, with and without node-limited routing.</summary>
    public static GenericChart NodesChart(MoeRoutingResult r)
    {
        GenericChart Bars(int[] histogram, string name) => Chart.Column<double, int, string>(
            values: histogram.Select(c => (double)c).ToArray(), Keys: Enumerable.Range(0, histogram.Length).ToArray(), Name: name);
        return Chart.Combine([Bars(r.Limited.NodesHistogram, "group-limited (top-4 groups)"), Bars(r.Free.NodesHistogram, "unlimited")])
            .WithTitle($"Nodes per token: {r.Limited.MeanNodes:F2} with the limit, {r.Free.MeanNodes:F2} without")
            .WithXAxisStyle<double, double, string>(TitleText: "distinct nodes a token is sent to")
            .WithYAxisStyle<double, double, string>(TitleText: "tokens")
            .WithSize(760, 420);
    }

    /// <summary>Load per device for the contiguous placement and for the rebalanced one with redundant experts.</summary>
    public static GenericChart DeviceLoadChart(MoeRoutingResult r)
    {
        var ids = Enumerable.Range(0, r.Devices).ToArray();
        return Chart.Combine(
            [
                Chart.Column<double, int, string>(values: r.Rebalanced.Before, Keys: ids, Name: $"contiguous (max/mean {r.Rebalanced.ImbalanceBefore:F2})"),
                Chart.Column<double, int, string>(values: r.Rebalanced.After, Keys: ids, Name: $"with redundant experts (max/mean {r.Rebalanced.ImbalanceAfter:F2})"),
            ])
            .WithTitle("Assignments per device before and after EPLB-style rebalancing")
            .WithXAxisStyle<double, double, string>(TitleText: "device")
            .WithYAxisStyle<double, double, string>(TitleText: "token-expert assignments")
            .WithSize(900, 420);
    }
}

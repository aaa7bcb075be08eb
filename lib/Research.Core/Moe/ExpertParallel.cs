using Research.Experiments;

namespace Research.Moe;

/// <summary>
/// Which devices host each routed expert, with devices grouped into nodes (V3 training: 8 GPUs per node, 64-way expert
/// parallelism over 8 nodes). An expert may have several replicas (EPLB's redundant experts); its load is then split
/// evenly over them, as a dispatcher that alternates replicas would.
/// </summary>
public sealed class ExpertPlacement
{
    private readonly int[][] _hosts;

    public ExpertPlacement(int devices, int devicesPerNode, IReadOnlyList<int[]> hosts)
    {
        if (devices < 1) throw new ConfigException($"ExpertPlacement.Devices must be ≥ 1 (got {devices})");
        if (devicesPerNode < 1 || devices % devicesPerNode != 0)
            throw new ConfigException($"ExpertPlacement.DevicesPerNode must divide Devices ({devices}) (got {devicesPerNode})");
        if (hosts.Count == 0) throw new ConfigException("ExpertPlacement: at least one expert must be placed");
        for (int e = 0; e < hosts.Count; e++)
        {
            if (hosts[e].Length == 0) throw new ConfigException($"ExpertPlacement: expert {e} has no host device");
            if (hosts[e].Any(d => d < 0 || d >= devices)) throw new ConfigException($"ExpertPlacement: expert {e} is placed on a device outside 0..{devices - 1}");
        }
        Devices = devices;
        DevicesPerNode = devicesPerNode;
        _hosts = [.. hosts.Select(h => h.ToArray())];
    }

    /// <summary>Experts e·D/N_r … in order: device d hosts experts d·(N_r/D) … (d + 1)·(N_r/D) − 1, one replica each.</summary>
    public static ExpertPlacement Contiguous(int experts, int devices, int devicesPerNode)
    {
        if (experts < 1 || devices < 1 || experts % devices != 0)
            throw new ConfigException($"ExpertPlacement: Devices ({devices}) must divide Experts ({experts})");
        int perDevice = experts / devices;
        return new ExpertPlacement(devices, devicesPerNode, [.. Enumerable.Range(0, experts).Select(e => new[] { e / perDevice })]);
    }

    public int Experts => _hosts.Length;
    public int Devices { get; }
    public int DevicesPerNode { get; }
    public int Nodes => Devices / DevicesPerNode;

    /// <summary>The devices hosting each expert (the first is the one a token is sent to in <see cref="ExpertParallel.Traffic"/>).</summary>
    public IReadOnlyList<int[]> Hosts => _hosts;

    /// <summary>Experts (replicas included) per device.</summary>
    public int[] SlotsPerDevice()
    {
        var slots = new int[Devices];
        foreach (var h in _hosts) foreach (var d in h) slots[d]++;
        return slots;
    }

    public int NodeOf(int device) => device / DevicesPerNode;

    /// <summary>Load per device from load per expert, each expert's load split evenly over its replicas.</summary>
    public double[] DeviceLoad(IReadOnlyList<double> expertLoads)
    {
        if (expertLoads.Count != Experts) throw new ArgumentException($"ExpertPlacement.DeviceLoad: {expertLoads.Count} loads for {Experts} experts", nameof(expertLoads));
        var load = new double[Devices];
        for (int e = 0; e < Experts; e++)
            foreach (var d in _hosts[e]) load[d] += expertLoads[e] / _hosts[e].Length;
        return load;
    }

    /// <summary>Load per node: the sum over its devices.</summary>
    public double[] NodeLoad(IReadOnlyList<double> expertLoads)
    {
        var devices = DeviceLoad(expertLoads);
        return [.. Enumerable.Range(0, Nodes).Select(n => devices.Skip(n * DevicesPerNode).Take(DevicesPerNode).Sum())];
    }
}

/// <summary>All-to-all dispatch of one batch under a placement.</summary>
/// <param name="MeanDevices">Distinct devices a token is sent to, averaged over tokens.</param>
/// <param name="MeanNodes">Distinct nodes a token is sent to: with V3's dispatch each costs one IB transfer, the
/// copies for other GPUs of that node then travel over NVLink.</param>
/// <param name="NodesHistogram">Tokens touching exactly i nodes, at index i.</param>
/// <param name="TokensPerDevice">(token, device) pairs each device receives: its share of the dispatch traffic.</param>
public sealed record DispatchTraffic(double MeanDevices, int MaxDevices, double MeanNodes, int MaxNodes,
    int[] DevicesHistogram, int[] NodesHistogram, long[] TokensPerDevice);

/// <summary>An EPLB-style rebalanced placement and the device loads before and after.</summary>
/// <param name="Replicas">Copies of each expert.</param>
/// <param name="ImbalanceBefore">max / mean device load of the contiguous placement.</param>
/// <param name="ImbalanceAfter">max / mean device load of the rebalanced one.</param>
public sealed record RebalancedPlacement(ExpertPlacement Placement, int[] Replicas, double[] Before, double[] After,
    double ImbalanceBefore, double ImbalanceAfter);

/// <summary>Expert parallelism, simulated: dispatch traffic of a routing decision and redundant-expert rebalancing.</summary>
public static class ExpertParallel
{
    /// <summary>Traffic of sending each token to the devices of its <paramref name="k"/> experts (row-major [N, K]).</summary>
    public static DispatchTraffic Traffic(IReadOnlyList<long> experts, int k, ExpertPlacement placement)
    {
        if (k < 1 || experts.Count % k != 0) throw new ArgumentException($"ExpertParallel.Traffic: {experts.Count} selections are not a multiple of k = {k}", nameof(experts));
        int tokens = experts.Count / k;
        var devicesHistogram = new int[k + 1];
        var nodesHistogram = new int[Math.Min(k, placement.Nodes) + 1];
        var perDevice = new long[placement.Devices];
        var devices = new HashSet<int>();
        var nodes = new HashSet<int>();
        for (int t = 0; t < tokens; t++)
        {
            devices.Clear();
            nodes.Clear();
            for (int j = 0; j < k; j++)
            {
                int device = placement.Hosts[(int)experts[t * k + j]][0];
                devices.Add(device);
                nodes.Add(placement.NodeOf(device));
            }
            devicesHistogram[devices.Count]++;
            nodesHistogram[nodes.Count]++;
            foreach (var d in devices) perDevice[d]++;
        }
        static double Mean(int[] histogram) => histogram.Select((c, i) => (double)c * i).Sum() / histogram.Sum();
        static int Max(int[] histogram) => Array.FindLastIndex(histogram, c => c > 0);
        return new DispatchTraffic(Mean(devicesHistogram), Max(devicesHistogram), Mean(nodesHistogram), Max(nodesHistogram),
            devicesHistogram, nodesHistogram, perDevice);
    }

    /// <summary>
    /// Expected distinct nodes per token when each token picks k of N_r experts uniformly at random, experts spread
    /// evenly over G nodes: G · (1 − C(N_r − N_r/G, k) / C(N_r, k)), the chance a node is hit summed over nodes.
    /// </summary>
    public static double ExpectedNodesUniform(int experts, int k, int nodes)
    {
        // C(N − g, k) / C(N, k) = Π_{i<k} (N − g − i) / (N − i)
        int perNode = experts / nodes;
        double miss = 1;
        for (int i = 0; i < k; i++) miss *= Math.Max(0, experts - perNode - i) / (double)(experts - i);
        return nodes * (1 - miss);
    }

    /// <summary>
    /// EPLB-style redundant placement (V3 §3.4): give <paramref name="redundant"/> extra replicas, one at a time, to the
    /// expert with the highest load per replica; then place replicas heaviest first, each on the least-loaded device
    /// that still has a free slot (and, when possible, no copy of the same expert). Every device ends with
    /// (N_r + redundant) / D slots.
    /// </summary>
    public static RebalancedPlacement Rebalance(IReadOnlyList<double> loads, int devices, int devicesPerNode, int redundant)
    {
        int experts = loads.Count;
        if (redundant < 0) throw new ConfigException($"ExpertParallel.Rebalance: redundant experts must be ≥ 0 (got {redundant})");
        if (devices < 1 || (experts + redundant) % devices != 0)
            throw new ConfigException($"ExpertParallel.Rebalance: Devices ({devices}) must divide Experts + redundant ({experts} + {redundant})");
        if (loads.Any(l => !double.IsFinite(l) || l < 0)) throw new ArgumentException("ExpertParallel.Rebalance: loads must be finite and ≥ 0", nameof(loads));
        var before = ExpertPlacement.Contiguous(experts, devices, devicesPerNode);

        var replicas = Enumerable.Repeat(1, experts).ToArray();
        for (int r = 0; r < redundant; r++)
        {
            int hottest = 0;
            for (int e = 1; e < experts; e++)
                if (loads[e] / replicas[e] > loads[hottest] / replicas[hottest]) hottest = e;
            replicas[hottest]++;
        }

        int slots = (experts + redundant) / devices;
        var deviceLoad = new double[devices];
        var used = new int[devices];
        var hosts = Enumerable.Range(0, experts).Select(_ => new List<int>()).ToArray();
        var pieces = Enumerable.Range(0, experts).SelectMany(e => Enumerable.Repeat(e, replicas[e]))
            .OrderByDescending(e => loads[e] / replicas[e]).ThenBy(e => e);
        foreach (var e in pieces)
        {
            int best = -1;
            for (int pass = 0; pass < 2 && best < 0; pass++)   // first pass avoids a second copy on the same device
                for (int d = 0; d < devices; d++)
                    if (used[d] < slots && (pass == 1 || !hosts[e].Contains(d)) && (best < 0 || deviceLoad[d] < deviceLoad[best])) best = d;
            hosts[e].Add(best);
            used[best]++;
            deviceLoad[best] += loads[e] / replicas[e];
        }
        var after = new ExpertPlacement(devices, devicesPerNode, [.. hosts.Select(h => h.ToArray())]);
        var beforeLoad = before.DeviceLoad(loads);
        var afterLoad = after.DeviceLoad(loads);
        return new RebalancedPlacement(after, replicas, beforeLoad, afterLoad, Imbalance(beforeLoad), Imbalance(afterLoad));
    }

    /// <summary>max / mean: 1 is perfectly even; the step time of synchronous expert parallelism scales with it.</summary>
    public static double Imbalance(IReadOnlyList<double> loads) => loads.Max() / loads.Average();
}

using Research.Experiments;

namespace Research.Moe;

/// <summary>How a router turns centroid logits u·eᵢ into affinities sᵢ.</summary>
public enum Affinity
{
    /// <summary>DeepSeek-V2 (and GShard/Switch): a softmax over all routed experts; affinities compete.</summary>
    Softmax,
    /// <summary>DeepSeek-V3: an independent sigmoid per expert, so a bias can move one expert without moving the rest.</summary>
    Sigmoid,
}

/// <summary>How group-limited routing scores a group of experts before keeping the best <see cref="RouterConfig.TopGroups"/>.</summary>
public enum GroupScore
{
    /// <summary>V3: the sum of the group's two highest (biased) affinities, so a group needs more than one good expert.</summary>
    TopTwoSum,
    /// <summary>V2: the group's highest affinity.</summary>
    Max,
}

/// <summary>
/// The gate of a DeepSeekMoE layer (V3 §2.1.2, eqs. 12–16): affinities, optional group (node) limit, top-k
/// selection on affinity + balancing bias, gate values from the unbiased affinities, routed scaling, and an optional
/// capacity that drops overflowing assignments (a baseline; V3 itself never drops tokens).
/// </summary>
/// <param name="Experts">N_r, routed experts.</param>
/// <param name="TopK">K_r, routed experts per token.</param>
/// <param name="NormalizeTopK">Divide the selected gate values by their sum (V3); V2 keeps the raw softmax values.</param>
/// <param name="RoutedScaling">Factor on the routed gate values (V3's code uses 2.5, V2's 16): keeps the routed
/// branch's output in scale with the shared expert's after normalisation shrinks each weight to ~1/K_r.</param>
/// <param name="Groups">Experts are split into this many equal groups (one per node in V3 training); 1 = no limit.</param>
/// <param name="TopGroups">M: a token may use experts in at most this many groups (V3: 4 of 8 nodes).</param>
/// <param name="CapacityFactor">Null = dropless (V3). Otherwise each expert takes at most
/// ⌈factor · tokens · K_r / N_r⌉ assignments per batch; the lowest-affinity overflow is dropped (V2 §2.2.4).</param>
public sealed record RouterConfig(
    int Experts = 16,
    int TopK = 2,
    Affinity Affinity = Affinity.Sigmoid,
    bool NormalizeTopK = true,
    double RoutedScaling = 1.0,
    int Groups = 1,
    int TopGroups = 1,
    GroupScore GroupScore = GroupScore.TopTwoSum,
    double? CapacityFactor = null)
{
    /// <summary>DeepSeek-V3's gate: 256 routed experts, 8 per token, sigmoid, normalised, ×2.5, 8 groups of 32, top 4 groups.</summary>
    public static RouterConfig DeepSeekV3 { get; } = new(256, 8, Affinity.Sigmoid, true, 2.5, 8, 4, GroupScore.TopTwoSum);

    /// <summary>DeepSeek-V2's gate: 160 routed experts, 6 per token, softmax without renormalisation, ×16, ≤ 3 of 8 devices by group max.</summary>
    public static RouterConfig DeepSeekV2 { get; } = new(160, 6, Affinity.Softmax, false, 16.0, 8, 3, GroupScore.Max);

    /// <summary>Experts per group.</summary>
    public int GroupSize => Experts / Groups;

    public RouterConfig Validated()
    {
        if (Experts is < 1 or > 65_536) throw new ConfigException($"RouterConfig.Experts must be in 1..65536 (got {Experts})");
        if (TopK < 1 || TopK > Experts) throw new ConfigException($"RouterConfig.TopK must be in 1..Experts ({Experts}) (got {TopK})");
        if (Groups < 1 || Experts % Groups != 0)
            throw new ConfigException($"RouterConfig.Groups must be a divisor of Experts ({Experts}): allowed {string.Join(", ", Divisors(Experts))} (got {Groups})");
        if (TopGroups < 1 || TopGroups > Groups) throw new ConfigException($"RouterConfig.TopGroups must be in 1..Groups ({Groups}) (got {TopGroups})");
        if (TopK > TopGroups * GroupSize)
            throw new ConfigException($"RouterConfig.TopK ({TopK}) exceeds the experts in the kept groups: TopGroups × Experts/Groups = {TopGroups * GroupSize}");
        if (!double.IsFinite(RoutedScaling) || RoutedScaling <= 0) throw new ConfigException($"RouterConfig.RoutedScaling must be a finite number > 0 (got {RoutedScaling})");
        if (CapacityFactor is double c && (!double.IsFinite(c) || c <= 0))
            throw new ConfigException($"RouterConfig.CapacityFactor must be a finite number > 0, or null for dropless routing (got {c})");
        return this;
    }

    private static IEnumerable<int> Divisors(int n) => Enumerable.Range(1, n).Where(d => n % d == 0);
}

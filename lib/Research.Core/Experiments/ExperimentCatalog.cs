namespace Research.Experiments;

/// <summary>Every experiment the kit ships, in the order <c>research reproduce</c> runs them.</summary>
public static class ExperimentCatalog
{
    /// <summary>All experiments. Each technique adds its own here.</summary>
    public static IReadOnlyList<ExperimentDefinition> All { get; } =
    [
        MatmulThroughput.Definition,
        Fp8.Fp8FormatsExperiment.Definition,
        Fp8.Fp8ScalingExperiment.Definition,
        Fp8.Fp8AccumulationExperiment.Definition,
        Fp8.Fp8TrainingExperiment.Definition,
        Distillation.DistillExperiment.Definition,
        Moe.MoeRoutingExperiment.Definition,
        Moe.MoeBalanceExperiment.Definition,
        Mla.MlaEquivalenceExperiment.Definition,
        Mla.MlaCacheExperiment.Definition,
        Mla.MlaQualityExperiment.Definition,
        Accounting.EfficiencyExperiment.Definition,
        Rl.R1ZeroExperiment.Definition,
        Mtp.MtpExperiment.Definition,
        V3Mini.V3MiniExperiment.Definition,
    ];

    /// <summary>The experiment with <paramref name="id"/>; an unknown id is an error listing the known ones.</summary>
    public static ExperimentDefinition Find(string id) =>
        All.FirstOrDefault(e => e.Id == id)
        ?? throw new ArgumentException($"unknown experiment '{id}'; known experiments: {string.Join(", ", All.Select(e => e.Id))}");
}

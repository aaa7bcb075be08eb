using Research.Experiments;

namespace Research.Mla;

/// <summary>
/// Config of <c>mla-cache</c>: which presets to compare, the dtype, the context lengths, and the model whose dims the
/// four mechanisms are compared at (V2 Table 1's comparison at equal l, n_h, d_h).
/// </summary>
public sealed record MlaCacheConfig : IExperimentConfig<MlaCacheConfig>
{
    /// <summary>Preset names (see <see cref="KvCachePresets"/>).</summary>
    public IReadOnlyList<string> Presets { get; init; } =
        ["deepseek-v3", "deepseek-v2", "deepseek-v2-lite", "deepseek-67b", "qwen2.5-72b", "llama3.1-405b", "llama3.1-70b", "llama3.1-8b", "mistral-7b"];
    public KvDtype Dtype { get; init; } = KvDtype.Bf16;
    /// <summary>Context lengths in tokens; a preset is evaluated only at those within its max context.</summary>
    public IReadOnlyList<int> Contexts { get; init; } = [1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072];
    /// <summary>An MLA preset whose l, n_h, d_h, d_c and d_h^R the variants share (DeepSeek-V2: 60 × 128 heads × 128).</summary>
    public string VariantsOf { get; init; } = "deepseek-v2";
    /// <summary>n_g of the GQA variants; each must divide the heads of <see cref="VariantsOf"/>.</summary>
    public IReadOnlyList<int> GqaGroups { get; init; } = [32, 8, 2];

    /// <summary>Nothing here is drawn at random: no seeds, and a run is the same for any.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public IReadOnlyList<int> Seeds => [];

    public MlaCacheConfig WithSeeds(IReadOnlyList<int> seeds) => this;

    public MlaCacheConfig Validated()
    {
        if (Presets is null || Presets.Count == 0) throw new ConfigException("MlaCacheConfig.Presets must name at least one preset");
        foreach (var p in Presets) KvCachePresets.Find(p);
        if (Presets.Distinct(StringComparer.OrdinalIgnoreCase).Count() != Presets.Count) throw new ConfigException("MlaCacheConfig.Presets must not repeat a preset");
        KvCacheSize.BytesPerElement(Dtype);
        if (Contexts is null || Contexts.Count == 0 || Contexts.Any(c => c < 1 || c > KvCacheModel.MaxSupportedContext))
            throw new ConfigException($"MlaCacheConfig.Contexts must be a non-empty list of token counts in 1..{KvCacheModel.MaxSupportedContext} (got [{string.Join(", ", Contexts ?? [])}])");
        if (!Contexts.Zip(Contexts.Skip(1)).All(p => p.First < p.Second))
            throw new ConfigException($"MlaCacheConfig.Contexts must be strictly increasing (got [{string.Join(", ", Contexts)}])");
        var dims = KvCachePresets.Find(VariantsOf);
        if (dims.Kind != AttentionKind.Mla) throw new ConfigException($"MlaCacheConfig.VariantsOf must be an MLA preset, to give d_c and d_h^R (got '{VariantsOf}', {dims.Kind.ToString().ToLowerInvariant()})");
        if (GqaGroups is null) throw new ConfigException("MlaCacheConfig.GqaGroups must be a list (it may be empty)");
        foreach (var g in GqaGroups)
            if (g < 1 || dims.Heads % g != 0)
                throw new ConfigException($"MlaCacheConfig.GqaGroups entries must divide the heads of '{VariantsOf}' (n_h = {dims.Heads}) (got {g})");
        ExperimentConfigs.CheckDistinct("MlaCacheConfig.GqaGroups", GqaGroups);
        return this;
    }
}

/// <summary>One model's cache in the result: per token, and the total at each context within its max context.</summary>
/// <param name="Contexts">The config's contexts up to the model's max context.</param>
/// <param name="TotalBytes">Cache bytes at each of <paramref name="Contexts"/>.</param>
public sealed record KvCacheRow([property: Column("model")] string Name, AttentionKind Kind, string Formula, int Layers, int Heads, int KvHeads, int HeadDim,
    int KvLatentDim, int RopeHeadDim, int MaxContext, long ElementsPerToken, long BytesPerToken,
    [property: Column(Skip = true)] int[] Contexts, [property: Column(Skip = true)] long[] TotalBytes);

/// <summary>A row of <c>total_by_context.csv</c>.</summary>
public sealed record CacheTotalRow(string Model, int Context, long TotalBytes);

/// <param name="Presets">Published models, in the config's order.</param>
/// <param name="Variants">MHA, GQA at each group count, MQA and MLA at the dims of <paramref name="VariantsOf"/>.</param>
/// <param name="V2SavingDeployed">1 − V2's cache at ~6 bits per element ÷ DeepSeek 67B's in BF16: the abstract's 93.3%.</param>
/// <param name="V2SavingSameDtype">The same at equal dtype: what the architecture alone saves.</param>
public sealed record MlaCacheResult(KvDtype Dtype, int BytesPerElement, int[] Contexts, IReadOnlyList<KvCacheRow> Presets, string VariantsOf,
    IReadOnlyList<KvCacheRow> Variants, double V2SavingDeployed, double V2SavingSameDtype);

/// <summary>
/// <c>mla-cache</c>: KV-cache bytes per token and in total against context length for published models, and for the four
/// mechanisms of V2 Table 1 at one model's dims. Pure arithmetic (<see cref="KvCacheSize"/>); no tensors, no seed.
/// </summary>
public static class MlaCacheExperiment
{
    public const string Id = "mla-cache";

    public static MlaCacheResult Run(MlaCacheConfig config)
    {
        config.Validated();
        var contexts = config.Contexts.ToArray();
        KvCacheRow Row(KvCacheModel m)
        {
            var within = contexts.Where(c => c <= m.MaxContext).ToArray();
            return new KvCacheRow(m.Name, m.Kind, KvCacheSize.Formula(m.Kind), m.Layers, m.Heads, m.KvHeads, m.HeadDim, m.KvLatentDim, m.RopeHeadDim,
                m.MaxContext, KvCacheSize.ElementsPerToken(m), KvCacheSize.BytesPerToken(m, config.Dtype), within,
                [.. within.Select(c => KvCacheSize.TotalBytes(m, config.Dtype, c))]);
        }
        var dims = KvCachePresets.Find(config.VariantsOf);
        var variants = new List<KvCacheModel> { KvCacheSize.Variant(dims, AttentionKind.Mha) };
        variants.AddRange(config.GqaGroups.Select(g => KvCacheSize.Variant(dims, AttentionKind.Gqa, g)));
        variants.Add(KvCacheSize.Variant(dims, AttentionKind.Mqa));
        variants.Add(KvCacheSize.Variant(dims, AttentionKind.Mla));
        var (v2, dense) = (KvCachePresets.Find("deepseek-v2"), KvCachePresets.Find("deepseek-67b"));
        int bf16 = KvCacheSize.BytesPerElement(KvDtype.Bf16);
        return new MlaCacheResult(config.Dtype, KvCacheSize.BytesPerElement(config.Dtype), contexts,
            [.. config.Presets.Select(p => Row(KvCachePresets.Find(p)))], dims.Name, [.. variants.Select(Row)],
            KvCacheSize.Saving(v2, KvCacheSize.V2DeploymentBytesPerElement, dense, bf16), KvCacheSize.Saving(v2, bf16, dense, bf16));
    }

    public static Experiment<MlaCacheConfig, MlaCacheResult> Experiment { get; } = new(
        Id,
        "MLA: KV-cache size per token and by context",
        "KV-cache bytes per token and in total against context length (DeepSeek-V2 Table 1 formulas) for DeepSeek-V3, V2, " +
        "V2-Lite, DeepSeek 67B, Qwen2.5-72B, Llama 3.1 405B/70B/8B and Mistral 7B, and for MHA, GQA, MQA and MLA at DeepSeek-V2's " +
        "dims; reproduces HW25 Table 1 and the 93.3% saving of the V2 abstract.",
        (config, _, _) => Run(config), (config, seeded) => Output(config, seeded.First));

    public static ExperimentDefinition Definition => Experiment.Definition;

    public static ExperimentOutput Output(MlaCacheConfig config) => Output(config, Run(config));

    public static ExperimentOutput Output(MlaCacheConfig config, MlaCacheResult r)
    {
        string dtype = r.Dtype.ToString().ToLowerInvariant();
        var baseline = r.Presets.FirstOrDefault(p => p.Kind == AttentionKind.Mla) ?? r.Presets[0];
        var summary = new List<string>
        {
            $"KV cache per token, {dtype} ({r.BytesPerElement} bytes per element), KB = 1000 bytes; against {baseline.Name}: " +
            string.Join(", ", r.Presets.Where(p => p != baseline).Select(p => $"{p.Name} {p.BytesPerToken / (double)baseline.BytesPerToken:F2}×")),
        };
        var mha = r.Variants[0];
        summary.Add($"at {r.VariantsOf}'s dims (l = {mha.Layers}, n_h = {mha.Heads}, d_h = {mha.HeadDim}): " +
            string.Join(", ", r.Variants.Select(v => $"{v.Name} {v.ElementsPerToken:N0}")) + " elements per token");
        summary.Add($"DeepSeek-V2 vs DeepSeek 67B: {r.V2SavingDeployed:P1} smaller with V2's ~6-bit cache against BF16 (abstract: 93.3%), " +
            $"{r.V2SavingSameDtype:P1} at equal dtype");
        summary.Add("paper: HW25 Table 1 (BF16 per token): DeepSeek-V3 70.272 KB, Qwen-2.5 72B 327.680 KB, LLaMA-3.1 405B 516.096 KB");

        var presets = ResultTable.Of("presets", r.Presets);
        var variants = ResultTable.Of("variants", r.Variants);
        var totals = ResultTable.Of("total_by_context", r.Presets.SelectMany(p => p.Contexts.Zip(p.TotalBytes, (c, b) => new CacheTotalRow(p.Name, c, b))), display: false);
        return new ExperimentOutput(config, [], r, summary, [presets, variants, totals],
        [
            new NamedChart("bytes-per-token", "KV cache per token by model", KvCacheCharts.BytesPerToken(r)),
            new NamedChart("variants", $"KV cache per token by mechanism at {r.VariantsOf}'s dims", KvCacheCharts.Variants(r)),
            new NamedChart("total-by-context", "KV cache against context length", KvCacheCharts.TotalByContext(r)),
        ]);
    }
}

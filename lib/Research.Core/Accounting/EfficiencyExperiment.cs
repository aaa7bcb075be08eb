using Research.Experiments;
using Research.Mla;

namespace Research.Accounting;

/// <summary>Config of <c>efficiency</c>: which presets, the sequence for FLOPs, and where decoding is bounded.</summary>
public sealed record EfficiencyConfig : IExperimentConfig<EfficiencyConfig>
{
    /// <summary>Preset names (default: every one of <see cref="ModelPresets"/>).</summary>
    public IReadOnlyList<string> Presets { get; init; } = ModelPresets.Names;
    /// <summary>T for FLOPs per token (HW25 Table 2: 4096).</summary>
    public int Sequence { get; init; } = FlopCounting.DefaultSequence;
    /// <summary>The model whose parameter budget is broken down by part.</summary>
    public string Budget { get; init; } = "deepseek-v3";
    /// <summary>Models bounded against context; an MLA preset also appears with an MHA cache at its dims.</summary>
    public IReadOnlyList<string> DecodePresets { get; init; } = ["deepseek-v3", "llama3.1-405b", "llama3.1-70b"];
    /// <summary>Where the bound against context is taken (see <see cref="Hardware"/>).</summary>
    public string DecodeHardware { get; init; } = "h800-node";
    /// <summary>Contexts in tokens for the bound against context.</summary>
    public IReadOnlyList<int> Contexts { get; init; } = [1024, 4096, 16384, 32768, 65536, 131072];
    /// <summary>B: 1 (weights read per token) and a batch that shares them.</summary>
    public IReadOnlyList<int> Batches { get; init; } = [1, 32];
    /// <summary>Bytes per weight when decoding (1: FP8, as V3 is published).</summary>
    public double WeightBytes { get; init; } = DecodingBound.Fp8;
    /// <summary>Machines for the will-it-fit table, at <see cref="FitContext"/> and batch 1.</summary>
    public IReadOnlyList<string> FitHardware { get; init; } = ["h800-node", "m2-ultra", "rtx-4090"];
    /// <summary>Weight precisions of the will-it-fit table, bytes per parameter (2 BF16, 1 FP8, 0.5 4-bit).</summary>
    public IReadOnlyList<double> FitWeightBytes { get; init; } = [DecodingBound.Bf16, DecodingBound.Fp8, DecodingBound.Int4];
    public int FitContext { get; init; } = 4096;

    /// <summary>Nothing here is drawn at random: no seeds, and a run is the same for any.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public IReadOnlyList<int> Seeds => [];

    public EfficiencyConfig WithSeeds(IReadOnlyList<int> seeds) => this;

    public EfficiencyConfig Validated()
    {
        if (Presets is null || Presets.Count == 0) throw new ConfigException("EfficiencyConfig.Presets must name at least one preset");
        foreach (var p in Presets.Append(Budget).Concat(DecodePresets ?? [])) ModelPresets.Find(p);
        if (Sequence < 1 || Presets.Any(p => Sequence > ModelPresets.Find(p).ContextLimit))
            throw new ConfigException($"EfficiencyConfig.Sequence must be in 1..the smallest context of the presets (got {Sequence})");
        if (DecodePresets is null || DecodePresets.Count == 0) throw new ConfigException("EfficiencyConfig.DecodePresets must name at least one preset");
        Hardware.Find(DecodeHardware);
        foreach (var h in FitHardware ?? throw new ConfigException("EfficiencyConfig.FitHardware must be a list")) Hardware.Find(h);
        if (Contexts is null || Contexts.Count == 0 || Contexts.Any(c => c < 1 || c > KvCacheModel.MaxSupportedContext) || !Contexts.Zip(Contexts.Skip(1)).All(p => p.First < p.Second))
            throw new ConfigException($"EfficiencyConfig.Contexts must be strictly increasing token counts in 1..{KvCacheModel.MaxSupportedContext}");
        if (Batches is null || Batches.Count == 0 || Batches.Any(b => b < 1 || b > 1 << 20))
            throw new ConfigException($"EfficiencyConfig.Batches must be a non-empty list of batch sizes in 1..{1 << 20}");
        if (!(WeightBytes > 0 && WeightBytes <= 8) || FitWeightBytes is null || FitWeightBytes.Any(b => !(b > 0 && b <= 8)))
            throw new ConfigException("EfficiencyConfig.WeightBytes and FitWeightBytes must be bytes per parameter in (0, 8]");
        if (FitContext < 1) throw new ConfigException($"EfficiencyConfig.FitContext must be ≥ 1 (got {FitContext})");
        ExperimentConfigs.CheckDistinct("EfficiencyConfig.Presets", Presets);
        ExperimentConfigs.CheckDistinct("EfficiencyConfig.DecodePresets", DecodePresets);
        ExperimentConfigs.CheckDistinct("EfficiencyConfig.Batches", Batches);
        ExperimentConfigs.CheckDistinct("EfficiencyConfig.FitHardware", FitHardware);
        ExperimentConfigs.CheckDistinct("EfficiencyConfig.FitWeightBytes", FitWeightBytes);
        return this;
    }
}

/// <summary>One preset: counts and FLOPs per token at the config's sequence.</summary>
public sealed record SizeRow([property: Column("model")] string Name, [property: Column("moe")] bool IsMoe, [property: Column("mla")] bool IsMla,
    long Total, long Activated, long MtpStored, long MtpUnique, [property: Column(Format = "0.000e+00")] double ForwardFlops,
    [property: Column(Format = "0.000e+00")] double TrainingFlops, [property: Column(Format = "0.000e+00")] double AttentionForwardFlops);

/// <summary>One point of the decoding bound.</summary>
/// <param name="Cache">"mla", "gqa", or "mha" for the MHA cache variant of an MLA model.</param>
public sealed record DecodeRow(string Model, string Cache, string Hardware, int Batch, int Context, double TokensPerSecond,
    [property: Column("per_sequence")] double TokensPerSecondPerSequence, double BytesPerStep, bool Fits);

/// <summary>Will the weights (and one sequence's cache) fit, and the batch-1 bound where they do.</summary>
public sealed record FitRow(string Model, string Hardware, double BytesPerParameter, [property: Column(Format = "0.000e+00")] double WeightBytes,
    [property: Column(Format = "0.000e+00")] double MemoryBytes, bool Fits, [property: Column(Format = "F0")] double TokensPerSecond);

/// <summary>A published training run and the utilisation its GPU-hours imply.</summary>
public sealed record CostRow(string Run, string Gpu, double GpuHours, double? Dollars, double? Tokens, [property: Column(Format = "0.000e+00")] double TrainingFlops,
    [property: Column(Format = "P1")] double ImpliedBf16, [property: Column(Format = "P1")] double ImpliedFp8, string NotCovered);

/// <summary>A seed-essay claim, the kit's number for it and what the sources say (reference §9).</summary>
public sealed record SeedClaimRow(string Claim, string Kit, string Sources);

public sealed record EfficiencyResult(int Sequence, IReadOnlyList<SizeRow> Sizes, string Budget, IReadOnlyList<PartCount> BudgetParts, long BudgetMtp,
    IReadOnlyList<RunCheck> Runs, IReadOnlyList<DecodeRow> Decoding, IReadOnlyList<FitRow> Fits, IReadOnlyList<SeedClaimRow> SeedClaims, string Convention);

/// <summary>
/// <c>efficiency</c>: the headline arithmetic rebuilt from published configs: parameters total and activated, FLOPs per
/// token, training GPU-hours and the utilisation they imply, the decoding bound from memory, and the seed essays' claims.
/// Pure arithmetic; no tensors, no seed.
/// </summary>
public static class EfficiencyExperiment
{
    public const string Id = "efficiency";

    public static EfficiencyResult Run(EfficiencyConfig config)
    {
        config.Validated();
        var sizes = config.Presets.Select(ModelPresets.Find).Select(m =>
        {
            var count = ParameterCounting.Count(m);
            var flops = FlopCounting.PerToken(m, config.Sequence);
            return new SizeRow(m.Name, m.IsMoe, m.IsMla, count.Total, count.Activated, count.Mtp.Stored, count.Mtp.Unique,
                flops.Forward, flops.Training, flops.AttentionForward);
        }).ToList();
        var budget = ParameterCounting.Count(ModelPresets.Find(config.Budget));
        var runs = TrainingCost.Published.Select(r => TrainingCost.Check(r, config.Sequence)).ToList();

        var hardware = Hardware.Find(config.DecodeHardware);
        var decoding = new List<DecodeRow>();
        foreach (var model in config.DecodePresets.Select(ModelPresets.Find))
        {
            var caches = new List<(string Kind, KvCacheModel Cache)> { (model.ToKvCacheModel().Kind.ToString().ToLowerInvariant(), model.ToKvCacheModel()) };
            if (model.IsMla) caches.Add(("mha", KvCacheSize.Variant(model.ToKvCacheModel(), AttentionKind.Mha)));
            foreach (var (kind, cache) in caches)
                foreach (int batch in config.Batches)
                    foreach (int context in config.Contexts.Where(c => c <= model.ContextLimit))
                    {
                        var b = DecodingBound.Bound(model, hardware, context, batch, config.WeightBytes, KvDtype.Bf16, cache);
                        decoding.Add(new DecodeRow(model.Name, kind, hardware.Name, batch, context, b.TokensPerSecond, b.TokensPerSecondPerSequence, b.BytesPerStep, b.Fits));
                    }
        }
        var fits = (from name in config.Presets
                    let model = ModelPresets.Find(name)
                    where config.FitContext <= model.ContextLimit
                    from h in config.FitHardware.Select(Hardware.Find)
                    from bytes in config.FitWeightBytes
                    let b = DecodingBound.Bound(model, h, config.FitContext, 1, bytes)
                    select new FitRow(name, h.Name, bytes, b.StoredWeightBytes, b.MemoryBytes, b.Fits, b.TokensPerSecond)).ToList();
        return new EfficiencyResult(config.Sequence, sizes, config.Budget, budget.Parts, budget.Mtp.Stored, runs, decoding, fits,
            SeedClaims(config.Sequence), FlopsPerToken.Convention);
    }

    /// <summary>The seed essays' numeric claims (reference §9) against the kit's numbers.</summary>
    public static IReadOnlyList<SeedClaimRow> SeedClaims(int sequence = FlopCounting.DefaultSequence)
    {
        var v3 = ParameterCounting.Count(ModelPresets.Find("deepseek-v3"));
        var llama = ParameterCounting.Count(ModelPresets.Find("llama3.1-405b"));
        var v3Run = TrainingCost.Check(TrainingCost.DeepSeekV3, sequence);
        var llamaRun = TrainingCost.Check(TrainingCost.Llama31_405B, sequence);
        var routed = v3[ParameterPart.RoutedExperts];
        var m2 = DecodingBound.Bound(ModelPresets.Find("deepseek-v3"), Hardware.M2Ultra, 4096, 1, DecodingBound.Int4);
        var lite = DecodingBound.Bound(ModelPresets.Find("deepseek-v2-lite"), Hardware.M2Ultra, 4096, 1, DecodingBound.Fp8);
        double days = TrainingCost.DeepSeekV3.Stages[0].GpuHours / 2048 / 24;
        var mla = ModelPresets.Find("deepseek-v3").ToKvCacheModel();
        long mlaBytes = KvCacheSize.BytesPerToken(mla, KvDtype.Bf16), mhaBytes = KvCacheSize.BytesPerToken(KvCacheSize.Variant(mla, AttentionKind.Mha), KvDtype.Bf16);
        const string NotCounted = "not an accounting number; ";
        return
        [
            new("FP8 replaced 32-bit numbers", NotCounted + $"V3's pre-training hours imply {v3Run.ImpliedFp8:P1} of the H800's FP8 peak, {v3Run.ImpliedBf16:P1} of its BF16 peak (notebooks 01–04 show what FP8 does)",
                "V3 §3.3: FP8 replaces BF16 in GEMMs; master weights and gradients stay FP32, optimizer moments BF16"),
            new("MLA is the load-balancing / expert-routing trick",
                $"MLA shrinks V3's cache to {KvCacheSize.HumanBytes(mlaBytes)} per token (BF16) from {KvCacheSize.HumanBytes(mhaBytes)} for MHA at its dims, {mhaBytes / (double)mlaBytes:F0}×; routing is the gate's, 8 of 256 experts",
                "V2 §2.1: MLA compresses attention's KV cache; routing and balancing belong to DeepSeekMoE and the bias method (V3 §2.1.2)"),
            new("R1 = pure RL on R1-Zero synthetic data", NotCounted + "see notebook 11 (R1-Zero in miniature)",
                "R1 §2.3: R1-Zero is pure RL; R1 = cold-start SFT → RL → ~800k rejection-sampled SFT → RL"),
            new("Distilled from OpenAI / Anthropic models", NotCounted + "see notebook 10 (distillation)",
                "the papers describe distillation from R1 into V3 and into Qwen/Llama students; no third-party teacher is reported (unverified)"),
            new("671B parameters, 37B active", $"{v3.Total / 1e9:F1}B total, {v3.Activated / 1e9:F1}B activated (embedding and head included)",
                "V3 abstract: 671B / 37B; README_WEIGHTS: 36.7B activated incl. 0.9B embedding + 0.9B head"),
            new("$5.6M / $6M training cost", $"{TrainingCost.DeepSeekV3.GpuHours / 1e6:F3}M H800 GPU-hours × $2 = ${TrainingCost.DeepSeekV3.Dollars / 1e6:F3}M",
                "V3 §1: the official training runs only, excluding prior research and ablations; R1's RL cost is not in the arXiv reports"),
            new("2,048 GPUs vs \"50,000 GPUs\"", $"2,664K pre-training GPU-hours on 2,048 GPUs = {days:F0} days",
                "V3 §1: pre-training in less than two months on 2048 H800s (§3.1); the 50K figure is a third-party claim (unverified)"),
            new("\"11× less compute\" than Llama 3.1 405B",
                $"activated parameters {llama.Activated / (double)v3.Activated:F1}×, training FLOPs per token {llamaRun.Flops.Training / v3Run.Flops.Training:F1}×, " +
                $"whole pre-training {llamaRun.TrainingFlops / v3Run.TrainingFlops:F1}×",
                "V3 §4.4.2 only notes that LLaMA-3.1 405B activates 11× more parameters; \"45× more efficient\" and \"95% cheaper\" are unverified"),
            new("The model \"only trains the tokens it activates\"",
                $"every token trains; each activates {routed.Activated / (double)routed.Total:P1} of the routed experts (8 of 256) plus the shared one: {v3.Activated / (double)v3.Total:P1} of the parameters",
                "V3 §2.1.2: 8 of 256 routed experts plus 1 shared per token; no token dropping"),
            new("Runs on consumer hardware",
                $"V3's weights are {m2.StoredWeightBytes / 1e9:F0} GB even at 4 bits against an M2 Ultra's 192 GB: they do not fit; V2-Lite in FP8 does, bound {lite.TokensPerSecond:F0} tokens/s",
                "HW25 §2.2.2: ~20 TPS for V2 on AI-SoC PCs and for V3 via KTransformers on a ~$10K server (company claims)"),
        ];
    }

    public static Experiment<EfficiencyConfig, EfficiencyResult> Experiment { get; } = new(
        Id,
        "Efficiency accounting at full size",
        "Parameters total and activated by part, FLOPs per token, training GPU-hours and the utilisation published hours imply, " +
        "and the decoding bound from memory, from the published configs of DeepSeek-V3, V2, V2-Lite and dense GQA models; reproduces " +
        "V3's 671B / 37B, HW25 Table 2 (155 and 250 GFLOPs per token) and V3 Table 1 ($5.576M).",
        (config, _, _) => Run(config), (config, seeded) => Output(config, seeded.First));

    public static ExperimentDefinition Definition => Experiment.Definition;

    public static ExperimentOutput Output(EfficiencyConfig config) => Output(config, Run(config));

    public static ExperimentOutput Output(EfficiencyConfig config, EfficiencyResult r)
    {
        var summary = new List<string>
        {
            $"parameters and FLOPs per token at seq {r.Sequence}; paper: V3 671B / 37B; V2 236B / 21B; HW25 Table 2: V2 155, V3 250 GFLOPs per token at 4096",
        };
        summary.AddRange(r.Runs.Select(c => $"{c.Run.Name}: {c.Run.GpuHours / 1e6:F3}M GPU-hours" + (c.Run.Dollars is double d ? $" = ${d / 1e6:F3}M" : "") +
            $"; {c.Stage.Tokens / 1e12:F1}T tokens × {c.Flops.Training / 1e9:F1} GFLOPs imply {c.ImpliedBf16:P1} of BF16 peak, {c.ImpliedFp8:P1} of FP8"));
        summary.Add($"decoding bound ({DecodeBound.Statement})");
        summary.Add($"convention: {r.Convention}");

        var sizes = ResultTable.Of("sizes", r.Sizes);
        var budget = ResultTable.Of("budget", r.BudgetParts, display: false);
        var cost = ResultTable.Of("cost", r.Runs.Select(c => new CostRow(c.Run.Name, c.Run.Gpu, c.Run.GpuHours, c.Run.Dollars, c.Stage.Tokens, c.TrainingFlops,
            c.ImpliedBf16, c.ImpliedFp8, c.Run.NotCovered)), display: false);
        var decoding = ResultTable.Of("decoding", r.Decoding, display: false);
        var fits = ResultTable.Of("fits", r.Fits);
        var claims = ResultTable.Of("seed_claims", r.SeedClaims, display: false);
        return new ExperimentOutput(config, [], r, summary, [sizes, budget, cost, decoding, fits, claims],
        [
            new NamedChart("budget", $"Parameter budget of {r.Budget} by part", EfficiencyCharts.Budget(r)),
            new NamedChart("total-vs-activated", "Total and activated parameters", EfficiencyCharts.TotalVsActivated(r)),
            new NamedChart("flops-vs-activated", "Training FLOPs per token against activated parameters", EfficiencyCharts.FlopsVsActivated(r)),
            new NamedChart("decoding-bound", "Decoding bound from memory against context", EfficiencyCharts.DecodingBound(r)),
        ]);
    }
}

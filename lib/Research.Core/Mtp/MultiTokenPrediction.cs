using Research.Distillation;
using Research.Experiments;
using Research.Models;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Research.Mtp;

/// <summary>Multi-token prediction settings (V3 §2.2, §4.2).</summary>
/// <param name="Depth">D, the extra tokens predicted per position (V3: 1). 0 trains the main model alone.</param>
/// <param name="Lambda">λ, the weight of L_MTP = (λ/D) Σ_k L^k early in training (V3: 0.3 for the first 10T of its 14.8T tokens).</param>
/// <param name="FinalLambda">λ over the last <paramref name="FinalFraction"/> of the steps (V3: 0.1 for the last 4.8T tokens).</param>
/// <param name="FinalFraction">Share of the steps, at the end, trained with <paramref name="FinalLambda"/> (V3: 4.8 / 14.8 ≈ 0.324).</param>
public sealed record MtpConfig(int Depth = 1, double Lambda = 0.3, double FinalLambda = 0.1, double FinalFraction = MtpConfig.V3FinalFraction)
{
    /// <summary>V3's share of training tokens at λ = 0.1: the last 4.8T of 14.8T.</summary>
    public const double V3FinalFraction = 4.8 / 14.8;

    public MtpConfig Validated()
    {
        if (Depth < 0 || Depth > 8) throw new ConfigException($"MtpConfig.Depth (D) must be in 0..8 (got {Depth})");
        if (!(Lambda >= 0 && double.IsFinite(Lambda))) throw new ConfigException($"MtpConfig.Lambda (λ) must be a finite number ≥ 0 (got {Lambda})");
        if (!(FinalLambda >= 0 && double.IsFinite(FinalLambda))) throw new ConfigException($"MtpConfig.FinalLambda (λ late in training) must be a finite number ≥ 0 (got {FinalLambda})");
        if (!(FinalFraction >= 0 && FinalFraction <= 1)) throw new ConfigException($"MtpConfig.FinalFraction must be in [0, 1] (got {FinalFraction})");
        return this;
    }

    /// <summary>λ at step <paramref name="step"/> (1-based) of <paramref name="steps"/>: <see cref="Lambda"/>, then
    /// <see cref="FinalLambda"/> for the last round(FinalFraction × steps) steps.</summary>
    public double LambdaAt(int step, int steps)
    {
        if (step < 1 || step > steps) throw new ArgumentOutOfRangeException(nameof(step), step, $"MtpConfig.LambdaAt: step must be in 1..{steps}");
        int final = (int)Math.Round(FinalFraction * steps, MidpointRounding.AwayFromZero);
        return step > steps - final ? FinalLambda : Lambda;
    }
}

/// <summary>The D depths of one model, in order; dropped at inference without touching the main model.</summary>
public sealed class MtpModules : nn.Module
{
    private readonly ModuleList<MtpDepth> depths;

    public MtpModules(TinyLm model, int depth, Device device, Generator generator, TinyLmParts? parts = null) : base(nameof(MtpModules))
    {
        if (depth < 0) throw new ConfigException($"MtpConfig.Depth (D) must be ≥ 0 (got {depth})");
        depths = new ModuleList<MtpDepth>([.. Enumerable.Range(0, depth).Select(k =>
            new MtpDepth(model.Config, model.Config.Layers + k, parts ?? TinyLmParts.Standard, device))]);
        RegisterComponents();
        TinyLm.InitializeWeights(this, model.Config, generator);
    }

    public IReadOnlyList<MtpDepth> Depths => [.. depths];

    public int Depth => depths.Count;

    /// <summary>Throws a <see cref="ConfigException"/> unless these depths were built for <paramref name="model"/>'s width.</summary>
    public MtpModules CheckFits(TinyLm model)
    {
        var misfit = depths.FirstOrDefault(d => d.Dim != model.Config.Dim);
        if (misfit is not null)
            throw new ConfigException($"MTP module width {misfit.Dim} does not match the model's TinyLmConfig.Dim ({model.Config.Dim}); build MtpModules from this model");
        return this;
    }
}

/// <summary>
/// A main model and its MTP depths as one module, so one optimizer trains both and one checkpoint holds both
/// (state-dict keys <c>main.*</c> and <c>mtp.*</c>). Dropping the depths at inference is using <see cref="Main"/> alone.
/// </summary>
public sealed class MtpLanguageModel : nn.Module
{
    private readonly TinyLm main;
    private readonly MtpModules mtp;

    public MtpLanguageModel(TinyLm main, MtpModules modules) : base(nameof(MtpLanguageModel))
    {
        this.main = main;
        mtp = modules.CheckFits(main);
        RegisterComponents();
    }

    /// <summary>A model of <paramref name="config"/> with <paramref name="depth"/> MTP depths; the main model's weights come
    /// from <paramref name="generator"/> first, so they are the same for every D at one seed.</summary>
    public static MtpLanguageModel Create(TinyLmConfig config, int depth, Device device, Generator generator, TinyLmParts? parts = null)
    {
        var model = new TinyLm(config, device, generator, parts);
        return new MtpLanguageModel(model, new MtpModules(model, depth, device, generator, parts));
    }

    public TinyLm Main => main;

    public MtpModules Modules => mtp;

    /// <summary>Parameters of the main model alone (what inference keeps).</summary>
    public long MainParameters => main.ParameterCount;

    /// <summary>Parameters of the depths (their own; the embedding and head they share are the main model's).</summary>
    public long MtpParameters => mtp.parameters().Sum(p => p.numel());

    /// <summary>This model's losses on one batch; see <see cref="MultiTokenPrediction.Losses"/>.</summary>
    public MtpLosses Losses(Tensor sequences, double lambda, Tensor? targetMask = null) =>
        MultiTokenPrediction.Losses(main, mtp, sequences, lambda, targetMask);
}

/// <summary>The main loss and each depth's loss of one batch.</summary>
/// <param name="Main">Next-token cross-entropy of the main model.</param>
/// <param name="Depths">L^k for k = 1..D.</param>
/// <param name="Total">Main + (λ/D) Σ_k L^k; the main loss itself when D = 0.</param>
public sealed record MtpLosses(Tensor Main, IReadOnlyList<Tensor> Depths, Tensor Total);

/// <summary>One cell of V3's Figure 3 for one sequence: at <paramref name="Position"/> i, depth <paramref name="Depth"/>
/// k (0 = the main model) reads token <paramref name="Reads"/> (the main model its input t_i; depth k the embedding of
/// t_{i+k}, beside h^{k−1}_i) and learns to predict <paramref name="Target"/> = t_{i+k+1}.</summary>
public sealed record MtpDataFlowCell(int Depth, int Position, long Reads, long Target);

/// <summary>DeepSeek-V3's sequential multi-token prediction as a training objective.</summary>
public static class MultiTokenPrediction
{
    /// <summary>What each depth 0..<paramref name="depth"/> reads and predicts at each of its positions when
    /// <see cref="Losses"/> trains on <paramref name="sequence"/> (T + 1 tokens): depth k has positions 0..T−k−1,
    /// its targets from <see cref="DepthTargets"/>.</summary>
    public static IReadOnlyList<MtpDataFlowCell> DataFlow(long[] sequence, int depth)
    {
        int t = sequence.Length - 1;
        if (depth < 0 || depth >= t) throw new ArgumentOutOfRangeException(nameof(depth), depth, $"MultiTokenPrediction.DataFlow: depth must be in 0..{t - 1} for {sequence.Length} tokens");
        using var scope = NewDisposeScope();
        var tokens = tensor(sequence, [1, sequence.Length]);
        var cells = new List<MtpDataFlowCell>();
        for (int k = 0; k <= depth; k++)
        {
            var targets = DepthTargets(tokens, k).Targets[0].data<long>().ToArray();
            for (int i = 0; i < t - k; i++) cells.Add(new MtpDataFlowCell(k, i, sequence[i + k], targets[i]));
        }
        return cells;
    }

    /// <summary>
    /// The targets depth k learns, aligned with the main model's positions: position i of sequences[:, 0..T−1]
    /// predicts token i + k + 1 (the main model, k = 0, predicts i + 1). Returns targets [B, T] (PAD past the end)
    /// and a mask [B, T], false where i + k + 1 &gt; T and where <paramref name="targetMask"/> (aligned with the main
    /// targets) is false at the target's own position.
    /// </summary>
    public static (Tensor Targets, Tensor Mask) DepthTargets(Tensor sequences, int k, Tensor? targetMask = null)
    {
        long b = sequences.shape[0], t = sequences.shape[1] - 1;
        if (k < 0 || k >= t) throw new ArgumentOutOfRangeException(nameof(k), k, $"MultiTokenPrediction.DepthTargets: k must be in 0..{t - 1}");
        using var scope = NewDisposeScope();
        long kept = t - k;
        var targets = cat([sequences.narrow(1, k + 1, kept), zeros(b, k, sequences.dtype, sequences.device)], 1);
        var mask = cat([ones(b, kept, ScalarType.Bool, sequences.device), zeros(b, k, ScalarType.Bool, sequences.device)], 1);
        if (targetMask is not null)
            mask = mask.logical_and(cat([targetMask.narrow(1, k, kept), zeros(b, k, ScalarType.Bool, sequences.device)], 1));
        return (targets.MoveToOuterDisposeScope(), mask.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// Losses of one batch of full sequences [B, T + 1]: the main model reads tokens 0..T−1; depth k combines
    /// h^{k−1} at positions 0..T−k−1 with the embeddings of tokens k..T−1 and predicts tokens k+1..T, so each depth
    /// sees one position fewer (the causal chain of V3 Figure 3). <paramref name="targetMask"/> [B, T] (optional)
    /// marks the main targets that count; each depth uses it at its own targets' positions.
    /// </summary>
    public static MtpLosses Losses(TinyLm model, MtpModules? modules, Tensor sequences, double lambda, Tensor? targetMask = null)
    {
        if (!(lambda >= 0)) throw new ConfigException($"MtpConfig.Lambda (λ) must be ≥ 0 (got {lambda})");
        int depth = modules?.CheckFits(model).Depth ?? 0;
        long t = sequences.shape[1] - 1;
        if (depth >= t) throw new ConfigException($"MtpConfig.Depth (D = {depth}) must be below the sequence's {t} positions");
        using var scope = NewDisposeScope();
        var inputs = sequences.narrow(1, 0, t);
        var hidden = model.HiddenStates(inputs);                                            // h⁰ [B, T, d]
        var (mainTargets, mainMask) = DepthTargets(sequences, 0, targetMask);
        var main = Distillation.Losses.CrossEntropy(model.Logits(hidden), mainTargets, mainMask);
        var depthLosses = new List<Tensor>();
        for (int k = 1; k <= depth; k++)
        {
            long kept = t - k;
            var previous = hidden.narrow(1, 0, kept);                                      // h^{k−1} at 0..T−k−1
            var next = model.Embed(sequences.narrow(1, k, kept));                          // Emb(t_{i+k})
            hidden = modules!.Depths[k - 1].forward(previous, next);                        // h^k [B, T−k, d]
            var (targets, mask) = DepthTargets(sequences, k, targetMask);
            var logits = modules.Depths[k - 1].Logits(model, hidden);
            depthLosses.Add(Distillation.Losses.CrossEntropy(logits, targets.narrow(1, 0, kept), mask.narrow(1, 0, kept)));
        }
        var total = depth == 0 ? main : (main + lambda / depth * stack(depthLosses).sum()).MoveToOuterDisposeScope();
        main.MoveToOuterDisposeScope();   // when D = 0 the total is this same tensor
        return new MtpLosses(main, [.. depthLosses.Select(l => l.MoveToOuterDisposeScope())], total);
    }
}

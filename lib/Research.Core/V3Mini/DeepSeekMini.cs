using Research.Accounting;
using Research.Experiments;
using Research.Fp8;
using Research.Mla;
using Research.Models;
using Research.Moe;
using Research.Mtp;
using TorchSharp;
using static TorchSharp.torch;

namespace Research.V3Mini;

/// <summary>
/// A DeepSeek-V3-shaped model at toy size: the architecture from a <see cref="ModelConfig"/> (the record the
/// accounting reads, published config.json names), plus what a checkpoint's config does not say about training.
/// </summary>
/// <param name="Model">The architecture: MLA when kv_lora_rank is set, DeepSeekMoE after first_k_dense_replace
/// layers when n_routed_experts is set, num_nextn_predict_layers MTP depths, and the gate (scoring_func,
/// norm_topk_prob, routed_scaling_factor, n_group, topk_group). topk_method "noaux_tc" keeps V3's balancing bias.</param>
/// <param name="Fp8">Every linear layer of the blocks (attention, dense FFN, experts; the MTP depths' blocks too) on
/// FP8 operands with fine-grained scaling; false: FP32 GEMMs. Embedding, head, gate, norms and the attention
/// products stay in higher precision, as in V3 §3.3.1.</param>
/// <param name="Fp8Tile">T of the 1×T activation and gradient tiles and the T×T weight blocks. V3 uses 128; null
/// scales it down to the largest power of two ≤ 128 dividing the inner width of every GEMM, so no tile straddles two
/// weight blocks' worth of K.</param>
/// <param name="Balancing">The MoE layers' balancing. V3's: bias updates γ = 0.001 (needs topk_method "noaux_tc")
/// plus the sequence-wise loss α = 0.0001.</param>
public sealed record DeepSeekMiniConfig(ModelConfig Model, bool Fp8 = true, int? Fp8Tile = null, BalancingConfig? Balancing = null)
{
    /// <summary>V3's tile and block edge.</summary>
    public const int V3Tile = 128;

    /// <summary>V3's shape at toy size on the four-domain corpus: d = 64, 4 layers (the first dense), MLA with
    /// d_c = 32, d'_c = 32, 4 heads of 16 + 8 RoPE channels; 1 shared + 8 routed experts of width 32, top-2 in 2 of 4
    /// groups, sigmoid gate normalised and scaled by 2.5, the bias kept (noaux_tc); one MTP depth.</summary>
    public static ModelConfig TinyV3 { get; } = new(
        Name: "deepseek-mini", HiddenSize: 64, NumHiddenLayers: 4, IntermediateSize: 96, VocabSize: Data.MultiDomainCorpus.VocabularySize,
        NumAttentionHeads: 4, NumKeyValueHeads: 4, QLoraRank: 32, KvLoraRank: 32, QkNopeHeadDim: 16, QkRopeHeadDim: 8, VHeadDim: 16,
        NRoutedExperts: 8, NSharedExperts: 1, NumExpertsPerTok: 2, MoeIntermediateSize: 32, FirstKDenseReplace: 1,
        TopkMethod: ModelConfig.AuxLossFreeTopk, ScoringFunc: "sigmoid", NormTopkProb: true, RoutedScalingFactor: 2.5, NGroup: 4, TopkGroup: 2,
        NumNextnPredictLayers: 1, MaxPositionEmbeddings: 64, Source: "the kit's miniature of DeepSeek-V3 (config_671B.json's fields at toy size)");

    /// <summary>The balancing in use: <see cref="Balancing"/>, or V3's when the gate keeps a bias and none when it does not.</summary>
    public BalancingConfig Balance => Balancing ?? (Model.HasGateBias ? BalancingConfig.DeepSeekV3 : BalancingConfig.None);

    /// <summary>Every GEMM of one block: its name and inner width K (the dimension tiles and blocks cut).</summary>
    public IReadOnlyList<(string Gemm, int K)> GemmInnerWidths()
    {
        var c = Model;
        var list = new List<(string, int)>();
        if (c.IsMla)
        {
            list.Add((c.QLoraRank is null ? "q_proj (hidden_size)" : "q_a_proj (hidden_size)", c.HiddenSize));
            if (c.QLoraRank is int q) list.Add(("q_b_proj (q_lora_rank)", q));
            list.Add(("kv_a_proj (hidden_size)", c.HiddenSize));
            list.Add(("kv_b_proj (kv_lora_rank)", c.KvLoraRank!.Value));
            list.Add(("o_proj (num_attention_heads × v_head_dim)", c.NumAttentionHeads * c.VHeadDim));
        }
        else
        {
            list.Add(("q/k/v_proj (hidden_size)", c.HiddenSize));
            list.Add(("o_proj (num_attention_heads × head_dim)", c.NumAttentionHeads * c.DenseHeadDim));
        }
        if (c.DenseLayers > 0)
        {
            list.Add(("dense gate/up_proj (hidden_size)", c.HiddenSize));
            list.Add(("dense down_proj (intermediate_size)", c.IntermediateSize));
        }
        if (c.IsMoe)
        {
            list.Add(("expert gate/up_proj (hidden_size)", c.HiddenSize));
            list.Add(("expert down_proj (moe_intermediate_size)", c.MoeIntermediateSize));
            if (c.NSharedExperts > 0) list.Add(("shared down_proj (n_shared_experts × moe_intermediate_size)", c.NSharedExperts * c.MoeIntermediateSize));
        }
        return list;
    }

    /// <summary>T: <see cref="Fp8Tile"/>, or V3's 128 scaled down until it divides every inner width.</summary>
    public int Tile
    {
        get
        {
            if (Fp8Tile is int t) return t;
            var widths = GemmInnerWidths();
            int tile = V3Tile;
            while (tile > 1 && widths.Any(w => w.K % tile != 0)) tile /= 2;
            return tile;
        }
    }

    /// <summary>The blocks' GEMM precision: V3's recipe (E4M3 throughout) with 1×T tiles and T×T blocks; null with FP32 GEMMs.</summary>
    public Fp8TrainingRecipe? Recipe => Fp8
        ? Fp8TrainingRecipe.DeepSeekV3 with
        {
            Activations = new ScalingConfig(Granularity.Tile, TileSize: Tile),
            Weights = new ScalingConfig(Granularity.Block, BlockSize: Tile),
            Gradients = new ScalingConfig(Granularity.Tile, TileSize: Tile),
        }
        : null;

    /// <summary>This config, or a <see cref="ConfigException"/> naming the first field that does not fit the others.</summary>
    public DeepSeekMiniConfig Validated()
    {
        if (Model is null) throw new ConfigException("DeepSeekMiniConfig.model must be a model config (ModelConfig fields)");
        var c = Model.Validated();
        string where = $"DeepSeekMiniConfig '{c.Name}'";
        if (c.IsMla && c.KvLoraRank > c.HiddenSize)
            throw new ConfigException($"{where}: kv_lora_rank (d_c) must be in 1..hidden_size ({c.HiddenSize}), a compression of the width (got {c.KvLoraRank})");
        if (c.IsMla && c.QLoraRank > c.HiddenSize)
            throw new ConfigException($"{where}: q_lora_rank (d'_c) must be in 1..hidden_size ({c.HiddenSize}) (got {c.QLoraRank})");
        Balance.Validated();
        if (Balance.BiasUpdateSpeed > 0 && !c.HasGateBias)
            throw new ConfigException($"{where}: balancing.biasUpdateSpeed > 0 needs topk_method '{ModelConfig.AuxLossFreeTopk}', the gate that keeps a bias (got topk_method '{c.TopkMethod ?? "null"}')");
        if (Balance != BalancingConfig.None && !c.IsMoe)
            throw new ConfigException($"{where}: balancing applies to MoE models only (n_routed_experts is null); leave it null");
        if (c.TieWordEmbeddings || c.QkvBias || c.HeadDim is not null && c.HeadDim != c.HiddenSize / c.NumAttentionHeads)
            throw new ConfigException($"{where}: the kit's blocks have no tied head (tie_word_embeddings), no qkv_bias and head_dim = hidden_size / num_attention_heads");
        long total = ParameterCounting.Count(c).Stored;
        if (total > KitModel.MaxParameters)
            throw new ConfigException($"{where}: {total:N0} parameters is beyond what the kit builds ({KitModel.MaxParameters:N0})");
        if (Fp8Tile is int tile)
        {
            var widths = GemmInnerWidths();
            var misfit = widths.FirstOrDefault(w => tile < 1 || w.K % tile != 0);
            if (misfit.Gemm is not null)
            {
                int gcd = widths.Select(w => w.K).Aggregate(Gcd);
                throw new ConfigException($"{where}: fp8Tile must divide the inner width of every GEMM ({misfit.Gemm} = {misfit.K}); " +
                    $"allowed {string.Join(", ", Enumerable.Range(1, gcd).Where(d => gcd % d == 0))} (got {tile})");
            }
        }
        return this;

        static int Gcd(int a, int b) => b == 0 ? a : Gcd(b, a % b);
    }
}

/// <summary>
/// DeepSeek-V3 in miniature (one <see cref="TinyLm"/> with its <see cref="MtpModules"/>): MLA with decoupled RoPE,
/// dense then DeepSeekMoE layers with the auxiliary-loss-free bias and the sequence-wise loss, MTP depths, every block
/// GEMM in simulated FP8. Training adds the MTP loss and the balancing losses (<see cref="Losses"/>) and moves the
/// biases after each step (<see cref="UpdateBiases"/>); inference drops the depths and decodes with the MLA cache.
/// </summary>
public sealed class DeepSeekMini : IDisposable
{
    public DeepSeekMini(DeepSeekMiniConfig config, Device device, Generator generator)
    {
        Config = config.Validated();
        var c = config.Model;
        var parts = KitModel.Parts(c, config.Recipe, c.IsMoe ? config.Balance : null);
        var main = new TinyLm(KitModel.LmConfig(c), device, generator, parts);
        Model = new MtpLanguageModel(main, new MtpModules(main, c.NumNextnPredictLayers, device, generator, parts));
        MoeLayers = [.. Model.modules().OfType<MoeLayer>()];
    }

    public DeepSeekMiniConfig Config { get; }

    /// <summary>The main model and its MTP depths (checkpoint keys <c>main.*</c>, <c>mtp.*</c>; the biases are buffers in it).</summary>
    public MtpLanguageModel Model { get; }

    public TinyLm Main => Model.Main;

    /// <summary>Every MoE layer, the main model's first, then the MTP depths'.</summary>
    public IReadOnlyList<MoeLayer> MoeLayers { get; }

    /// <summary>The main model's MoE layers (what inference routes through; MaxVio is reported over these).</summary>
    public IReadOnlyList<MoeLayer> MainMoeLayers => [.. Main.Blocks.Select(b => b.FeedForward).OfType<MoeLayer>()];

    /// <summary>Trainable parameters: the main model's and the depths' own (the balancing biases are buffers).</summary>
    public long Parameters => Model.parameters().Sum(p => p.numel());

    /// <summary>Balancing-bias elements (buffers): what the accounting's GateBias part counts.</summary>
    public long GateBiasElements => Config.Model.HasGateBias ? MoeLayers.Sum(m => m.Router.Bias.numel()) : 0;

    /// <summary>KV-cache elements per token of the main model, from a real cache (MLA: (d_c + d_h^R) per layer).</summary>
    public long KvCacheElementsPerToken
    {
        get
        {
            using var cache = Main.NewCache(1, 1);
            return cache.ElementsPerToken;
        }
    }

    /// <summary>The model's structure read from its modules, one line per run of equal blocks, then the MTP depths and
    /// the GEMM precision: what notebook 14 draws.</summary>
    public IReadOnlyList<string> Structure()
    {
        string Attention(TransformerBlock b) => b.Attention switch
        {
            MultiHeadLatentAttention m => $"MLA (n_h {m.Config.Heads}, d_c {m.Config.KvLatentDim}, d'_c {m.Config.QueryLatentDim}, RoPE key {m.Config.RopeHeadDim}; caches {m.CacheElementsPerToken} per token)",
            CausalSelfAttention a => $"{(a.KvHeads == a.Heads ? "MHA" : $"GQA ({a.KvHeads} key/value heads)")} (n_h {a.Heads}; caches {a.CacheElementsPerToken} per token)",
            var other => other.GetType().Name,
        };
        string FeedForward(TransformerBlock b) => b.FeedForward switch
        {
            MoeLayer m => $"DeepSeekMoE ({m.Config.SharedExperts} shared + {m.Config.Router.Experts} routed experts of {m.Config.ExpertHidden}, top-{m.Config.Router.TopK}" +
                (m.Config.Router.Groups > 1 ? $" from {m.Config.Router.TopGroups} of {m.Config.Router.Groups} groups" : "") +
                $", {m.Config.Router.Affinity.ToString().ToLowerInvariant()} gate ×{m.Config.Router.RoutedScaling}; {Balancing(m.Config.Balance)})",
            var f => $"dense SwiGLU (width {f.parameters().First().shape[0]})",
        };
        static string Balancing(BalancingConfig b) => string.Join(" + ", new[]
        {
            b.BiasUpdateSpeed > 0 ? $"bias γ {b.BiasUpdateSpeed}" : null,
            b.SequenceAuxLossAlpha > 0 ? $"sequence-wise loss α {b.SequenceAuxLossAlpha}" : null,
            b.AuxLossAlpha > 0 ? $"auxiliary loss α {b.AuxLossAlpha}" : null,
        }.Where(x => x is not null).DefaultIfEmpty("no balancing"));
        var lines = new List<string> { $"embedding {Config.Model.VocabSize} × {Config.Model.HiddenSize} (shared with the MTP depths)" };
        var blocks = Main.Blocks.Select(b => $"{Attention(b)} → {FeedForward(b)}").ToList();
        for (int i = 0; i < blocks.Count;)
        {
            int j = i;
            while (j + 1 < blocks.Count && blocks[j + 1] == blocks[i]) j++;
            lines.Add($"{(i == j ? $"layer {i + 1}" : $"layers {i + 1}–{j + 1}")}: {blocks[i]}");
            i = j + 1;
        }
        lines.Add($"final RMSNorm, output head {Config.Model.HiddenSize} → {Config.Model.VocabSize}");
        foreach (var (depth, k) in Model.Modules.Depths.Select((d, k) => (d, k + 1)))
            lines.Add($"MTP depth {k}: M_{k} [{depth.Dim}, {2 * depth.Dim}] over [RMSNorm(h); RMSNorm(Emb(t+{k}))] → {Attention(depth.Block)} → {FeedForward(depth.Block)} → shared head");
        lines.Add(Config.Recipe is { } r
            ? $"every block GEMM in FP8 {r.Forward}: 1×{r.Activations.TileSize} activation and gradient tiles, {r.Weights.BlockSize}×{r.Weights.BlockSize} weight blocks (V3: 128); gate, norms, attention products, embedding and head in FP32"
            : "every GEMM in FP32");
        return lines;
    }

    /// <summary>Main + MTP losses (see <see cref="MtpLanguageModel.Losses"/>), plus every MoE layer's balancing loss
    /// of this pass in <see cref="MiniLosses.Total"/>.</summary>
    public MiniLosses Losses(Tensor sequences, double lambda, Tensor? targetMask = null)
    {
        var mtp = Model.Losses(sequences, lambda, targetMask);
        var total = mtp.Total;
        Tensor? balance = null;
        foreach (var layer in MoeLayers)
            if (layer.LastBalanceLoss is Tensor b) balance = balance is null ? b.alias() : balance + b;
        if (balance is not null) total = total + balance;
        return new MiniLosses(mtp, balance, total);
    }

    /// <summary>The auxiliary-loss-free step for every MoE layer, from the loads of the last training pass.</summary>
    public void UpdateBiases()
    {
        foreach (var layer in MoeLayers) layer.UpdateBias();
    }

    public void Dispose() => Model.Dispose();
}

/// <summary>One batch's losses: <paramref name="Mtp"/> (main, each depth, main + λ·MTP), the balancing losses summed
/// over the MoE layers (null when none is configured or in evaluation) and what training minimises.</summary>
public sealed record MiniLosses(MtpLosses Mtp, Tensor? Balance, Tensor Total);

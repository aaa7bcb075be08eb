using System.Diagnostics;
using Research.Experiments;
using Research.Models;
using Research.Moe;
using Research.Platform;
using static TorchSharp.torch;
using MathNet.Numerics.Statistics;

namespace Research.Benchmarks;

/// <summary>
/// Forward + backward of one MoE layer against a dense SwiGLU with the same active parameters.
/// Defaults: 4096 tokens of width 256, 64 routed experts of width 128, 6 per token, 1 shared (DeepSeek-V2-Lite's
/// expert counts at toy width).
/// </summary>
/// <param name="NaiveTokens">Tokens for the token-by-token reference, which is orders of magnitude slower; its time is
/// compared per token with the sorted dispatch's.</param>
public sealed record MoeBenchmarkConfig(int Tokens = 4096, int Dim = 256, int Experts = 64, int ExpertHidden = 128, int TopK = 6,
    int SharedExperts = 1, int Repetitions = 7, int Warmup = 2, int NaiveTokens = 128, int Seed = 0)
{
    public MoeBenchmarkConfig Validated()
    {
        if (Tokens is < 1 or > 1_048_576) throw new ConfigException($"MoeBenchmarkConfig.Tokens must be in 1..1048576 (got {Tokens})");
        if (Repetitions is < 1 or > 1000) throw new ConfigException($"MoeBenchmarkConfig.Repetitions must be in 1..1000 (got {Repetitions})");
        if (Warmup is < 0 or > 100) throw new ConfigException($"MoeBenchmarkConfig.Warmup must be in 0..100 (got {Warmup})");
        if (NaiveTokens < 1 || NaiveTokens > Tokens) throw new ConfigException($"MoeBenchmarkConfig.NaiveTokens must be in 1..Tokens ({Tokens}) (got {NaiveTokens})");
        Layer.Buildable();
        return this;
    }

    public ModelConfig Layer => new(Name: "bench-moe", HiddenSize: Dim, NRoutedExperts: Experts, NumExpertsPerTok: TopK, MoeIntermediateSize: ExpertHidden, NSharedExperts: SharedExperts);
}

/// <param name="Ratio">MoE forward+backward time over the dense SwiGLU's (goal ≤ 1.25).</param>
/// <param name="NaiveRatio">Token-by-token reference time over the sorted dispatch's, both on the same
/// <see cref="MoeBenchmarkConfig.NaiveTokens"/> tokens (the reference is too slow for the full batch).</param>
/// <param name="MaxAbsDifference">max |sorted − naive| over the outputs of the first <see cref="MoeBenchmarkConfig.NaiveTokens"/> tokens.</param>
/// <param name="ActiveFlopsPerToken">Multiply-adds ×2 of the expert matmuls a token passes through: equal for both layers by construction.</param>
/// <param name="PaddedFlopsOverhead">Extra expert FLOPs a dispatch padded to a common capacity would compute on this batch:
/// N_r · max load / Σ loads − 1 (one <c>bmm</c> over [N_r, C, d] with C the largest load). The kit's grouped GEMMs run on
/// each expert's own rows and compute none of it.</param>
public sealed record MoeBenchmarkResult(int Tokens, int Dim, int Experts, int ExpertHidden, int TopK, int SharedExperts, int DenseHidden,
    double MoeMilliseconds, double DenseMilliseconds, double NaiveMillisecondsPerToken, double MoeMillisecondsPerToken,
    double Ratio, double NaiveRatio, bool GoalMet, double MaxAbsDifference, bool Agrees, long ActiveFlopsPerToken,
    double PaddedFlopsOverhead, int Repetitions, int TorchThreads, string Device)
{
    public const double Goal = 1.25;
    public const double Tolerance = 1e-4;
}

public static class MoeBenchmark
{
    public static MoeBenchmarkResult Run(MoeBenchmarkConfig config, Device device, IProgress<ExperimentProgress>? progress = null)
    {
        config.Validated();
        TorchRuntime.EnsureLoaded();
        using var moe = new MoeLayer(config.Layer, device, new Generator((ulong)config.Seed, device));
        int denseHidden = moe.ActiveHidden;
        using var dense = new SwiGlu(config.Dim, denseHidden, device);
        using var x = randn([config.Tokens, config.Dim], generator: new Generator((ulong)config.Seed + 1)).to(device);

        double Time(Func<Tensor, Tensor> f, Tensor input)
        {
            using var scope = NewDisposeScope();
            var xi = input.detach().requires_grad_(true);
            long start = Stopwatch.GetTimestamp();
            var y = f(xi);
            y.square().mean().backward();
            _ = xi.grad!.sum().item<float>();   // wait for the device before stopping the clock
            return Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }

        for (int i = 0; i < config.Warmup; i++) { Time(moe.forward, x); Time(dense.forward, x); }
        var moeTimes = new List<double>();
        var denseTimes = new List<double>();
        for (int i = 0; i < config.Repetitions; i++)   // interleaved, so load changes hit both alike
        {
            moeTimes.Add(Time(moe.forward, x));
            denseTimes.Add(Time(dense.forward, x));
            progress?.Report(new ExperimentProgress("timing", i + 1, config.Repetitions + 1));
        }

        var loads = moe.LastStats!.Loads;   // of the full batch: the last pass timed
        double padded = loads.Length * (double)loads.Max() / loads.Sum() - 1;

        using var head = x[..config.NaiveTokens].contiguous();
        double naive = Time(moe.ForwardNaive, head);
        double moeHead = Enumerable.Range(0, 3).Select(_ => Time(moe.forward, head)).Median();
        double difference;
        using (no_grad())
        using (var scope = NewDisposeScope())
            difference = (moe.forward(head) - moe.ForwardNaive(head)).abs().max().item<float>();
        progress?.Report(new ExperimentProgress("done", config.Repetitions + 1, config.Repetitions + 1));

        double moeMs = moeTimes.Median(), denseMs = denseTimes.Median();
        // One SwiGLU of width h on a d-vector: 3 matmuls of d·h multiply-adds, 2 flops each.
        long flops = 2L * 3 * config.Dim * denseHidden;
        return new MoeBenchmarkResult(config.Tokens, config.Dim, config.Experts, config.ExpertHidden, config.TopK, config.SharedExperts, denseHidden,
            moeMs, denseMs, naive / config.NaiveTokens, moeMs / config.Tokens, moeMs / denseMs, naive / moeHead,
            moeMs / denseMs <= MoeBenchmarkResult.Goal, difference, difference <= MoeBenchmarkResult.Tolerance, flops,
            padded, config.Repetitions, get_num_threads(), device.ToString());
    }
}

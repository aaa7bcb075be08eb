using System.Diagnostics;
using Research.Models;
using static TorchSharp.torch;

namespace Research.Mtp;

/// <summary>
/// What one step of each decoder costs, batch 1, so the speed-up of self-speculative decoding can be predicted from
/// its parts: plain decoding pays <see cref="MainMs"/> per token; a speculative step pays <see cref="VerifyMs"/> (the
/// main model over the current token and its drafts) plus <see cref="DraftMs"/> (the depths) for
/// <c>tokensPerForward</c> tokens.
/// </summary>
/// <param name="MainMs">One main-model forward of one token over the KV cache, logits and the greedy choice read.</param>
/// <param name="VerifyMs">The same over <paramref name="DraftDepth"/> + 1 tokens.</param>
/// <param name="DraftMs">Depths 1..<paramref name="DraftDepth"/> each over two new positions (what follows an accepted
/// draft), logits and draft read.</param>
public sealed record DecodeCost(int DraftDepth, double MainMs, double VerifyMs, double DraftMs)
{
    /// <summary>Speculative over plain tokens per second if a step costed only its forwards.</summary>
    public double PredictedSpeedup(double tokensPerForward) => tokensPerForward * MainMs / (VerifyMs + DraftMs);

    /// <summary>Times each part <paramref name="repetitions"/> times (medians) on a cache filled by
    /// <paramref name="prompt"/> [1, S], on <see cref="MtpExperiment.DecodeThreads"/> intra-op threads as the decoders run.</summary>
    public static DecodeCost Measure(LanguageModel model, Tensor prompt, int draftDepth = 1, int repetitions = 50)
    {
        if (draftDepth < 1 || draftDepth > model.Depths.Count)
            throw new ArgumentOutOfRangeException(nameof(draftDepth), draftDepth, $"DecodeCost: the draft depth must be in 1..{model.Depths.Count} (the model's trained MTP depth D), got {draftDepth}");
        if (repetitions < 1) throw new ArgumentOutOfRangeException(nameof(repetitions), repetitions, "DecodeCost: repetitions must be ≥ 1");
        var depths = model.Depths.Take(draftDepth).ToArray();
        int s = (int)prompt.shape[1];
        if (prompt.dim() != 2 || prompt.shape[0] != 1 || s < draftDepth + 2)
            throw new ArgumentException($"DecodeCost: prompt must be [1, S] with S ≥ draft depth + 2 = {draftDepth + 2}, got [{string.Join(", ", prompt.shape)}]", nameof(prompt));
        int threads = get_num_threads();
        set_num_threads(MtpExperiment.DecodeThreads);
        using var noGrad = no_grad();
        using var cache = model.NewCache(1, s + draftDepth + 1);
        var depthCaches = depths.Select(d => d.NewCache(1, s + 2)).ToArray();
        try
        {
            using var scope = NewDisposeScope();
            var hidden = model.DecodeHidden(prompt, cache);
            // Each depth's cache holds the prompt's positions, as it would mid-decoding (the values do not matter here).
            for (int j = 0; j < depths.Length; j++) depths[j].Decode(hidden, model.Embed(prompt), depthCaches[j]);
            var one = prompt.narrow(1, s - 1, 1);
            var verify = prompt.narrow(1, s - draftDepth - 1, draftDepth + 1);
            var pair = prompt.narrow(1, s - 2, 2);
            var pairHidden = hidden.narrow(1, s - 2, 2);
            // The three parts alternate within each repetition, so a slow stretch of the machine touches all of them.
            var times = Interleaved(repetitions,
                () =>
                {
                    model.Logits(model.DecodeHidden(one, cache)).argmax(-1).cpu().data<long>().ToArray();
                    cache.Truncate(s);
                },
                () =>
                {
                    model.Logits(model.DecodeHidden(verify, cache)).argmax(-1).cpu().data<long>().ToArray();
                    cache.Truncate(s);
                },
                () =>
                {
                    var h = pairHidden;
                    for (int j = 0; j < depths.Length; j++)
                    {
                        h = depths[j].Decode(h, model.Embed(pair), depthCaches[j]);
                        depths[j].Logits(model, h.narrow(1, 1, 1)).argmax(-1).cpu().data<long>().ToArray();
                        depthCaches[j].Truncate(s);
                    }
                });
            return new DecodeCost(draftDepth, times[0], times[1], times[2]);
        }
        finally
        {
            foreach (var c in depthCaches) c.Dispose();
            set_num_threads(threads);
        }
    }

    // Median milliseconds of each step over the repetitions, after three warm-up rounds.
    private static double[] Interleaved(int repetitions, params Action[] steps)
    {
        var ms = steps.Select(_ => new double[repetitions]).ToArray();
        for (int i = -3; i < repetitions; i++)
            for (int k = 0; k < steps.Length; k++)
            {
                using var scope = NewDisposeScope();
                long start = Stopwatch.GetTimestamp();
                steps[k]();
                if (i >= 0) ms[k][i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            }
        return [.. ms.Select(m => MathNet.Numerics.Statistics.Statistics.Median(m))];
    }
}

using Research.Models;
using static TorchSharp.torch;

namespace Research.Mtp;

/// <summary>What one self-speculative decoding produced.</summary>
/// <param name="Tokens">The new tokens, as plain cached greedy decoding would give them.</param>
/// <param name="Drafts">Drafts proposed by the MTP depth.</param>
/// <param name="Accepted">Drafts the main model confirmed.</param>
/// <param name="MainForwards">Forward passes of the main model (the prefill counts as one).</param>
/// <param name="Trace">Every verification step's draft and the main model's token there.</param>
public sealed record SpeculativeResult(long[] Tokens, int Drafts, int Accepted, int MainForwards, IReadOnlyList<DraftCheck> Trace)
{
    /// <summary>Accepted over proposed drafts (V3 §5.4.3 reports 85–90 % for its second token).</summary>
    public double AcceptanceRate => Drafts == 0 ? 0 : (double)Accepted / Drafts;

    /// <summary>Tokens per verification forward: the prefill gives the first token, each later forward one or two
    /// (1 + acceptance rate, up to the last step).</summary>
    public double TokensPerForward => MainForwards <= 1 ? 0 : (double)(Tokens.Length - 1) / (MainForwards - 1);
}

/// <summary>One check of a draft: at <paramref name="Index"/> of the new tokens depth <paramref name="Depth"/> drafted
/// <paramref name="Draft"/> and the main model chose <paramref name="Verified"/>. Drafts after a rejected one are
/// discarded unchecked, so they have no entry.</summary>
public sealed record DraftCheck(int Index, long Draft, long Verified, int Depth = 1)
{
    public bool Accepted => Draft == Verified;
}

/// <summary>
/// Lossless self-speculative greedy decoding with DeepSeek-V3's MTP modules as the draft (V3 §5.4.3): the depths
/// propose the next tokens after the one just decided, chained as in training (depth j reads depth j − 1's hidden
/// state and the embedding of depth j − 1's draft); the main model verifies the current token and every draft in one
/// forward over its KV cache, keeps the drafts up to the first one it disagrees with, and its cache is rolled back
/// past that. The main model alone decides every token, so the output is plain greedy decoding's. V3 drafts with its
/// one depth; deeper drafts are for models trained with D ≥ 2.
/// </summary>
public static class SpeculativeDecoding
{
    /// <summary>Greedy decoding of one prompt [1, S] for <paramref name="newTokens"/> tokens with drafts from depths
    /// 1..<paramref name="draftDepth"/>. <paramref name="forceDraft"/> (index of the new token drafted, depth, the depth's
    /// draft) → token replaces each draft (tests: a draft that is always wrong, or the true token).</summary>
    public static SpeculativeResult Greedy(LanguageModel model, Tensor prompt, int newTokens, int draftDepth = 1,
        Func<int, int, long, long>? forceDraft = null)
    {
        if (model.Depths.Count < 1) throw new ArgumentException($"SpeculativeDecoding: the draft needs depth 1, but the model was trained with D = {model.Depths.Count}", nameof(model));
        if (draftDepth < 1 || draftDepth > model.Depths.Count)
            throw new ArgumentOutOfRangeException(nameof(draftDepth), draftDepth, $"SpeculativeDecoding: the draft depth must be in 1..{model.Depths.Count} (the model's trained MTP depth D), got {draftDepth}");
        if (prompt.dim() != 2 || prompt.shape[0] != 1) throw new ArgumentException($"SpeculativeDecoding.Greedy: prompt must be [1, S], got [{string.Join(", ", prompt.shape)}]", nameof(prompt));
        if (newTokens < 1) throw new ArgumentOutOfRangeException(nameof(newTokens), newTokens, "SpeculativeDecoding.Greedy: newTokens must be ≥ 1");
        var depths = model.Depths.Take(draftDepth).ToArray();
        int s = (int)prompt.shape[1], capacity = s + newTokens;   // the last verification reaches position s + newTokens − 2
        using var noGrad = no_grad();
        using var cache = model.NewCache(1, capacity);
        var depthCaches = depths.Select(d => d.NewCache(1, capacity)).ToArray();
        try
        {
            using var scope = NewDisposeScope();
            var device = prompt.device;
            // hidden[0] holds the main model's h⁰ at every position, hidden[j] depth j's h^j, so a depth that recomputes
            // positions finds its inputs there.
            var hidden = Enumerable.Range(0, draftDepth + 1).Select(_ => zeros([1, capacity, model.Config.HiddenSize], device: device)).ToArray();
            var all = new List<long>(prompt.cpu().data<long>().ToArray());                // prompt and decided tokens, by position
            var h0 = model.DecodeHidden(prompt, cache);
            hidden[0].narrow(1, 0, s).copy_(h0);
            all.Add(Argmax(model.Logits(h0.narrow(1, s - 1, 1)))[0]);
            int forwards = 1, accepted = 0;
            var trace = new List<DraftCheck>();
            while (all.Count - s < newTokens)
            {
                using var step = NewDisposeScope();
                int frontier = cache.Length;                                    // position of the current token, all[^1]
                int count = Math.Min(draftDepth, newTokens - (all.Count - s) - 1);   // drafts worth making
                var drafts = new List<long>(count);
                long DraftedOrDecided(int position) => position < all.Count ? all[position] : drafts[position - all.Count];
                for (int j = 1; j <= count; j++)
                {
                    // Depth j at position i pairs h^{j−1}_i with Emb(t_{i+j}); it resumes after its last position whose
                    // inputs were all decided tokens and runs to the frontier, whose output drafts t_{frontier+j}.
                    var depthCache = depthCaches[j - 1];
                    int from = depthCache.Length, length = frontier - from;
                    var ids = Enumerable.Range(from + j, length).Select(DraftedOrDecided).ToArray();
                    var h = depths[j - 1].Decode(hidden[j - 1].narrow(1, from, length), model.Embed(Ids(ids, device)), depthCache);
                    hidden[j].narrow(1, from, length).copy_(h);
                    long draft = Argmax(depths[j - 1].Logits(model, h.narrow(1, length - 1, 1)))[0];
                    drafts.Add(forceDraft is null ? draft : forceDraft(all.Count - s - 1 + j, j, draft));
                }
                var verifiedHidden = model.DecodeHidden(Ids([all[^1], .. drafts], device), cache);   // positions frontier..frontier+count
                forwards++;
                hidden[0].narrow(1, frontier, count + 1).copy_(verifiedHidden);
                var verified = Argmax(model.Logits(verifiedHidden));              // the main model's t_{frontier+1..frontier+count+1}
                int kept = 0;
                while (kept < count && drafts[kept] == verified[kept]) kept++;
                for (int i = 0; i < Math.Min(kept + 1, count); i++)
                    trace.Add(new DraftCheck(all.Count - s + i, drafts[i], verified[i], i + 1));
                accepted += kept;
                all.AddRange(drafts.Take(kept));
                all.Add(verified[kept]);
                cache.Truncate(frontier + kept + 1);                              // forget the rejected drafts
                // Depth j's position i read t_{i+j}: still right up to the last kept draft, so i ≤ frontier + kept − j.
                for (int j = 1; j <= draftDepth; j++)
                    depthCaches[j - 1].Truncate(Math.Min(depthCaches[j - 1].Length, Math.Max(0, frontier + kept - j + 1)));
            }
            return new SpeculativeResult([.. all.Skip(s).Take(newTokens)], trace.Count, accepted, forwards, trace);
        }
        finally
        {
            foreach (var c in depthCaches) c.Dispose();
        }
    }

    private static Tensor Ids(long[] ids, Device device) => tensor(ids, [1, ids.Length], device: device);

    // Greedy choices at every position of [1, n, V] logits, read to the host in one transfer.
    private static long[] Argmax(Tensor logits) => logits[0].argmax(-1).cpu().data<long>().ToArray();
}

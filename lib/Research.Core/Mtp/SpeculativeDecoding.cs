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

/// <summary>One verification step: at <paramref name="Index"/> of the new tokens the depth drafted <paramref name="Draft"/>
/// and the main model chose <paramref name="Verified"/>.</summary>
public sealed record DraftCheck(int Index, long Draft, long Verified)
{
    public bool Accepted => Draft == Verified;
}

/// <summary>
/// Lossless self-speculative greedy decoding with DeepSeek-V3's depth-1 MTP module as the draft (V3 §5.4.3): the
/// depth proposes the token after next, the main model verifies the next token and the draft in one forward over
/// its KV cache, and the cache is rolled back when the draft is rejected. The main model alone decides every token,
/// so the output is plain greedy decoding's.
/// </summary>
public static class SpeculativeDecoding
{
    /// <summary>Greedy decoding of one prompt [1, S] for <paramref name="newTokens"/> tokens with depth-1 drafts.
    /// <paramref name="forceDraft"/> replaces each draft (tests: a draft that is always wrong, or the true token).</summary>
    public static SpeculativeResult Greedy(TinyLm model, MtpModules modules, Tensor prompt, int newTokens,
        Func<int, long, long>? forceDraft = null)
    {
        if (modules.Depth < 1) throw new ArgumentException($"SpeculativeDecoding: the draft needs depth 1, but the model was trained with D = {modules.Depth}", nameof(modules));
        if (prompt.dim() != 2 || prompt.shape[0] != 1) throw new ArgumentException($"SpeculativeDecoding.Greedy: prompt must be [1, S], got [{string.Join(", ", prompt.shape)}]", nameof(prompt));
        if (newTokens < 1) throw new ArgumentOutOfRangeException(nameof(newTokens), newTokens, "SpeculativeDecoding.Greedy: newTokens must be ≥ 1");
        var depth = modules.CheckFits(model).Depths[0];
        int s = (int)prompt.shape[1], capacity = s + newTokens + 1;
        using var noGrad = no_grad();
        using var cache = model.NewCache(1, capacity);
        using var depthCache = depth.NewCache(1, capacity);
        using var scope = NewDisposeScope();
        var device = prompt.device;
        Tensor Ids(params long[] ids) => tensor(ids, [1, ids.Length], device: device);
        // Greedy choices at every position of [1, n, V] logits, read to the host in one transfer.
        long[] Argmax(Tensor logits) => logits[0].argmax(-1).cpu().data<long>().ToArray();

        var hidden = model.DecodeHidden(prompt, cache);                       // h⁰ at 0..S−1
        int forwards = 1;
        var tokens = new List<long> { Argmax(model.Logits(hidden.narrow(1, s - 1, 1)))[0] };   // s_S
        // Depth positions 0..S−1 pair h⁰_i with Emb(s_{i+1}); the last one needs s_S, just decided.
        var nextIds = cat([prompt.narrow(1, 1, s - 1), Ids(tokens[0])], 1);
        var h1 = depth.Decode(hidden, model.Embed(nextIds), depthCache);
        long draft = Argmax(depth.Logits(model, h1.narrow(1, s - 1, 1)))[0];
        int accepted = 0;
        var trace = new List<DraftCheck>();
        while (tokens.Count < newTokens)
        {
            using var step = NewDisposeScope();
            if (forceDraft is not null) draft = forceDraft(tokens.Count, draft);
            long current = tokens[^1];
            int position = cache.Length;                                        // where `current` goes
            hidden = model.DecodeHidden(Ids(current, draft), cache);            // positions n, n + 1
            forwards++;
            var verified = Argmax(model.Logits(hidden));                        // the main model's s_{n+1}, s_{n+2}
            trace.Add(new DraftCheck(tokens.Count, draft, verified[0]));
            if (verified[0] == draft)
            {
                accepted++;
                tokens.Add(draft);
                if (tokens.Count >= newTokens) break;
                tokens.Add(verified[1]);                                        // after an accepted draft, s_{n+2} too
                h1 = depth.Decode(hidden, model.Embed(Ids(draft, verified[1])), depthCache);
                draft = Argmax(depth.Logits(model, h1.narrow(1, 1, 1)))[0];
            }
            else
            {
                cache.Truncate(position + 1);                                   // forget the rejected draft
                tokens.Add(verified[0]);
                h1 = depth.Decode(hidden.narrow(1, 0, 1), model.Embed(Ids(verified[0])), depthCache);
                draft = Argmax(depth.Logits(model, h1))[0];
            }
        }
        return new SpeculativeResult([.. tokens.Take(newTokens)], trace.Count, accepted, forwards, trace);
    }
}

using System.Globalization;
using static TorchSharp.torch;

namespace Research.Distillation;

/// <summary>What a top-k forward KL does with the tokens outside the teacher's k most likely.</summary>
public enum TopKTail
{
    /// <summary>Drop them: teacher and student are both renormalised over the same k tokens.</summary>
    Renormalize,
    /// <summary>Merge them into one extra "tail" outcome holding each side's remaining mass: k + 1 outcomes, nothing
    /// renormalised.</summary>
    Bucket,
}

/// <summary>
/// Token-level distillation losses over logits shaped [batch, seq, vocab]. Conventions: p = teacher, q = student;
/// forward KL(p ‖ q) is mode-covering, reverse KL(q ‖ p) mode-seeking. Every loss is the mean over the tokens the
/// optional <c>mask</c> [batch, seq] (bool, true = the token counts) keeps, in the logits' dtype. The teacher is a
/// constant (detached, and converted to the student's dtype); gradients reach only the student. Soft losses at
/// temperature T use p = softmax(teacher / T), q = softmax(student / T) and carry Hinton's T² factor, which keeps their
/// gradients comparable across T (they otherwise shrink as 1/T²).
/// </summary>
public static class Losses
{
    /// <summary>T² · KL(p_T ‖ q_T): forward KL, the classic soft-target loss (Hinton et al. 2015). Mode-covering: the
    /// student is penalised wherever the teacher has mass and it has not.</summary>
    public static Tensor ForwardKl(Tensor student, Tensor teacher, double temperature = 1, Tensor? mask = null)
    {
        using var scope = NewDisposeScope();
        Validate(nameof(ForwardKl), student, teacher, temperature, mask);
        var (logQ, logP) = LogProbs(student, teacher, temperature);   // [B, S, V] each
        // KL(p ‖ q) = Σ_v p_v (log p_v − log q_v)
        var perToken = Kl(logP, logQ);                                 // [B, S]
        return (MaskedMean(perToken, mask) * (temperature * temperature)).MoveToOuterDisposeScope();
    }

    /// <summary>T² · KL(q_T ‖ p_T): reverse KL (MiniLLM, Gu et al. 2024). Mode-seeking: the student is penalised for
    /// mass where the teacher has little, not for missing some of the teacher's modes.</summary>
    public static Tensor ReverseKl(Tensor student, Tensor teacher, double temperature = 1, Tensor? mask = null)
    {
        using var scope = NewDisposeScope();
        Validate(nameof(ReverseKl), student, teacher, temperature, mask);
        var (logQ, logP) = LogProbs(student, teacher, temperature);   // [B, S, V] each
        // KL(q ‖ p) = Σ_v q_v (log q_v − log p_v)
        var perToken = Kl(logQ, logP);                                 // [B, S]
        return (MaskedMean(perToken, mask) * (temperature * temperature)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// T² · JSD_β(p ‖ q), the generalized Jensen–Shannon divergence of GKD (Agarwal et al. 2024):
    /// M = β p + (1 − β) q and JSD_β = β KL(p ‖ M) + (1 − β) KL(q ‖ M), with 0 ≤ JSD_β ≤ H(β) ≤ ln 2 where
    /// H(β) = −β ln β − (1 − β) ln(1 − β).
    /// <para>Endpoints: JSD_β itself is 0 at β = 0 and β = 1, so, as GKD and TRL define them, β = 0 returns
    /// <see cref="ForwardKl"/> (the limit of JSD_β / β as β → 0) and β = 1 returns <see cref="ReverseKl"/> (the limit
    /// of JSD_β / (1 − β) as β → 1). The value therefore jumps at the endpoints: at β = 1e-5 it is about 1e-5 times
    /// the forward KL, at β = 0 the forward KL itself.</para>
    /// </summary>
    /// <param name="beta">β in [0, 1]: the teacher's weight in the mixture M.</param>
    public static Tensor GeneralizedJsd(Tensor student, Tensor teacher, double beta, double temperature = 1, Tensor? mask = null)
    {
        using var scope = NewDisposeScope();
        Validate(nameof(GeneralizedJsd), student, teacher, temperature, mask, beta: beta);
        if (beta == 0) return ForwardKl(student, teacher, temperature, mask).MoveToOuterDisposeScope();
        if (beta == 1) return ReverseKl(student, teacher, temperature, mask).MoveToOuterDisposeScope();
        var (logQ, logP) = LogProbs(student, teacher, temperature);   // [B, S, V] each
        // log M = log(β p + (1 − β) q) = logsumexp(log p + ln β, log q + ln(1 − β)), never log of a sum
        var logM = stack([logP + Math.Log(beta), logQ + Math.Log(1 - beta)], 0).logsumexp(0);   // [B, S, V]
        // JSD_β = β KL(p ‖ M) + (1 − β) KL(q ‖ M)
        var perToken = beta * Kl(logP, logM) + (1 - beta) * Kl(logQ, logM);                      // [B, S]
        return (MaskedMean(perToken, mask) * (temperature * temperature)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// T² · forward KL on the teacher's k most likely tokens per position (forward KL weighs by p, so the teacher's
    /// support is the one that matters). <see cref="TopKTail.Renormalize"/> compares p and q each renormalised over
    /// those k tokens. <see cref="TopKTail.Bucket"/> compares k + 1 outcomes, the k tokens plus one tail outcome
    /// holding the rest of each side's mass, without renormalising; its tail log-mass is a logsumexp over the logits
    /// outside the top k (exact, no 1 − Σ cancellation), and an empty tail (k = vocab) counts as 0 · log 0 = 0. With
    /// k = vocab both modes equal <see cref="ForwardKl"/>. Ties in the teacher are broken by <c>topk</c>.
    /// </summary>
    /// <param name="k">Tokens kept per position, in 1..vocab.</param>
    public static Tensor TopKForwardKl(Tensor student, Tensor teacher, int k, double temperature = 1, Tensor? mask = null,
        TopKTail tail = TopKTail.Renormalize)
    {
        using var scope = NewDisposeScope();
        Validate(nameof(TopKForwardKl), student, teacher, temperature, mask, k: k, tail: tail);
        var s = student / temperature;                                   // [B, S, V]
        var t = Constant(teacher, student) / temperature;                // [B, S, V]
        var (_, top) = t.topk(k, dim: -1);                               // [B, S, k] teacher's k most likely
        Tensor perToken;
        if (tail == TopKTail.Renormalize)
        {
            // p̂_i = p_i / Σ_{j∈top} p_j = softmax over the k gathered logits; q̂ likewise on the same k tokens
            perToken = Kl(t.gather(-1, top).log_softmax(-1), s.gather(-1, top).log_softmax(-1));   // [B, S]
        }
        else
        {
            var logP = t.log_softmax(-1);                                // [B, S, V]
            var logQ = s.log_softmax(-1);                                // [B, S, V]
            var inTop = zeros_like(t, dtype: ScalarType.Bool).scatter(-1, top, ones_like(top, dtype: ScalarType.Bool));
            // log(1 − Σ_{top} p) = logsumexp of log p over the tokens outside the top k: no cancellation when the tail
            // is tiny (1 − Σ in float32 would round to 0 or below for a tail under ~6e-8), so no clamp is needed.
            var logPTail = logP.masked_fill(inTop, double.NegativeInfinity).logsumexp(-1, keepdim: true);   // [B, S, 1]
            var logQTail = logQ.masked_fill(inTop, double.NegativeInfinity).logsumexp(-1, keepdim: true);   // [B, S, 1]
            var bucketP = cat([logP.gather(-1, top), logPTail], -1);    // [B, S, k + 1]
            var bucketQ = cat([logQ.gather(-1, top), logQTail], -1);    // [B, S, k + 1]
            perToken = Kl(bucketP, bucketQ);                             // [B, S]
        }
        return (MaskedMean(perToken, mask) * (temperature * temperature)).MoveToOuterDisposeScope();
    }

    /// <summary>α · hard + (1 − α) · soft, where α = <paramref name="hardLabelWeight"/> in [0, 1] is the weight of
    /// the hard-label cross-entropy and 1 − α that of the soft (teacher) loss. Hinton et al. found a low α best.</summary>
    public static Tensor Mix(Tensor hardLoss, Tensor softLoss, double hardLabelWeight)
    {
        if (!(hardLabelWeight >= 0 && hardLabelWeight <= 1))
            throw new ArgumentOutOfRangeException(nameof(hardLabelWeight), hardLabelWeight,
                $"Losses.Mix: hardLabelWeight (α, the hard-label weight) must be in [0, 1] (got {Num(hardLabelWeight)})");
        if (hardLoss.numel() != 1)
            throw new ArgumentException($"Losses.Mix: hardLoss must be a scalar, got shape {Shape(hardLoss)}", nameof(hardLoss));
        if (softLoss.numel() != 1)
            throw new ArgumentException($"Losses.Mix: softLoss must be a scalar, got shape {Shape(softLoss)}", nameof(softLoss));
        using var scope = NewDisposeScope();
        // α · L_hard + (1 − α) · L_soft
        return (hardLabelWeight * hardLoss + (1 - hardLabelWeight) * softLoss).MoveToOuterDisposeScope();
    }

    // log q_T and log p_T: [B, S, V] each. The teacher is detached: it is a target, not a parameter.
    private static (Tensor LogQ, Tensor LogP) LogProbs(Tensor student, Tensor teacher, double temperature) =>
        ((student / temperature).log_softmax(-1), (Constant(teacher, student) / temperature).log_softmax(-1));

    private static Tensor Constant(Tensor teacher, Tensor student) => teacher.detach().to_type(student.dtype);

    // Σ_v a_v (log a_v − log b_v) over the last dimension, taking 0 · log 0 = 0 where a_v = 0 (a −inf teacher logit,
    // or an empty top-k tail), which would otherwise give 0 · (−inf) = NaN. Only exact zeros are replaced: a NaN
    // logit must still give a NaN loss. [B, S, n] -> [B, S].
    private static Tensor Kl(Tensor logA, Tensor logB)
    {
        var a = logA.exp();
        var terms = a * (logA - logB);
        return where(a == 0, zeros_like(terms), terms).sum(-1);
    }

    private static Tensor MaskedMean(Tensor perToken, Tensor? mask) => Models.LanguageModel.MaskedMean(perToken, mask);


    // The one place inputs are checked; every public loss calls it first. Messages name the argument and what is allowed.
    private static void Validate(string fn, Tensor student, Tensor? teacher, double? temperature, Tensor? mask,
        double? beta = null, int? k = null, TopKTail? tail = null)
    {
        string who = $"Losses.{fn}";
        if (student.dim() != 3)
            throw new ArgumentException($"{who}: student logits must be 3-D [batch, seq, vocab], got shape {Shape(student)}", nameof(student));
        if (!student.is_floating_point())
            throw new ArgumentException($"{who}: student logits must be floating point (float32 or float64), got {student.dtype}", nameof(student));
        long batch = student.shape[0], seq = student.shape[1], vocab = student.shape[2];
        if (vocab < 1)
            throw new ArgumentException($"{who}: the vocabulary (last dimension of student) must hold at least one token, got shape {Shape(student)}", nameof(student));
        if (batch * seq < 1)
            throw new ArgumentException($"{who}: student has no tokens (shape {Shape(student)}); batch and seq must be at least 1", nameof(student));

        if (teacher is not null)
        {
            if (teacher.dim() != 3)
                throw new ArgumentException($"{who}: teacher logits must be 3-D [batch, seq, vocab] like student {Shape(student)}, got shape {Shape(teacher)}", nameof(teacher));
            if (!teacher.is_floating_point())
                throw new ArgumentException($"{who}: teacher logits must be floating point, got {teacher.dtype}", nameof(teacher));
            string[] names = ["batch", "sequence", "vocabulary"];
            var differ = Enumerable.Range(0, 3).Where(d => student.shape[d] != teacher.shape[d])
                .Select(d => $"{names[d]} {student.shape[d]} vs {teacher.shape[d]}").ToArray();
            if (differ.Length > 0)
                throw new ArgumentException($"{who}: student shape {Shape(student)} and teacher shape {Shape(teacher)} differ: {string.Join(", ", differ)}", nameof(teacher));
            if (teacher.device_type != student.device_type || teacher.device_index != student.device_index)
                throw new ArgumentException($"{who}: teacher is on {teacher.device} but student on {student.device}; both must be on one device", nameof(teacher));
        }

        if (temperature is double temp && !double.IsFinite(temp))
            throw new ArgumentOutOfRangeException(nameof(temperature), temp, $"{who}: temperature must be a finite number > 0 (got {Num(temp)})");
        if (temperature is double positive && !(positive > 0))
            throw new ArgumentOutOfRangeException(nameof(temperature), positive, $"{who}: temperature must be > 0 (got {Num(positive)})");
        if (beta is double b && !(b >= 0 && b <= 1))
            throw new ArgumentOutOfRangeException(nameof(beta), b, $"{who}: beta must be in [0, 1] (got {Num(b)}); 0 gives the forward KL, 1 the reverse KL");
        if (k is int kk && (kk < 1 || kk > vocab))
            throw new ArgumentOutOfRangeException(nameof(k), kk, $"{who}: k must be in 1..{vocab} (the vocabulary size), got {kk}");
        if (tail is TopKTail tl && !Enum.IsDefined(tl))
            throw new ArgumentOutOfRangeException(nameof(tail), tl, $"{who}: tail must be one of {string.Join(", ", Enum.GetNames<TopKTail>())} (got {tl})");

        if (mask is not null)
        {
            if (mask.dtype != ScalarType.Bool)
                throw new ArgumentException($"{who}: mask must be bool (true = the token counts), got {mask.dtype}", nameof(mask));
            if (mask.dim() != 2 || mask.shape[0] != batch || mask.shape[1] != seq)
                throw new ArgumentException($"{who}: mask must have shape [{batch}, {seq}] (batch, seq) of the logits, got {Shape(mask)}", nameof(mask));
            if (!mask.any().item<bool>())
                throw new ArgumentException($"{who}: mask selects no token, so the mean over unmasked tokens is undefined", nameof(mask));
        }

    }

    private static string Shape(Tensor t) => $"[{string.Join(", ", t.shape)}]";

    private static string Num(double x) => x.ToString("R", CultureInfo.InvariantCulture);
}

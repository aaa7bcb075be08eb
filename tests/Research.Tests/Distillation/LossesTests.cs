using Research.Models;
using Research.Distillation;
using Research.Numerics;
using Xunit;
using static TorchSharp.torch;

namespace Research.Tests.Distillation;

public sealed class LossesTests
{
    // ---- Oracles in plain doubles: explicit probabilities, no tensors, no logsumexp ----

    private static double[] Softmax(IReadOnlyList<double> z, double temperature = 1)
    {
        double max = z.Max();
        var e = z.Select(v => Math.Exp((v - max) / temperature)).ToArray();
        double sum = e.Sum();
        return e.Select(v => v / sum).ToArray();
    }

    // KL(a ‖ b) = Σ a_i ln(a_i / b_i), with 0 · ln 0 = 0.
    private static double Kl(IReadOnlyList<double> a, IReadOnlyList<double> b) =>
        a.Zip(b, (x, y) => x > 0 ? x * Math.Log(x / y) : 0).Sum();

    private static double Jsd(double[] p, double[] q, double beta)
    {
        var m = p.Zip(q, (x, y) => beta * x + (1 - beta) * y).ToArray();
        return beta * Kl(p, m) + (1 - beta) * Kl(q, m);
    }

    // The teacher's k most likely tokens.
    private static int[] TopK(double[] p, int k) => Enumerable.Range(0, p.Length).OrderByDescending(i => p[i]).Take(k).ToArray();

    private static double TopKRenormalized(double[] p, double[] q, int k)
    {
        var top = TopK(p, k);
        double sp = top.Sum(i => p[i]), sq = top.Sum(i => q[i]);
        return Kl(top.Select(i => p[i] / sp).ToArray(), top.Select(i => q[i] / sq).ToArray());
    }

    private static double TopKBucket(double[] p, double[] q, int k)
    {
        var top = TopK(p, k);
        var rest = Enumerable.Range(0, p.Length).Except(top).ToArray();
        return Kl(top.Select(i => p[i]).Append(rest.Sum(i => p[i])).ToArray(), top.Select(i => q[i]).Append(rest.Sum(i => q[i])).ToArray());
    }

    private static double Entropy(double beta) => -beta * Math.Log(beta) - (1 - beta) * Math.Log(1 - beta);

    // Logits of one token as doubles.
    private static double[] Row(Tensor logits, int b, int s) =>
        logits[b, s].to_type(ScalarType.Float64).contiguous().data<double>().ToArray();

    // Mean over kept tokens of perToken(student row, teacher row).
    private static double OracleMean(Tensor student, Tensor teacher, bool[,]? mask, Func<double[], double[], double> perToken)
    {
        double sum = 0; int count = 0;
        for (int b = 0; b < student.shape[0]; b++)
            for (int s = 0; s < student.shape[1]; s++)
            {
                if (mask is not null && !mask[b, s]) continue;
                sum += perToken(Row(student, b, s), Row(teacher, b, s));
                count++;
            }
        return sum / count;
    }

    private static Tensor Logits(long batch, long seq, params double[] values) =>
        tensor(values).reshape(batch, seq, values.Length / (batch * seq));

    private static Tensor Mask(bool[,] m) =>
        tensor(m.Cast<bool>().ToArray()).reshape(m.GetLength(0), m.GetLength(1));

    private static Tensor Random(long seed, ScalarType dtype = ScalarType.Float64, double scale = 1.5) =>
        (randn([2, 3, 5], generator: new Generator((ulong)seed)) * scale).to_type(dtype);

    private static double Value(Tensor t) => t.to_type(ScalarType.Float64).item<double>();

    private static readonly bool[,] SomeHidden = { { true, false, true }, { true, true, false } };

    private static Tensor Labels() => tensor(new long[] { 4, 0, 2, 1, 3, 0 }).reshape(2, 3);

    // Every loss with the same (student, teacher, mask) call shape, for the property tests.
    private static readonly Dictionary<string, Func<Tensor, Tensor, Tensor?, Tensor>> Table = new()
    {
        ["forward"] = (s, t, m) => Losses.ForwardKl(s, t, 1.5, m),
        ["reverse"] = (s, t, m) => Losses.ReverseKl(s, t, 1.5, m),
        ["jsd 0.3"] = (s, t, m) => Losses.GeneralizedJsd(s, t, 0.3, 1.5, m),
        ["jsd 0"] = (s, t, m) => Losses.GeneralizedJsd(s, t, 0, 1.5, m),
        ["jsd 1"] = (s, t, m) => Losses.GeneralizedJsd(s, t, 1, 1.5, m),
        ["top-2 renormalize"] = (s, t, m) => Losses.TopKForwardKl(s, t, 2, 1.5, m, TopKTail.Renormalize),
        ["top-2 bucket"] = (s, t, m) => Losses.TopKForwardKl(s, t, 2, 1.5, m, TopKTail.Bucket),
        // Labels at hidden positions are −100, which must be ignored rather than gathered.
        ["cross-entropy"] = (s, t, m) => LanguageModel.CrossEntropy(s, m is null ? Labels() : Labels().masked_fill(m.logical_not(), -100), m),
    };

    public static TheoryData<string> AllLosses() => new(Table.Keys.ToArray());

    public static TheoryData<string> TeacherLosses() => new(Table.Keys.Where(k => k != "cross-entropy").ToArray());

    // ---- Closed forms ----

    [Fact]
    public void Forward_and_reverse_kl_match_a_two_token_case_worked_by_hand()
    {
        // Teacher logits [ln 3, 0] → p = [3/4, 1/4]; student logits [0, 0] → q = [1/2, 1/2].
        // Forward KL(p ‖ q) = 3/4 ln(3/2) + 1/4 ln(1/2) = 0.75 · 0.405465 − 0.25 · 0.693147 = 0.130812.
        // Reverse KL(q ‖ p) = 1/2 ln(2/3) + 1/2 ln(2)   = −0.202733 + 0.346574            = 0.143841.
        var teacher = Logits(1, 1, Math.Log(3), 0);
        var student = Logits(1, 1, 0, 0);

        double forward = Value(Losses.ForwardKl(student, teacher));
        double reverse = Value(Losses.ReverseKl(student, teacher));

        Assert.Equal(0.75 * Math.Log(1.5) + 0.25 * Math.Log(0.5), forward, 1e-12);
        Assert.Equal(0.5 * Math.Log(0.5 / 0.75) + 0.5 * Math.Log(2), reverse, 1e-12);
        Assert.Equal(0.130812, forward, 1e-6);
        Assert.Equal(0.143841, reverse, 1e-6);   // a swapped direction would give the other number
    }

    [Fact]
    public void Kls_and_jsd_match_explicit_three_token_probabilities_averaged_over_tokens()
    {
        // Logits are ln of the probabilities, so softmax gives them back exactly (up to rounding).
        double[][] p = [[0.7, 0.2, 0.1], [0.05, 0.15, 0.8]];
        double[][] q = [[0.2, 0.5, 0.3], [0.3, 0.3, 0.4]];
        var teacher = Logits(1, 2, p.SelectMany(r => r.Select(v => Math.Log(v))).ToArray());
        var student = Logits(1, 2, q.SelectMany(r => r.Select(v => Math.Log(v))).ToArray());

        Assert.Equal((Kl(p[0], q[0]) + Kl(p[1], q[1])) / 2, Value(Losses.ForwardKl(student, teacher)), 1e-12);
        Assert.Equal((Kl(q[0], p[0]) + Kl(q[1], p[1])) / 2, Value(Losses.ReverseKl(student, teacher)), 1e-12);
        Assert.Equal((Jsd(p[0], q[0], 0.3) + Jsd(p[1], q[1], 0.3)) / 2, Value(Losses.GeneralizedJsd(student, teacher, 0.3)), 1e-12);
        Assert.NotEqual(Value(Losses.ForwardKl(student, teacher)), Value(Losses.ReverseKl(student, teacher)), 1e-3);
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(1.0)]
    [InlineData(2.5)]
    [InlineData(7.0)]
    public void Each_soft_loss_at_temperature_T_is_T_squared_times_the_divergence_of_the_softened_distributions(double temperature)
    {
        var student = Random(1);
        var teacher = Random(2);
        double t2 = temperature * temperature;
        double Oracle(Func<double[], double[], double> divergence) => t2 * OracleMean(student, teacher, SomeHidden,
            (s, t) => divergence(Softmax(t, temperature), Softmax(s, temperature)));
        var mask = Mask(SomeHidden);

        Assert.Equal(Oracle((p, q) => Kl(p, q)), Value(Losses.ForwardKl(student, teacher, temperature, mask)), 1e-12);
        Assert.Equal(Oracle((p, q) => Kl(q, p)), Value(Losses.ReverseKl(student, teacher, temperature, mask)), 1e-12);
        Assert.Equal(Oracle((p, q) => Jsd(p, q, 0.4)), Value(Losses.GeneralizedJsd(student, teacher, 0.4, temperature, mask)), 1e-12);
        Assert.Equal(Oracle((p, q) => TopKRenormalized(p, q, 3)),
            Value(Losses.TopKForwardKl(student, teacher, 3, temperature, mask, TopKTail.Renormalize)), 1e-12);
        Assert.Equal(Oracle((p, q) => TopKBucket(p, q, 3)),
            Value(Losses.TopKForwardKl(student, teacher, 3, temperature, mask, TopKTail.Bucket)), 1e-12);
    }

    // ---- Identities and bounds ----

    [Theory]
    [MemberData(nameof(TeacherLosses))]
    public void A_distribution_is_at_zero_divergence_from_itself(string loss)
    {
        var teacher = Random(3);
        var student = teacher.clone();

        Assert.Equal(0.0, Value(Table[loss](student, teacher, null)), 1e-12);
    }

    [Theory]
    [MemberData(nameof(TeacherLosses))]
    public void Every_token_divergence_is_non_negative_on_random_float32_logits(string loss)
    {
        for (int seed = 0; seed < 5; seed++)
        {
            using var scope = NewDisposeScope();
            var student = Random(10 + seed, ScalarType.Float32, 3);
            var teacher = Random(20 + seed, ScalarType.Float32, 3);
            for (int b = 0; b < 2; b++)
                for (int s = 0; s < 3; s++)
                {
                    var oneToken = new bool[2, 3];
                    oneToken[b, s] = true;
                    double value = Value(Table[loss](student, teacher, Mask(oneToken)));
                    Assert.True(value >= 0, $"{loss}, seed {seed}, token ({b}, {s}): {value}");
                }
        }
    }

    [Theory]
    [InlineData(0.05)]
    [InlineData(0.25)]
    [InlineData(0.5)]
    [InlineData(0.75)]
    [InlineData(0.95)]
    public void Jsd_is_bounded_by_the_binary_entropy_of_beta_and_nearly_reaches_it_on_disjoint_supports(double beta)
    {
        double bound = Entropy(beta);   // KL(p ‖ M) ≤ −ln β as M ≥ β p; KL(q ‖ M) ≤ −ln(1 − β) likewise
        Assert.True(bound <= Math.Log(2) + 1e-15);
        for (int seed = 0; seed < 5; seed++)
        {
            using var scope = NewDisposeScope();
            double random = Value(Losses.GeneralizedJsd(Random(30 + seed, scale: 4), Random(40 + seed, scale: 4), beta));
            Assert.InRange(random, 0, bound);
        }

        // Teacher almost surely token 0, student almost surely token 1: M then splits β / (1 − β) and JSD_β → H(β).
        var teacher = Logits(1, 1, 40, 0, 0, 0);
        var student = Logits(1, 1, 0, 40, 0, 0);
        double disjoint = Value(Losses.GeneralizedJsd(student, teacher, beta));
        Assert.InRange(disjoint, bound - 1e-9, bound + 1e-12);
    }

    [Fact]
    public void Jsd_over_beta_tends_to_forward_kl_as_beta_goes_to_0_and_over_one_minus_beta_to_reverse_kl_as_beta_goes_to_1()
    {
        var student = Random(5, scale: 1);
        var teacher = Random(6, scale: 1);
        double forward = Value(Losses.ForwardKl(student, teacher));
        double reverse = Value(Losses.ReverseKl(student, teacher));
        const double Beta = 1e-6;   // the first-order remainder is about β·χ²/2, relative ~1e-6 here

        double nearZero = Value(Losses.GeneralizedJsd(student, teacher, Beta)) / Beta;
        double nearOne = Value(Losses.GeneralizedJsd(student, teacher, 1 - Beta)) / Beta;

        Assert.True(Math.Abs(nearZero / forward - 1) < 1e-4, $"JSD/β = {nearZero}, forward KL = {forward}");
        Assert.True(Math.Abs(nearOne / reverse - 1) < 1e-4, $"JSD/(1−β) = {nearOne}, reverse KL = {reverse}");
        Assert.True(Math.Abs(forward / reverse - 1) > 1e-2, "the example must tell the directions apart");
    }

    [Fact]
    public void Jsd_at_beta_0_and_1_is_exactly_forward_and_reverse_kl()
    {
        var student = Random(7);
        var teacher = Random(8);
        var mask = Mask(SomeHidden);

        Assert.Equal(Value(Losses.ForwardKl(student, teacher, 2, mask)), Value(Losses.GeneralizedJsd(student, teacher, 0, 2, mask)));
        Assert.Equal(Value(Losses.ReverseKl(student, teacher, 2, mask)), Value(Losses.GeneralizedJsd(student, teacher, 1, 2, mask)));
    }

    // ---- Top-k ----

    [Theory]
    [InlineData(TopKTail.Renormalize)]
    [InlineData(TopKTail.Bucket)]
    public void Top_k_with_k_equal_to_the_vocabulary_is_the_full_forward_kl(TopKTail tail)
    {
        var student = Random(9);
        var teacher = Random(10);
        var mask = Mask(SomeHidden);

        double full = Value(Losses.ForwardKl(student, teacher, 1.7, mask));
        double topK = Value(Losses.TopKForwardKl(student, teacher, 5, 1.7, mask, tail));
        // An empty tail is logsumexp over nothing (−inf); its backward must not turn into NaN.
        var g = GradientCheck.Compare(s => Losses.TopKForwardKl(s, teacher, 5, 1.7, mask, tail), student);

        Assert.Equal(full, topK, 1e-12);
        Assert.True(g.MaxAbsError < 1e-7, $"max error {g.MaxAbsError}");
    }

    [Fact]
    public void Top_2_matches_hand_computed_values_for_both_tails_on_the_teachers_support()
    {
        // p = [0.1, 0.5, 0.3, 0.1] (teacher's top 2: tokens 1, 2), q = [0.4, 0.3, 0.2, 0.1] (student's: 0, 1).
        // Renormalize: p̂ = [0.625, 0.375], q̂ = [0.6, 0.4];
        //   0.625 ln(0.625/0.6) + 0.375 ln(0.375/0.4) = 0.0255137 − 0.0242019 = 0.0013118.
        // Bucket: [0.5, 0.3 | 0.2] against [0.3, 0.2 | 0.5];
        //   0.5 ln(5/3) + 0.3 ln(3/2) + 0.2 ln(2/5) = 0.2554128 + 0.1216395 − 0.1832581 = 0.1937942.
        var teacher = Logits(1, 1, new[] { 0.1, 0.5, 0.3, 0.1 }.Select(v => Math.Log(v)).ToArray());
        var student = Logits(1, 1, new[] { 0.4, 0.3, 0.2, 0.1 }.Select(v => Math.Log(v)).ToArray());

        double renormalized = Value(Losses.TopKForwardKl(student, teacher, 2, tail: TopKTail.Renormalize));
        double bucket = Value(Losses.TopKForwardKl(student, teacher, 2, tail: TopKTail.Bucket));

        Assert.Equal(0.625 * Math.Log(0.625 / 0.6) + 0.375 * Math.Log(0.375 / 0.4), renormalized, 1e-12);
        Assert.Equal(0.5 * Math.Log(0.5 / 0.3) + 0.3 * Math.Log(0.3 / 0.2) + 0.2 * Math.Log(0.2 / 0.5), bucket, 1e-12);
        Assert.Equal(0.0013118, renormalized, 1e-7);
        Assert.Equal(0.1937942, bucket, 1e-7);
    }

    [Fact]
    public void Bucket_tail_is_exact_in_float32_when_one_minus_the_top_k_mass_would_round_to_zero()
    {
        // Token 0 holds all but ~2.6e-26 of the peaked mass, so in float32 1 − Σ top-3 is 0. Position 0: the student
        // is peaked and the teacher's tail is ~0.35, so a zero student tail gives inf and one clamped at 1e-8 about
        // half the right value (8.1 instead of 15.2 on average); position 1 swaps the roles (a tiny teacher tail).
        double[] peaked = [30, 0, 0, -30, -30, -30], flat = [1, 0.5, 0.2, 0, 0, 0];
        var student = Logits(1, 2, [.. peaked, .. flat]).to_type(ScalarType.Float32);
        var teacher = Logits(1, 2, [.. flat, .. peaked]).to_type(ScalarType.Float32);
        double expected = (TopKBucket(Softmax(flat), Softmax(peaked), 3) + TopKBucket(Softmax(peaked), Softmax(flat), 3)) / 2;
        Assert.True(expected > 10, $"the student's tiny tail should dominate: {expected}");

        double actual = Value(Losses.TopKForwardKl(student, teacher, 3, tail: TopKTail.Bucket));
        var g = GradientCheck.Compare(s => Losses.TopKForwardKl(s, teacher.to_type(ScalarType.Float64), 3, tail: TopKTail.Bucket), student);

        Assert.Equal(1, actual / expected, 1e-5);
        Assert.True(g.MaxAbsError < 1e-6, $"max error {g.MaxAbsError}");
    }

    // ---- Hard labels and mixing ----

    [Fact]
    public void Cross_entropy_equals_torch_cross_entropy_over_the_unmasked_tokens()
    {
        var student = Random(11);
        var mask = Mask(SomeHidden);
        var labels = Labels().masked_fill(mask.logical_not(), -100);   // torch's ignore_index marks the hidden tokens

        var expected = nn.functional.cross_entropy(student.reshape(6, 5), labels.reshape(6), ignore_index: -100);

        Assert.Equal(Value(expected), Value(LanguageModel.CrossEntropy(student, labels, mask)), 1e-12);
        Assert.Equal(Value(nn.functional.cross_entropy(student.reshape(6, 5), Labels().reshape(6))),
            Value(LanguageModel.CrossEntropy(student, Labels())), 1e-12);
    }

    [Fact]
    public void Mix_weights_the_hard_loss_by_alpha_and_the_soft_loss_by_one_minus_alpha()
    {
        var hard = tensor(2.0);
        var soft = tensor(10.0);

        Assert.Equal(2.0, Value(Losses.Mix(hard, soft, 1)));
        Assert.Equal(10.0, Value(Losses.Mix(hard, soft, 0)));
        Assert.Equal(0.25 * 2 + 0.75 * 10, Value(Losses.Mix(hard, soft, 0.25)), 1e-12);
    }

    // ---- Gradients and masking ----

    [Theory]
    [MemberData(nameof(AllLosses))]
    public void Gradient_matches_central_differences_and_is_exactly_zero_at_masked_positions(string loss)
    {
        var student = Random(12);
        var teacher = Random(13);
        var mask = Mask(SomeHidden);

        var g = GradientCheck.Compare(s => Table[loss](s, teacher, mask), student);

        Assert.True(g.MaxAbsError < 1e-7, $"{loss}: max error {g.MaxAbsError}");
        Assert.Contains(g.Autograd, v => v != 0);
        for (int b = 0; b < 2; b++)
            for (int s = 0; s < 3; s++)
                if (!SomeHidden[b, s])
                    for (int v = 0; v < 5; v++)
                        Assert.Equal(0.0, g.Autograd[(b * 3 + s) * 5 + v]);
    }

    [Theory]
    [MemberData(nameof(AllLosses))]
    public void Logits_at_masked_positions_leave_the_loss_bit_identical(string loss)
    {
        var student = Random(14, ScalarType.Float32);
        var teacher = Random(15, ScalarType.Float32);
        var mask = Mask(SomeHidden);
        var hidden = mask.logical_not().unsqueeze(-1);   // [B, S, 1]
        var junk = Random(16, ScalarType.Float32, 50);
        junk[0, 1, 2] = float.NaN;

        float before = Table[loss](student, teacher, mask).item<float>();
        float after = Table[loss](student.where(hidden.logical_not(), junk), teacher.where(hidden.logical_not(), junk * 3), mask).item<float>();

        Assert.Equal(BitConverter.SingleToInt32Bits(before), BitConverter.SingleToInt32Bits(after));
    }

    [Theory]
    [MemberData(nameof(AllLosses))]
    public void A_nan_logit_at_a_kept_position_gives_a_nan_loss(string loss)
    {
        var student = Random(23);
        var teacher = Random(24);
        // Token (0, 0) is kept by SomeHidden; the teacher's favourite token is inside every top-k support.
        student[0, 0, teacher[0, 0].argmax().item<long>()] = double.NaN;

        Assert.True(double.IsNaN(Value(Table[loss](student, teacher, Mask(SomeHidden)))), $"{loss} hid a NaN");
    }

    [Theory]
    [MemberData(nameof(AllLosses))]
    public void Masked_mean_equals_the_loss_on_only_the_kept_tokens(string loss)
    {
        var student = Random(17);
        var teacher = Random(18);
        var kept = tensor(new long[] { 0, 2, 3, 4 });   // flat (b, s) indices SomeHidden keeps
        Tensor Only(Tensor x) => x.reshape(6, 5).index_select(0, kept).reshape(1, 4, 5);

        double masked = Value(Table[loss](student, teacher, Mask(SomeHidden)));
        double onKept = loss == "cross-entropy"
            ? Value(LanguageModel.CrossEntropy(Only(student), Labels().reshape(6).index_select(0, kept).reshape(1, 4)))
            : Value(Table[loss](Only(student), Only(teacher), null));

        Assert.Equal(onKept, masked, 1e-12);
    }

    [Theory]
    [MemberData(nameof(TeacherLosses))]
    public void The_teacher_gets_no_gradient(string loss)
    {
        var student = Random(19).requires_grad_(true);
        var teacher = Random(20).requires_grad_(true);

        Table[loss](student, teacher, Mask(SomeHidden)).backward();

        Assert.NotNull(student.grad);
        Assert.True(teacher.grad is null || teacher.grad.abs().max().item<double>() == 0, $"{loss} sent a gradient to the teacher");
    }

    [Fact]
    public void Float32_logits_give_a_float32_loss_and_a_float64_teacher_is_converted()
    {
        var student = Random(21, ScalarType.Float32);
        var teacher = Random(22);

        var loss = Losses.ForwardKl(student, teacher);

        Assert.Equal(ScalarType.Float32, loss.dtype);
        Assert.Equal(Value(Losses.ForwardKl(student, teacher.to_type(ScalarType.Float32))), Value(loss));
    }

    // ---- Bad input ----

    private static readonly Dictionary<string, (Action Call, string Parameter, string Message)> BadCalls = new()
    {
        ["temperature 0"] = (() => Losses.ForwardKl(Random(0), Random(1), 0), "temperature", "Losses.ForwardKl: temperature must be > 0 (got 0)"),
        ["temperature negative"] = (() => Losses.ReverseKl(Random(0), Random(1), -1), "temperature", "temperature must be > 0 (got -1)"),
        ["temperature NaN"] = (() => Losses.GeneralizedJsd(Random(0), Random(1), 0.5, double.NaN), "temperature", "temperature must be a finite number > 0 (got NaN)"),
        ["temperature infinite"] = (() => Losses.TopKForwardKl(Random(0), Random(1), 2, double.PositiveInfinity), "temperature", "temperature must be a finite number > 0 (got Infinity)"),
        ["vocabulary differs"] = (() => Losses.ForwardKl(Random(0), randn(2, 3, 6, dtype: ScalarType.Float64)), "teacher",
            "student shape [2, 3, 5] and teacher shape [2, 3, 6] differ: vocabulary 5 vs 6"),
        ["sequence differs"] = (() => Losses.ForwardKl(Random(0), randn(2, 4, 5, dtype: ScalarType.Float64)), "teacher", "differ: sequence 3 vs 4"),
        ["student not 3-D"] = (() => Losses.ForwardKl(randn(6, 5), Random(1)), "student", "student logits must be 3-D [batch, seq, vocab], got shape [6, 5]"),
        ["teacher not 3-D"] = (() => Losses.ReverseKl(Random(0), randn(6, 5)), "teacher", "teacher logits must be 3-D"),
        ["integer logits"] = (() => Losses.ForwardKl(zeros(2, 3, 5, dtype: ScalarType.Int64), Random(1)), "student", "floating point"),
        ["empty batch"] = (() => Losses.ForwardKl(randn(0, 3, 5), randn(0, 3, 5)), "student", "no tokens"),
        ["mask shape"] = (() => Losses.ForwardKl(Random(0), Random(1), mask: ones(3, 2, dtype: ScalarType.Bool)), "mask",
            "mask must have shape [2, 3] (batch, seq) of the logits, got [3, 2]"),
        ["mask dtype"] = (() => Losses.ForwardKl(Random(0), Random(1), mask: ones(2, 3)), "mask", "mask must be bool"),
        ["mask empty"] = (() => Losses.TopKForwardKl(Random(0), Random(1), 2, mask: zeros(2, 3, dtype: ScalarType.Bool)), "mask", "mask selects no token"),
        ["beta negative"] = (() => Losses.GeneralizedJsd(Random(0), Random(1), -0.1), "beta", "beta must be in [0, 1] (got -0.1)"),
        ["beta above 1"] = (() => Losses.GeneralizedJsd(Random(0), Random(1), 1.5), "beta", "beta must be in [0, 1] (got 1.5)"),
        ["beta NaN"] = (() => Losses.GeneralizedJsd(Random(0), Random(1), double.NaN), "beta", "beta must be in [0, 1] (got NaN)"),
        ["k 0"] = (() => Losses.TopKForwardKl(Random(0), Random(1), 0), "k", "k must be in 1..5 (the vocabulary size), got 0"),
        ["k above vocabulary"] = (() => Losses.TopKForwardKl(Random(0), Random(1), 6), "k", "k must be in 1..5"),
        ["tail undefined"] = (() => Losses.TopKForwardKl(Random(0), Random(1), 2, tail: (TopKTail)7), "tail", "tail must be one of Renormalize, Bucket"),
        ["labels shape"] = (() => LanguageModel.CrossEntropy(Random(0), zeros(3, 2, dtype: ScalarType.Int64)), "labels",
            "labels must be int64 with shape [2, 3] (batch, seq) of the logits, got Int64 [3, 2]"),
        ["labels dtype"] = (() => LanguageModel.CrossEntropy(Random(0), zeros(2, 3, dtype: ScalarType.Int32)), "labels", "labels must be int64"),
        ["labels out of range"] = (() => LanguageModel.CrossEntropy(Random(0), full(2, 3, 5L)), "labels", "labels must be in 0..4 (vocabulary 5)"),
        ["labels negative unmasked"] = (() => LanguageModel.CrossEntropy(Random(0), full(2, 3, -100L), Mask(SomeHidden)), "labels", "labels must be in 0..4"),
        ["mix weight"] = (() => Losses.Mix(tensor(1.0), tensor(2.0), 1.5), "hardLabelWeight", "hardLabelWeight (α, the hard-label weight) must be in [0, 1] (got 1.5)"),
        ["mix not scalar"] = (() => Losses.Mix(ones(3), tensor(2.0), 0.5), "hardLoss", "hardLoss must be a scalar, got shape [3]"),
    };

    public static TheoryData<string> BadCallNames() => new(BadCalls.Keys.ToArray());

    [Theory]
    [MemberData(nameof(BadCallNames))]
    public void Bad_input_throws_an_argument_exception_naming_the_argument_and_what_is_allowed(string name)
    {
        var (call, parameter, message) = BadCalls[name];

        var ex = Assert.ThrowsAny<ArgumentException>(call);

        Assert.Equal(parameter, ex.ParamName);
        Assert.Contains(message, ex.Message);
    }
}

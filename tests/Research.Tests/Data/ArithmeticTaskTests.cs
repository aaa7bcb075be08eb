using Research.Data;
using Research.Experiments;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Research.Tests.Data;

public sealed class ArithmeticTaskTests
{
    private static readonly ArithmeticTask Task3 = new(new ArithmeticTaskConfig());   // N = 3, reversed answers

    private static long[] Values(Tensor t) => t.cpu().contiguous().data<long>().ToArray();
    private static bool[] Flags(Tensor t) => t.cpu().contiguous().data<bool>().ToArray();
    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    // The answer field written independently of the task: N + 1 digits of A + B, optionally reversed.
    private static string ExpectedAnswerDigits(long a, long b, int maxDigits, bool reverse)
    {
        var digits = (a + b).ToString().PadLeft(maxDigits + 1, '0');
        return reverse ? new string(digits.Reverse().ToArray()) : digits;
    }

    // Token ids of a digit string, from the table 0 → 3 … 9 → 12, by arithmetic rather than through Encode.
    private static long[] DigitIds(string digits) => digits.Select(c => (long)(c - '0') + 3).ToArray();

    // ---- vocabulary ----

    [Fact]
    public void Every_token_decodes_to_its_table_character_and_text_tokens_round_trip()
    {
        // Given the vocabulary table written out by hand
        const string table = "_^$0123456789+=";

        // Then decoding ids 0..14 gives the table, and encoding the text part gives ids 3..14 back
        Assert.Equal(15, ArithmeticVocabulary.Size);
        Assert.Equal(table, ArithmeticVocabulary.Decode(Enumerable.Range(0, 15).Select(i => (long)i)));
        Assert.Equal(Enumerable.Range(3, 12).Select(i => (long)i), ArithmeticVocabulary.Encode(table[3..]));
        Assert.Equal(table[3..], ArithmeticVocabulary.Decode(ArithmeticVocabulary.Encode(table[3..])));
        Assert.Equal((0L, 1L, 2L, 3L, 12L, 13L, 14L),
            (ArithmeticVocabulary.Pad, ArithmeticVocabulary.Bos, ArithmeticVocabulary.Eos, ArithmeticVocabulary.Digit0,
             ArithmeticVocabulary.Digit9, ArithmeticVocabulary.Plus, ArithmeticVocabulary.EqualsSign));
    }

    [Theory]
    [InlineData("12-3", '-')]
    [InlineData("1 2", ' ')]
    [InlineData("$", '$')]
    public void Encode_rejects_a_character_outside_the_vocabulary_and_names_it(string text, char bad)
    {
        var error = Assert.Throws<ArgumentException>(() => ArithmeticVocabulary.Encode(text));

        Assert.Equal("text", error.ParamName);
        Assert.Contains($"'{bad}'", error.Message);
    }

    [Fact]
    public void Decode_rejects_an_id_outside_the_vocabulary()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => ArithmeticVocabulary.Decode([3, 15]));
        Assert.Throws<ArgumentOutOfRangeException>(() => ArithmeticVocabulary.Decode([-1]));
    }

    // ---- config ----

    [Theory]
    [InlineData(0)]
    [InlineData(10)]
    [InlineData(-3)]
    public void Validated_rejects_max_digits_outside_1_to_9_and_names_the_field(int maxDigits)
    {
        var error = Assert.Throws<ConfigException>(() => new ArithmeticTaskConfig(MaxDigits: maxDigits).Validated());

        Assert.Contains("ArithmeticTaskConfig.MaxDigits", error.Message);
        Assert.Contains("1..9", error.Message);
        Assert.Contains($"got {maxDigits}", error.Message);
        Assert.Throws<ConfigException>(() => new ArithmeticTask(new ArithmeticTaskConfig(MaxDigits: maxDigits)));
    }

    [Theory]
    [InlineData(1, 8, 5, 3)]
    [InlineData(3, 14, 9, 5)]
    [InlineData(9, 32, 21, 11)]
    public void Lengths_follow_the_fixed_width_layout(int maxDigits, int sequence, int prompt, int answer)
    {
        var task = new ArithmeticTask(new ArithmeticTaskConfig(maxDigits));

        Assert.Equal((sequence, prompt, answer), (task.SequenceLength, task.PromptLength, task.AnswerLength));
        Assert.Equal(task.SequenceLength, task.PromptLength + task.AnswerLength);
    }

    // ---- layout ----

    [Theory]
    [InlineData(true, new long[] { 5, 8, 3, 3 })]    // 0052 reversed: 2 5 0 0
    [InlineData(false, new long[] { 3, 3, 8, 5 })]   // 0 0 5 2
    public void Seven_plus_forty_five_has_the_hand_written_token_sequence(bool reverse, long[] answerDigits)
    {
        // Given 7 + 45 with N = 3: ^ 0 0 7 + 0 4 5 = <answer> $, ids written from the vocabulary table
        var task = new ArithmeticTask(new ArithmeticTaskConfig(3, reverse));
        long[] prompt = [1, 3, 3, 10, 13, 3, 7, 8, 14];
        long[] expected = [.. prompt, .. answerDigits, 2];
        var problem = new ArithmeticProblem(7, 45);

        // When the problem is laid out as tokens and as a batch
        using var batch = task.ToBatch([problem], CPU);

        // Then every view of it agrees with the hand-written sequence
        Assert.Equal(expected, task.SequenceTokens(problem));
        Assert.Equal(expected[..^1], Values(batch.Inputs));
        Assert.Equal(expected[1..], Values(batch.Targets));
        Assert.Equal(prompt, Values(task.Prompts([problem], CPU)));
        Assert.Equal([.. answerDigits, 2], Values(task.Answers([problem], CPU)));
        Assert.Equal(reverse ? "^007+045=2500$" : "^007+045=0052$", task.RenderTokens(expected));
        Assert.Equal("7+45=52", task.Render(problem));
    }

    [Fact]
    public void Targets_are_inputs_shifted_by_one_and_the_mask_selects_exactly_the_answer_and_eos_targets()
    {
        // Given a batch of random problems
        var problems = Task3.Sample(50, new Generator(3));
        using var batch = Task3.ToBatch(problems, CPU);
        int t = Task3.SequenceLength - 1;

        // Then shapes and dtypes are the documented ones
        Assert.Equal(new long[] { 50, t }, batch.Inputs.shape);
        Assert.Equal(new long[] { 50, t }, batch.Targets.shape);
        Assert.Equal(new long[] { 50, t }, batch.LossMask.shape);
        Assert.Equal(ScalarType.Int64, batch.Inputs.dtype);
        Assert.Equal(ScalarType.Int64, batch.Targets.dtype);
        Assert.Equal(ScalarType.Bool, batch.LossMask.dtype);

        // And each target is the next input, the first input BOS and the last target EOS
        var inputs = Values(batch.Inputs);
        var targets = Values(batch.Targets);
        var mask = Flags(batch.LossMask);
        for (int row = 0; row < 50; row++)
        {
            Assert.Equal(1, inputs[row * t]);
            Assert.Equal(2, targets[row * t + t - 1]);
            for (int j = 0; j + 1 < t; j++)
                Assert.Equal(inputs[row * t + j + 1], targets[row * t + j]);

            // The masked targets, read in order, are the answer digits and EOS of this row, and nothing else
            var p = problems[row];
            var masked = Enumerable.Range(0, t).Where(j => mask[row * t + j]).Select(j => targets[row * t + j]).ToArray();
            Assert.Equal([.. DigitIds(ExpectedAnswerDigits(p.A, p.B, 3, reverse: true)), 2], masked);
            Assert.Equal(Enumerable.Range(t - 5, 5), Enumerable.Range(0, t).Where(j => mask[row * t + j]));
        }
    }

    [Fact]
    public void Batch_of_prompt_and_answer_tensors_equals_the_batch_of_the_problems()
    {
        var problems = Task3.Sample(20, new Generator(4));
        using var fromProblems = Task3.ToBatch(problems, CPU);
        using var prompts = Task3.Prompts(problems, CPU);
        using var answers = Task3.Answers(problems, CPU);

        using var fromTensors = Task3.ToBatch(prompts, answers);

        Assert.True(Same(fromProblems.Inputs, fromTensors.Inputs));
        Assert.True(Same(fromProblems.Targets, fromTensors.Targets));
        Assert.True(Same(fromProblems.LossMask, fromTensors.LossMask));
    }

    [Fact]
    public void Batch_of_tensors_rejects_bad_shapes_and_dtypes_naming_the_argument()
    {
        using var prompts = zeros([4, 9], ScalarType.Int64);
        using var answers = zeros([4, 5], ScalarType.Int64);

        Assert.Equal("prompts", Assert.Throws<ArgumentException>(() => Task3.ToBatch(zeros([4, 8], ScalarType.Int64), answers)).ParamName);
        Assert.Equal("prompts", Assert.Throws<ArgumentException>(() => Task3.ToBatch(zeros([36], ScalarType.Int64), answers)).ParamName);
        Assert.Equal("prompts", Assert.Throws<ArgumentException>(() => Task3.ToBatch(zeros([4, 9]), answers)).ParamName);
        Assert.Equal("answers", Assert.Throws<ArgumentException>(() => Task3.ToBatch(prompts, zeros([4, 6], ScalarType.Int64))).ParamName);
        var rows = Assert.Throws<ArgumentException>(() => Task3.ToBatch(prompts, zeros([3, 5], ScalarType.Int64)));
        Assert.Equal("answers", rows.ParamName);
        Assert.Contains("[4, 5]", rows.Message);
    }

    [Fact]
    public void Operands_beyond_max_digits_are_rejected_naming_the_problem()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => Task3.Prompts([new(1, 2), new(1000, 2)], CPU));

        Assert.Equal("problems[1]", error.ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => Task3.SequenceTokens(new(-1, 2)));
    }

    // ---- sampling ----

    [Fact]
    public void Same_seed_gives_the_same_problems_and_another_seed_different_ones()
    {
        var a = Task3.Sample(200, new Generator(7));
        var b = Task3.Sample(200, new Generator(7));
        var c = Task3.Sample(200, new Generator(8));

        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        Assert.Empty(Task3.Sample(0, new Generator(7)));
    }

    [Theory]
    [InlineData(1, 0.0)]      // one length only: χ² is 0
    [InlineData(3, 13.82)]    // χ²₀.₉₉₉ quantiles for N − 1 = 2, 4 and 8 degrees of freedom
    [InlineData(5, 18.47)]
    [InlineData(9, 26.12)]
    public void Operand_digit_counts_are_uniform_and_values_stay_in_range(int maxDigits, double chi2Bound)
    {
        // Given 20 000 problems, so 40 000 operands
        var task = new ArithmeticTask(new ArithmeticTaskConfig(maxDigits));
        var problems = task.Sample(20_000, new Generator(11));
        var operands = problems.SelectMany(p => new[] { p.A, p.B }).ToArray();

        // Then every operand lies in 0..10^N − 1
        long max = (long)Math.Pow(10, maxDigits) - 1;
        Assert.All(operands, x => Assert.InRange(x, 0, max));

        // And digit counts 1..N are equally likely: Pearson's χ² stays below the bound a uniform sample exceeds with
        // probability 0.001
        var counts = new double[maxDigits + 1];
        foreach (var x in operands)
            counts[x.ToString().Length]++;
        double expected = operands.Length / (double)maxDigits;
        double chi2 = counts.Skip(1).Sum(o => (o - expected) * (o - expected) / expected);
        Assert.True(chi2 <= chi2Bound, $"χ² = {chi2:F1}, counts {string.Join(", ", counts.Skip(1))}");
        Assert.Equal(0, counts[0]);

        // And within one length the values spread over the whole band: 1-digit operands hit all of 0..9, and each
        // longer band's mean sits at its midpoint (within 2% of its width, several standard errors)
        Assert.Equal(10, operands.Where(x => x < 10).Distinct().Count());
        for (int d = 2; d <= maxDigits; d++)
        {
            double low = Math.Pow(10, d - 1), high = Math.Pow(10, d) - 1;
            var band = operands.Where(x => x >= low && x <= high).ToArray();
            Assert.InRange(band.Average(x => (double)x), (low + high) / 2 - 0.02 * (high - low), (low + high) / 2 + 0.02 * (high - low));
        }
    }

    // ---- verification ----

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Reference_answers_are_correct_and_every_single_token_corruption_is_not(bool reverse)
    {
        var task = new ArithmeticTask(new ArithmeticTaskConfig(4, reverse));
        var problems = task.Sample(300, new Generator(21));
        using var answers = task.Answers(problems, CPU);
        var tokens = Values(answers);
        int n = task.AnswerLength;

        for (int i = 0; i < problems.Count; i++)
        {
            var p = problems[i];
            var reference = tokens.AsSpan(i * n, n).ToArray();

            // The reference is the independently written digits of A + B and EOS, and it passes
            Assert.Equal([.. DigitIds(ExpectedAnswerDigits(p.A, p.B, 4, reverse)), 2], reference);
            Assert.True(task.IsCorrect(p, reference));
            Assert.Equal((p.A + p.B).ToString(), task.ParseAnswer(reference));

            // Any other token at any one position fails, digits and specials alike
            for (int pos = 0; pos < n; pos++)
            {
                for (long id = 0; id < ArithmeticVocabulary.Size; id++)
                {
                    if (id == reference[pos])
                        continue;
                    var corrupt = (long[])reference.Clone();
                    corrupt[pos] = id;
                    Assert.False(task.IsCorrect(p, corrupt), $"{task.Render(p)}: accepted {task.RenderTokens(corrupt)}");
                }
            }
        }
    }

    [Fact]
    public void Missing_eos_and_non_digit_tokens_fail_and_do_not_parse()
    {
        var p = new ArithmeticProblem(7, 45);   // reference "2500$" = 5 8 3 3 2

        long[] noEos = [5, 8, 3, 3, 0];          // PAD where EOS belongs
        long[] shifted = [5, 8, 3, 3, 3];        // a fifth digit instead of EOS
        long[] earlyEos = [5, 8, 2, 3, 2];       // EOS inside the digits
        long[] bos = [1, 5, 8, 3, 3];            // the right digits, one place late
        long[] plus = [5, 8, 13, 3, 2];

        foreach (var wrong in new[] { noEos, shifted, earlyEos, bos, plus })
        {
            Assert.False(Task3.IsCorrect(p, wrong));
            Assert.Null(Task3.ParseAnswer(wrong));
        }
        Assert.True(Task3.IsCorrect(p, [5, 8, 3, 3, 2]));
        Assert.Equal("0", Task3.ParseAnswer([3, 3, 3, 3, 2]));
        Assert.Equal("1998", Task3.ParseAnswer([11, 12, 12, 4, 2]));   // reversed 8991
        Assert.Null(Task3.ParseAnswer([5, 8, 3, 2]));
        Assert.Equal("answerTokens", Assert.Throws<ArgumentException>(() => Task3.IsCorrect(p, [5, 8, 3, 3])).ParamName);
    }

    [Fact]
    public void Exact_match_counts_the_fraction_of_fully_correct_rows()
    {
        // Given 8 problems, the reference answers, and 3 rows spoiled in different ways
        var problems = Task3.Sample(8, new Generator(5));
        using var reference = Task3.Answers(problems, CPU);
        using var generated = reference.clone();
        generated[1, 0] = tensor((Values(reference[1, 0])[0] - 3 + 1) % 10 + 3);   // first digit off by one
        generated[4, -1] = tensor(ArithmeticVocabulary.Pad);                          // EOS replaced by PAD
        generated[6] = full(Task3.AnswerLength, ArithmeticVocabulary.Eos, ScalarType.Int64);

        // Then 5 of 8 are right, and the reference itself scores 1
        Assert.Equal(5.0 / 8, Task3.ExactMatch(problems, generated), 12);
        Assert.Equal(1.0, Task3.ExactMatch(problems, reference));
        Assert.Equal("generatedAnswers",
            Assert.Throws<ArgumentException>(() => Task3.ExactMatch(problems, reference.narrow(0, 0, 7))).ParamName);
    }
}

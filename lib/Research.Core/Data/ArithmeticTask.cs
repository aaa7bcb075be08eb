using System.Globalization;
using Research.Experiments;
using static TorchSharp.torch;

namespace Research.Data;

/// <summary>
/// Config of the addition task: A + B for non-negative operands of up to <paramref name="MaxDigits"/> digits.
/// </summary>
/// <param name="MaxDigits">Most digits per operand, 1..<see cref="MaxSupportedDigits"/>.</param>
/// <param name="ReverseAnswer">Write the sum least-significant digit first. A left-to-right model then emits each
/// digit after the lower digits that decide its carry, so every output digit is a function of tokens it has already
/// seen; in the conventional order the first digit it must emit depends on a carry chain it has not written yet.
/// Lee et al. 2023, "Teaching arithmetic to small transformers" (arXiv:2307.03381): reversed outputs are learnt
/// from far fewer examples. Set false for the conventional most-significant-first order.</param>
public sealed record ArithmeticTaskConfig(int MaxDigits = 3, bool ReverseAnswer = true)
{
    /// <summary>Largest <see cref="MaxDigits"/>: nine-digit operands still fit an int32 and a sequence stays at 32
    /// tokens; a toy LM has no use for longer ones.</summary>
    public const int MaxSupportedDigits = 9;

    public ArithmeticTaskConfig Validated() => MaxDigits is >= 1 and <= MaxSupportedDigits ? this
        : throw new ConfigException(
            $"ArithmeticTaskConfig.MaxDigits must be in 1..{MaxSupportedDigits} (got {MaxDigits})");
}

/// <summary>One addition problem A + B.</summary>
public sealed record ArithmeticProblem(long A, long B)
{
    /// <summary>The exact answer, the reference the rule-based check compares against.</summary>
    public long Sum => A + B;
}

/// <summary>
/// Multi-digit addition as a verifiable language-modelling task: every answer is checked exactly by a rule, as
/// DeepSeek-R1's rule-based accuracy rewards check answers (R1 §2.2.2), instead of by a learnt judge.
/// <para>
/// Every sequence has the same width, so batches need no padding and greedy decoding takes a fixed
/// <see cref="AnswerLength"/> steps. With MaxDigits = N = 3 and 7 + 45:
/// <code>
/// ^ 0 0 7 + 0 4 5 = 2 5 0 0 $      ^ = BOS, $ = EOS; answer 0052 written reversed (ReverseAnswer = true)
/// |---- prompt -----|- answer -|
///   1 + (2N + 2)      (N + 1) + 1  tokens: PromptLength = 2N + 3, AnswerLength = N + 2, SequenceLength = 3N + 5
/// </code>
/// Operands are zero-padded to N digits and the sum to N + 1 (the widest sum has N + 1 digits).
/// </para>
/// </summary>
public sealed class ArithmeticTask
{
    private readonly long[] _pow10;   // _pow10[d] = 10^d, d = 0..N+1

    public ArithmeticTask(ArithmeticTaskConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        Config = config.Validated();
        _pow10 = new long[MaxDigits + 2];
        _pow10[0] = 1;
        for (int d = 1; d < _pow10.Length; d++)
            _pow10[d] = _pow10[d - 1] * 10;
    }

    public ArithmeticTaskConfig Config { get; }

    /// <summary>N: most digits per operand.</summary>
    public int MaxDigits => Config.MaxDigits;

    /// <summary>Largest operand, 10^N − 1.</summary>
    public long MaxOperand => _pow10[MaxDigits] - 1;

    /// <summary>Tokens per sequence: BOS, N + 1 + N digits with '+' and '=', N + 1 answer digits, EOS = 3N + 5.</summary>
    public int SequenceLength => 3 * MaxDigits + 5;

    /// <summary>Tokens the model is given before it answers: BOS and "A+B=" = 2N + 3.</summary>
    public int PromptLength => 2 * MaxDigits + 3;

    /// <summary>Tokens the model must produce: N + 1 answer digits and EOS = N + 2.</summary>
    public int AnswerLength => MaxDigits + 2;

    // ---- sampling ----

    /// <summary>
    /// <paramref name="count"/> problems drawn from <paramref name="generator"/>. Each operand independently first
    /// draws its digit count d uniformly from 1..N, then a value uniformly among the numbers with exactly d digits
    /// (0..9 for d = 1, 10^(d−1)..10^d − 1 otherwise). So every length has probability 1/N and a d-digit value
    /// 1/(N·(width of its band)); a uniform draw over 0..10^N − 1 would give d digits with probability about
    /// 10^(d−N), leaving short operands (and the short carries they exercise) vanishingly rare.
    /// </summary>
    /// <remarks>
    /// The numbers are drawn with <c>torch.randint</c> on the generator's device and read back to the CPU: first all
    /// digit counts ([count, 2]), then all raw values ([count, 2]). The same seed on the same kind of device gives the
    /// same problems; libtorch's CPU and CUDA generators are different algorithms, so a CPU and a CUDA generator with
    /// one seed give different (equally distributed) problems.
    /// </remarks>
    public IReadOnlyList<ArithmeticProblem> Sample(int count, Generator generator)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentNullException.ThrowIfNull(generator);
        if (count == 0)
            return [];

        // Every band width (10 for d = 1, 9·10^(d−1) for d ≥ 2) divides Lcm, so raw % width is exactly uniform.
        long lcm = MaxDigits == 1 ? 10 : 9 * _pow10[MaxDigits - 1];
        long[] digits, raw;
        using (var scope = NewDisposeScope())
        {
            var device = generator.device;
            digits = randint(1, MaxDigits + 1, [count, 2], generator: generator, device: device).cpu().data<long>().ToArray();
            raw = randint(0, lcm, [count, 2], generator: generator, device: device).cpu().data<long>().ToArray();
        }

        var problems = new ArithmeticProblem[count];
        for (int i = 0; i < count; i++)
            problems[i] = new(Operand(digits[2 * i], raw[2 * i]), Operand(digits[2 * i + 1], raw[2 * i + 1]));
        return problems;
    }

    private long Operand(long digitCount, long raw)
    {
        long low = digitCount == 1 ? 0 : _pow10[digitCount - 1];
        long width = _pow10[digitCount] - low;
        return low + raw % width;
    }

    // ---- token layout ----

    /// <summary>The full sequence [BOS] "A+B=" answer [EOS] of one problem, <see cref="SequenceLength"/> ids.</summary>
    public long[] SequenceTokens(ArithmeticProblem problem)
    {
        Check(problem, nameof(problem));
        return [ArithmeticVocabulary.Bos, .. ArithmeticVocabulary.Encode(PromptText(problem)),
            .. ArithmeticVocabulary.Encode(AnswerText(problem.Sum)), ArithmeticVocabulary.Eos];
    }

    private string PromptText(ArithmeticProblem p) => $"{Padded(p.A, MaxDigits)}+{Padded(p.B, MaxDigits)}=";

    // Sum zero-padded to N + 1 digits, reversed when the config says so: 52 with N = 3 → "0052" → "2500".
    private string AnswerText(long sum)
    {
        var text = Padded(sum, MaxDigits + 1);
        return Config.ReverseAnswer ? Reversed(text) : text;
    }

    private static string Padded(long value, int width) => value.ToString("D" + width, CultureInfo.InvariantCulture);

    private static string Reversed(string text)
    {
        var chars = text.ToCharArray();
        Array.Reverse(chars);
        return new string(chars);
    }

    /// <summary>int64 [B, <see cref="PromptLength"/>]: BOS and "A+B=" of each problem, the input of greedy generation.</summary>
    public Tensor Prompts(IReadOnlyList<ArithmeticProblem> problems, Device device) =>
        Columns(problems, 0, PromptLength, device);

    /// <summary>int64 [B, <see cref="AnswerLength"/>]: the reference answer digits and EOS of each problem.</summary>
    public Tensor Answers(IReadOnlyList<ArithmeticProblem> problems, Device device) =>
        Columns(problems, PromptLength, AnswerLength, device);

    /// <summary>Training batch of the reference sequences; see <see cref="LmBatch"/> for the layout.</summary>
    public LmBatch ToBatch(IReadOnlyList<ArithmeticProblem> problems, Device device)
    {
        using var scope = NewDisposeScope();
        var sequences = Columns(problems, 0, SequenceLength, device);   // [B, 3N + 5]
        return FromSequences(sequences);
    }

    /// <summary>
    /// Training batch of arbitrary prompts followed by arbitrary answers, e.g. a teacher's greedy generations as
    /// labels for a student. Same layout as <see cref="ToBatch(IReadOnlyList{ArithmeticProblem}, Device)"/>.
    /// </summary>
    /// <param name="prompts">int64 [B, PromptLength].</param>
    /// <param name="answers">int64 [B, AnswerLength] on the same device.</param>
    public LmBatch ToBatch(Tensor prompts, Tensor answers)
    {
        CheckTokens(prompts, nameof(prompts), -1, PromptLength, nameof(PromptLength));
        CheckTokens(answers, nameof(answers), prompts.shape[0], AnswerLength, nameof(AnswerLength));
        if (answers.device_type != prompts.device_type || answers.device_index != prompts.device_index)   // Device compares by reference
            throw new ArgumentException(
                $"ArithmeticTask.ToBatch: answers are on {answers.device} but prompts on {prompts.device}.", nameof(answers));
        using var scope = NewDisposeScope();
        var sequences = cat([prompts, answers], 1);   // [B, 3N + 5]
        return FromSequences(sequences);
    }

    // sequences: [B, S] → inputs, targets, mask: [B, S − 1], each a contiguous tensor of its own.
    private LmBatch FromSequences(Tensor sequences)
    {
        long b = sequences.shape[0], t = SequenceLength - 1;
        var inputs = sequences.narrow(1, 0, t).contiguous();
        var targets = sequences.narrow(1, 1, t).contiguous();
        // Target position j predicts token j + 1; the answer occupies tokens PromptLength..S − 1, so the mask is true
        // at j ≥ PromptLength − 1: the last AnswerLength positions.
        var mask = (arange(t, device: sequences.device) >= PromptLength - 1).unsqueeze(0).expand(b, t).contiguous();
        return new LmBatch(inputs.MoveToOuterDisposeScope(), targets.MoveToOuterDisposeScope(), mask.MoveToOuterDisposeScope());
    }

    private Tensor Columns(IReadOnlyList<ArithmeticProblem> problems, int start, int length, Device device)
    {
        ArgumentNullException.ThrowIfNull(problems);
        var data = new long[problems.Count * length];
        for (int i = 0; i < problems.Count; i++)
        {
            Check(problems[i], $"{nameof(problems)}[{i}]");
            Array.Copy(SequenceTokens(problems[i]), start, data, i * length, length);
        }
        return tensor(data, [problems.Count, length], device: device);
    }

    private void Check(ArithmeticProblem problem, string name)
    {
        ArgumentNullException.ThrowIfNull(problem, name);
        if (problem.A < 0 || problem.A > MaxOperand || problem.B < 0 || problem.B > MaxOperand)
            throw new ArgumentOutOfRangeException(name, problem,
                $"ArithmeticTask: operands must be in 0..{MaxOperand} (MaxDigits = {MaxDigits}).");
    }

    private static void CheckTokens(Tensor tokens, string name, long rows, int columns, string columnsName)
    {
        ArgumentNullException.ThrowIfNull(tokens, name);
        var expected = $"int64 [{(rows < 0 ? "B" : rows)}, {columns}] ({columnsName})";
        if (tokens.dtype != ScalarType.Int64 || tokens.dim() != 2 || tokens.shape[1] != columns || (rows >= 0 && tokens.shape[0] != rows))
            throw new ArgumentException(
                $"ArithmeticTask: {name} must be {expected}, got {tokens.dtype} [{string.Join(", ", tokens.shape)}].", name);
    }

    // ---- verification ----

    /// <summary>
    /// The rule-based check: true exactly when <paramref name="answerTokens"/> are the digits of A + B in this task's
    /// format (N + 1 digits, zero-padded, reversed if configured) followed by EOS. A wrong or missing digit, a missing
    /// EOS, or any PAD, BOS, '+' or '=' makes it false.
    /// </summary>
    /// <param name="answerTokens">The <see cref="AnswerLength"/> tokens after the prompt; another length throws.</param>
    public bool IsCorrect(ArithmeticProblem problem, ReadOnlySpan<long> answerTokens)
    {
        if (answerTokens.Length != AnswerLength)
            throw new ArgumentException(
                $"ArithmeticTask.IsCorrect: answerTokens must hold AnswerLength = {AnswerLength} tokens, got {answerTokens.Length}.",
                nameof(answerTokens));
        return answerTokens.SequenceEqual(SequenceTokens(problem).AsSpan(PromptLength));
    }

    /// <summary>
    /// The number an answer spells, in normal order without leading zeros ("52" for "2500$" when reversed), or null
    /// when the tokens are not N + 1 digits followed by EOS. For display; grading uses <see cref="IsCorrect"/>.
    /// </summary>
    public string? ParseAnswer(ReadOnlySpan<long> answerTokens)
    {
        if (answerTokens.Length != AnswerLength || answerTokens[^1] != ArithmeticVocabulary.Eos)
            return null;
        var digits = new char[AnswerLength - 1];
        for (int i = 0; i < digits.Length; i++)
        {
            if (!ArithmeticVocabulary.IsDigit(answerTokens[i]))
                return null;
            digits[i] = (char)('0' + (answerTokens[i] - ArithmeticVocabulary.Digit0));
        }
        if (Config.ReverseAnswer)
            Array.Reverse(digits);
        var number = new string(digits).TrimStart('0');
        return number.Length == 0 ? "0" : number;
    }

    /// <summary>Fraction of rows of <paramref name="generatedAnswers"/> (int64 [B, AnswerLength], any device) that
    /// <see cref="IsCorrect"/> accepts for the matching problem.</summary>
    public double ExactMatch(IReadOnlyList<ArithmeticProblem> problems, Tensor generatedAnswers)
    {
        ArgumentNullException.ThrowIfNull(problems);
        if (problems.Count == 0)
            throw new ArgumentException("ArithmeticTask.ExactMatch: problems is empty; exact match of nothing is undefined.",
                nameof(problems));
        CheckTokens(generatedAnswers, nameof(generatedAnswers), problems.Count, AnswerLength, nameof(AnswerLength));
        long[] tokens;
        using (var scope = NewDisposeScope())
            tokens = generatedAnswers.cpu().contiguous().data<long>().ToArray();
        int correct = 0;
        for (int i = 0; i < problems.Count; i++)
        {
            if (IsCorrect(problems[i], tokens.AsSpan(i * AnswerLength, AnswerLength)))
                correct++;
        }
        return (double)correct / problems.Count;
    }

    // ---- display ----

    /// <summary>Plain text of a problem and its true answer, e.g. "7+45=52".</summary>
    public string Render(ArithmeticProblem problem)
    {
        ArgumentNullException.ThrowIfNull(problem);
        return string.Create(CultureInfo.InvariantCulture, $"{problem.A}+{problem.B}={problem.Sum}");
    }

    /// <summary>Token ids as <see cref="ArithmeticVocabulary.Decode"/> shows them, e.g. "^007+045=2500$".</summary>
    public string RenderTokens(ReadOnlySpan<long> tokens)
    {
        var chars = new char[tokens.Length];
        for (int i = 0; i < tokens.Length; i++)
            chars[i] = ArithmeticVocabulary.Show(tokens[i]);
        return new string(chars);
    }
}

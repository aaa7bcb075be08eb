using System.Globalization;
using System.Text;
using Research.Data;
using Research.Experiments;
using static TorchSharp.torch;

namespace Research.Rl;

/// <summary>
/// The 19 tokens of the reasoning task: the addition task's 15 (<see cref="ArithmeticVocabulary"/>, same ids) and the
/// four markers of DeepSeek-R1's template (R1 Table 1), each one token here.
/// <code>
/// id   0..14                 15        16         17         18
///      PAD BOS EOS 0..9 + =  &lt;think&gt;  &lt;/think&gt;  &lt;answer&gt;  &lt;/answer&gt;
/// </code>
/// </summary>
public static class ReasoningVocabulary
{
    public const long ThinkOpen = ArithmeticVocabulary.Size;
    public const long ThinkClose = ThinkOpen + 1;
    public const long AnswerOpen = ThinkOpen + 2;
    public const long AnswerClose = ThinkOpen + 3;

    /// <summary>Number of token ids: the LM's vocabulary size.</summary>
    public const int Size = ArithmeticVocabulary.Size + 4;

    /// <summary>Text of one token: the markers as R1 writes them, the rest as <see cref="ArithmeticVocabulary.Decode"/>.</summary>
    public static string Show(long id) => id switch
    {
        ThinkOpen => "<think>",
        ThinkClose => "</think>",
        AnswerOpen => "<answer>",
        AnswerClose => "</answer>",
        _ => ArithmeticVocabulary.Show(id).ToString(),
    };

    /// <summary>Text of a row of ids, e.g. "&lt;think&gt;2131&lt;/think&gt;&lt;answer&gt;0132&lt;/answer&gt;$".</summary>
    public static string Render(IEnumerable<long> ids)
    {
        var text = new StringBuilder();
        foreach (var id in ids) text.Append(Show(id));
        return text.ToString();
    }
}

/// <summary>How a reference solution is written (the base model is pretrained on a mix of all three).</summary>
public enum SolutionStyle
{
    /// <summary>Template with the column-by-column scratchpad inside the think markers, then the answer.</summary>
    Scratchpad,
    /// <summary>Template with empty think markers, then the answer: R1's format without any reasoning.</summary>
    TemplateOnly,
    /// <summary>The answer digits and EOS, no markers at all.</summary>
    Bare,
}

/// <summary>Config of the reasoning task: A + B for operands of up to <paramref name="MaxDigits"/> digits.</summary>
public sealed record ReasoningTaskConfig(int MaxDigits = 3)
{
    public ReasoningTaskConfig Validated() => MaxDigits is >= 1 and <= 6 ? this
        : throw new ConfigException($"ReasoningTaskConfig.MaxDigits must be in 1..6 (got {MaxDigits})");
}

/// <summary>What the rules read from one response.</summary>
/// <param name="Answer">The number the response gives, or null when none can be parsed.</param>
/// <param name="Correct">The accuracy rule: <see cref="Answer"/> equals the exact sum.</param>
/// <param name="WellFormed">The format rule: <c>&lt;think&gt; digits* &lt;/think&gt; &lt;answer&gt; digits+ &lt;/answer&gt; EOS</c>, nothing else.</param>
/// <param name="UsesScratchpad">Well formed with at least one token between the think markers.</param>
/// <param name="Length">Tokens up to and including EOS (all of them when there is none).</param>
/// <param name="FaithfulScratchpad">The scratchpad is exactly the column-by-column working of this problem. No reward
/// reads it: it tells whether the reasoning a model writes is the computation, or only looks like it.</param>
public sealed record ResponseReading(long? Answer, bool Correct, bool WellFormed, bool UsesScratchpad, int Length, bool FaithfulScratchpad = false);

/// <summary>
/// Addition where thinking helps. The prompt is <c>^ A + B =</c> with both operands zero-padded to N digits; the
/// answer is the N + 1 digits of the sum most-significant first, so its first digit is the carry out of the whole
/// column chain, which a small model must otherwise work out before writing anything. The scratchpad lets a
/// longer response be a more accurate one: inside the think markers it writes, column by column from the right,
/// the sum digit and the carry (two tokens per column), each a function of two prompt digits and the carry just
/// written; the answer then copies the sum digits in reverse.
/// <code>
/// 47 + 85 (N = 2):  ^ 4 7 + 8 5 =   &lt;think&gt; 2 1 3 1 &lt;/think&gt; &lt;answer&gt; 1 3 2 &lt;/answer&gt; $
///                   prompt (2N + 3) scratchpad: 7+5 = 12 → "2 1", 4+8+1 = 13 → "3 1"       (3N + 6 tokens)
/// template only:    &lt;think&gt; &lt;/think&gt; &lt;answer&gt; 1 3 2 &lt;/answer&gt; $                       (N + 6)
/// bare:             1 3 2 $                                                          (N + 2)
/// </code>
/// </summary>
public sealed class ReasoningTask
{
    private readonly ArithmeticTask sampler;

    public ReasoningTask(ReasoningTaskConfig config)
    {
        Config = config.Validated();
        sampler = new ArithmeticTask(new ArithmeticTaskConfig(config.MaxDigits));
    }

    public ReasoningTaskConfig Config { get; }

    /// <summary>N: most digits per operand.</summary>
    public int MaxDigits => Config.MaxDigits;

    /// <summary>Prompt tokens: BOS, N digits, '+', N digits, '=' (the same for every problem, so batches need no padding).</summary>
    public int PromptLength => 2 * MaxDigits + 3;

    /// <summary>The longest reference solution (the scratchpad style), 3N + 6 tokens.</summary>
    public int LongestSolution => 3 * MaxDigits + 6;

    /// <summary>Problems drawn as <see cref="ArithmeticTask.Sample"/> draws them (every operand length equally likely).</summary>
    public IReadOnlyList<ArithmeticProblem> Sample(int count, Generator generator) => sampler.Sample(count, generator);

    /// <summary>Prompt ids of one problem.</summary>
    public long[] PromptTokens(ArithmeticProblem problem)
    {
        Check(problem);
        return [ArithmeticVocabulary.Bos, .. Digits(problem.A, MaxDigits), ArithmeticVocabulary.Plus, .. Digits(problem.B, MaxDigits),
            ArithmeticVocabulary.EqualsSign];
    }

    /// <summary>int64 [B, PromptLength].</summary>
    public Tensor Prompts(IReadOnlyList<ArithmeticProblem> problems, Device device)
    {
        var data = problems.SelectMany(PromptTokens).ToArray();
        return tensor(data, [problems.Count, PromptLength], device: device);
    }

    /// <summary>The correct response of <paramref name="problem"/> in <paramref name="style"/>, EOS included.</summary>
    public long[] Solution(ArithmeticProblem problem, SolutionStyle style)
    {
        Check(problem);
        var answer = Digits(problem.Sum, MaxDigits + 1);
        if (style == SolutionStyle.Bare) return [.. answer, ArithmeticVocabulary.Eos];
        var think = new List<long> { ReasoningVocabulary.ThinkOpen };
        if (style == SolutionStyle.Scratchpad)
        {
            long carry = 0, a = problem.A, b = problem.B;
            for (int column = 0; column < MaxDigits; column++, a /= 10, b /= 10)
            {
                long s = a % 10 + b % 10 + carry;
                carry = s / 10;
                think.Add(ArithmeticVocabulary.Digit((int)(s % 10)));
                think.Add(ArithmeticVocabulary.Digit((int)carry));
            }
        }
        return [.. think, ReasoningVocabulary.ThinkClose, ReasoningVocabulary.AnswerOpen, .. answer, ReasoningVocabulary.AnswerClose,
            ArithmeticVocabulary.Eos];
    }

    /// <summary>The rules' reading of every sampled row of <paramref name="responses"/> [P·G, L]; row i answers problem i / G.</summary>
    public ReadRollout ReadRows(IReadOnlyList<ArithmeticProblem> problems, int groupSize, Tensor responses)
    {
        var tokens = responses.cpu().contiguous().data<long>().ToArray();
        int width = (int)responses.shape[1];
        var readings = Enumerable.Range(0, (int)responses.shape[0]).Select(i => Read(problems[i / groupSize], tokens.AsSpan(i * width, width))).ToArray();
        return new ReadRollout(readings, tokens, width);
    }

    /// <summary>
    /// Reads a response by the rules; never throws on what a model wrote. The answer is the digits between the
    /// answer markers when the response has them, else the whole response when it is digits then EOS. A response
    /// that stops before EOS (the length limit) or holds anything else gives no answer.
    /// </summary>
    public ResponseReading Read(ArithmeticProblem problem, ReadOnlySpan<long> response)
    {
        int eos = response.IndexOf(ArithmeticVocabulary.Eos);
        int length = eos < 0 ? response.Length : eos + 1;
        if (eos < 0) return new ResponseReading(null, false, false, false, length);
        var body = response[..eos];
        long? answer = null;
        bool wellFormed = false, scratch = false;
        int open = body.IndexOf(ReasoningVocabulary.AnswerOpen);
        if (open >= 0)
        {
            int close = body[open..].IndexOf(ReasoningVocabulary.AnswerClose);
            if (close > 0) answer = Number(body.Slice(open + 1, close - 1));
            // Format: <think> digits* </think> <answer> digits+ </answer> and EOS right after.
            if (answer is not null && open >= 2 && open + close == body.Length - 1 && body.Length >= 5 && body[0] == ReasoningVocabulary.ThinkOpen
                && body[open - 1] == ReasoningVocabulary.ThinkClose && AllDigits(body[1..(open - 1)]))
            {
                wellFormed = true;
                scratch = open - 1 > 1;
            }
        }
        else if (body.IndexOfAny(ReasoningVocabulary.ThinkOpen, ReasoningVocabulary.ThinkClose, ReasoningVocabulary.AnswerClose) < 0)
            answer = Number(body);
        bool faithful = scratch && body[1..(open - 1)].SequenceEqual(Solution(problem, SolutionStyle.Scratchpad).AsSpan(1, 2 * MaxDigits));
        return new ResponseReading(answer, answer == problem.Sum, wellFormed, scratch, length, faithful);
    }

    /// <summary>Plain text of a problem, e.g. "47+85=132".</summary>
    public static string Render(ArithmeticProblem problem) =>
        string.Create(CultureInfo.InvariantCulture, $"{problem.A}+{problem.B}={problem.Sum}");

    // 1..N+1 digits → their value; anything else (empty, a marker, too long) → null.
    private long? Number(ReadOnlySpan<long> tokens)
    {
        if (tokens.Length == 0 || tokens.Length > MaxDigits + 1 || !AllDigits(tokens)) return null;
        long value = 0;
        foreach (var t in tokens) value = value * 10 + (t - ArithmeticVocabulary.Digit0);
        return value;
    }

    private static bool AllDigits(ReadOnlySpan<long> tokens)
    {
        foreach (var t in tokens) if (!ArithmeticVocabulary.IsDigit(t)) return false;
        return true;
    }

    private static IEnumerable<long> Digits(long value, int width) =>
        value.ToString("D" + width, CultureInfo.InvariantCulture).Select(c => ArithmeticVocabulary.Digit(c - '0'));

    private void Check(ArithmeticProblem problem)
    {
        ArgumentNullException.ThrowIfNull(problem);
        if (problem.A < 0 || problem.A > sampler.MaxOperand || problem.B < 0 || problem.B > sampler.MaxOperand)
            throw new ArgumentOutOfRangeException(nameof(problem), problem, $"ReasoningTask: operands must be in 0..{sampler.MaxOperand} (MaxDigits = {MaxDigits})");
    }
}

/// <summary>Sampled rows read back once: their tokens on the CPU and what the rules read in each.</summary>
public sealed record ReadRollout(ResponseReading[] Readings, long[] Tokens, int Width)
{
    /// <summary>Row <paramref name="i"/> up to and including its EOS.</summary>
    public long[] Response(int i) => Tokens[(i * Width)..(i * Width + Readings[i].Length)];
}

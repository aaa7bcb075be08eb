using System.Text;

namespace Research.Data;

/// <summary>
/// The 15 tokens of the addition task: three specials, the ten digits, '+' and '='.
/// <code>
/// id   0    1    2    3..12      13   14
///      PAD  BOS  EOS  '0'..'9'   '+'  '='
/// </code>
/// <see cref="Decode"/> shows the specials as '_' (PAD), '^' (BOS) and '$' (EOS) so a row of ids reads as one line.
/// </summary>
public static class ArithmeticVocabulary
{
    /// <summary>Padding. The task's sequences are fixed-width, so it only appears if a model emits it.</summary>
    public const long Pad = 0;
    /// <summary>Start of sequence; every prompt begins with it.</summary>
    public const long Bos = 1;
    /// <summary>End of sequence; every answer ends with it.</summary>
    public const long Eos = 2;
    /// <summary>The id of '0'; digit d is <c>Digit0 + d</c>.</summary>
    public const long Digit0 = 3;
    /// <summary>The id of '9'.</summary>
    public const long Digit9 = Digit0 + 9;
    /// <summary>The id of '+'.</summary>
    public const long Plus = 13;
    /// <summary>The id of '=' (not named <c>Equals</c>, which every type already has).</summary>
    public const long EqualsSign = 14;
    /// <summary>Number of token ids, 0..Size−1: the LM's vocabulary size.</summary>
    public const int Size = 15;

    private const char PadShown = '_', BosShown = '^', EosShown = '$';

    /// <summary>The id of digit <paramref name="digit"/> (0..9).</summary>
    public static long Digit(int digit) => digit is >= 0 and <= 9 ? Digit0 + digit
        : throw new ArgumentOutOfRangeException(nameof(digit), digit, "A digit must be in 0..9.");

    /// <summary>True for the ids of '0'..'9'.</summary>
    public static bool IsDigit(long id) => id is >= Digit0 and <= Digit9;

    /// <summary>Ids of <paramref name="text"/>, which may hold only digits, '+' and '='. Specials have no text form
    /// here; callers add BOS and EOS themselves.</summary>
    public static long[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new long[text.Length];
        for (int i = 0; i < text.Length; i++)
        {
            ids[i] = text[i] switch
            {
                >= '0' and <= '9' => Digit0 + (text[i] - '0'),
                '+' => Plus,
                '=' => EqualsSign,
                _ => throw new ArgumentException(
                    $"ArithmeticVocabulary.Encode: character '{text[i]}' (U+{(int)text[i]:X4}) at index {i} is not a digit, '+' or '='.",
                    nameof(text)),
            };
        }
        return ids;
    }

    /// <summary>Text of <paramref name="ids"/> for display: digits, '+', '=', and '_' '^' '$' for PAD, BOS, EOS.
    /// An id outside 0..Size−1 throws, since no model over this vocabulary can emit it.</summary>
    public static string Decode(IEnumerable<long> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var text = new StringBuilder();
        foreach (var id in ids)
            text.Append(Show(id));
        return text.ToString();
    }

    internal static char Show(long id) => id switch
    {
        Pad => PadShown,
        Bos => BosShown,
        Eos => EosShown,
        >= Digit0 and <= Digit9 => (char)('0' + (id - Digit0)),
        Plus => '+',
        EqualsSign => '=',
        _ => throw new ArgumentOutOfRangeException(nameof(id), id,
            $"ArithmeticVocabulary: token id {id} is outside 0..{Size - 1}."),
    };
}

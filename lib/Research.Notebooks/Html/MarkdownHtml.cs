using System.Net;
using System.Text;
using System.Text.RegularExpressions;

namespace Research.Notebooks.Html;

/// <summary>
/// A small Markdown-to-HTML converter for notebook pages: headings, paragraphs, lists, block quotes, rules, fenced
/// code, inline code, bold, italic, links and images. Everything else is HTML-escaped, so a cell cannot inject markup.
/// </summary>
internal static partial class MarkdownHtml
{
    public static string ToHtml(string markdown)
    {
        var html = new StringBuilder();
        var paragraph = new List<string>();
        string? list = null; // "ul" or "ol" while a list is open
        var lines = markdown.Replace("\r\n", "\n").Split('\n');

        void CloseParagraph()
        {
            if (paragraph.Count == 0) return;
            html.Append("<p>").Append(Inline(string.Join("\n", paragraph))).Append("</p>\n");
            paragraph.Clear();
        }
        void CloseList()
        {
            if (list is null) return;
            html.Append("</li>\n</").Append(list).Append(">\n");
            list = null;
        }

        for (int i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            var fence = Fence().Match(line);
            if (fence.Success)
            {
                CloseParagraph();
                CloseList();
                var marker = fence.Groups["fence"].Value;
                var language = fence.Groups["lang"].Value;
                var code = new List<string>();
                for (i++; i < lines.Length && !lines[i].TrimStart().StartsWith(marker, StringComparison.Ordinal); i++) code.Add(lines[i]);
                html.Append("<pre><code").Append(language.Length > 0 ? $" class=\"language-{Escape(language)}\"" : "").Append('>')
                    .Append(Escape(string.Join("\n", code))).Append("</code></pre>\n");
                continue;
            }
            if (string.IsNullOrWhiteSpace(line))
            {
                CloseParagraph();
                CloseList();
                continue;
            }
            var heading = Heading().Match(line);
            if (heading.Success)
            {
                CloseParagraph();
                CloseList();
                int level = heading.Groups["level"].Value.Length;
                html.Append($"<h{level}>").Append(Inline(heading.Groups["text"].Value.TrimEnd('#', ' '))).Append($"</h{level}>\n");
                continue;
            }
            if (Rule().IsMatch(line))
            {
                CloseParagraph();
                CloseList();
                html.Append("<hr>\n");
                continue;
            }
            var item = ListItem().Match(line);
            if (item.Success)
            {
                CloseParagraph();
                var kind = char.IsDigit(item.Groups["marker"].Value[0]) ? "ol" : "ul";
                if (list != kind)
                {
                    CloseList();
                    html.Append('<').Append(kind).Append(">\n<li>");
                    list = kind;
                }
                else html.Append("</li>\n<li>");
                html.Append(Inline(item.Groups["text"].Value));
                continue;
            }
            if (list is not null && char.IsWhiteSpace(line[0]))
            {
                html.Append('\n').Append(Inline(line.Trim())); // continuation of the list item
                continue;
            }
            var quote = Quote().Match(line);
            if (quote.Success)
            {
                CloseParagraph();
                CloseList();
                html.Append("<blockquote>").Append(Inline(quote.Groups["text"].Value)).Append("</blockquote>\n");
                continue;
            }
            CloseList();
            paragraph.Add(line.Trim());
        }
        CloseParagraph();
        CloseList();
        return html.ToString();
    }

    /// <summary>Inline markup of one block: code spans first, so nothing inside them is interpreted.</summary>
    private static string Inline(string text)
    {
        var html = new StringBuilder();
        int at = 0;
        foreach (Match code in CodeSpan().Matches(text))
        {
            html.Append(Emphasis(text[at..code.Index]));
            html.Append("<code>").Append(Escape(code.Groups["code"].Value.Trim())).Append("</code>");
            at = code.Index + code.Length;
        }
        return html.Append(Emphasis(text[at..])).ToString();
    }

    private static string Emphasis(string text)
    {
        var html = Escape(text);
        html = Image().Replace(html, m => SafeUrl(m.Groups["url"].Value) is { } url
            ? $"<img src=\"{url}\" alt=\"{m.Groups["text"].Value}\">" : m.Groups["text"].Value);
        html = Link().Replace(html, m => SafeUrl(m.Groups["url"].Value) is { } url
            ? $"<a href=\"{url}\">{m.Groups["text"].Value}</a>" : m.Groups["text"].Value);
        html = Bold().Replace(html, m => $"<strong>{m.Groups["a"].Value}{m.Groups["b"].Value}</strong>");
        html = Italic().Replace(html, m => $"<em>{m.Groups["a"].Value}{m.Groups["b"].Value}</em>");
        return html;
    }

    // Links to scripts are dropped; the text is already escaped, so quotes cannot end the attribute.
    private static string? SafeUrl(string url) =>
        url.StartsWith("javascript:", StringComparison.OrdinalIgnoreCase) || url.StartsWith("data:text", StringComparison.OrdinalIgnoreCase)
            ? null : url;

    private static string Escape(string text) => WebUtility.HtmlEncode(text);

    [GeneratedRegex(@"^\s{0,3}(?<fence>```|~~~)\s*(?<lang>[\w#+.-]*)")]
    private static partial Regex Fence();

    [GeneratedRegex(@"^\s{0,3}(?<level>#{1,6})\s+(?<text>.*)$")]
    private static partial Regex Heading();

    [GeneratedRegex(@"^\s{0,3}([-*_])(\s*\1){2,}\s*$")]
    private static partial Regex Rule();

    [GeneratedRegex(@"^\s{0,3}(?<marker>[-*+]|\d{1,9}[.)])\s+(?<text>.*)$")]
    private static partial Regex ListItem();

    [GeneratedRegex(@"^\s{0,3}>\s?(?<text>.*)$")]
    private static partial Regex Quote();

    [GeneratedRegex(@"(?<ticks>`+)(?<code>.+?)\k<ticks>")]
    private static partial Regex CodeSpan();

    [GeneratedRegex(@"!\[(?<text>[^\]]*)\]\((?<url>[^)\s]+)\)")]
    private static partial Regex Image();

    [GeneratedRegex(@"\[(?<text>[^\]]+)\]\((?<url>[^)\s]+)\)")]
    private static partial Regex Link();

    [GeneratedRegex(@"\*\*(?<a>\S(?:.*?\S)?)\*\*|(?<!\w)__(?<b>\S(?:.*?\S)?)__(?!\w)")]
    private static partial Regex Bold();

    [GeneratedRegex(@"(?<![\w*])\*(?<a>[^\s*](?:[^*]*?[^\s*])?)\*(?![\w*])|(?<!\w)_(?<b>[^\s_](?:[^_]*?[^\s_])?)_(?!\w)")]
    private static partial Regex Italic();
}

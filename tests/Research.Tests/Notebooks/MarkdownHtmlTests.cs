using Research.Notebooks.Html;
using Xunit;

namespace Research.Tests.Notebooks;

public sealed class MarkdownHtmlTests
{
    [Fact]
    public void Converts_headings_paragraphs_lists_emphasis_code_and_links()
    {
        var markdown = """
            ## Multi-head latent attention

            Keys and values are *compressed* into a **latent** vector; see [the paper](https://arxiv.org/abs/2412.19437).
            Use `kv_lora_rank`.

            1. compress
            2. expand

            - bullet

            ```csharp
            var x = a < b;
            ```
            """;

        var html = MarkdownHtml.ToHtml(markdown);

        Assert.Contains("<h2>Multi-head latent attention</h2>", html);
        Assert.Contains("<p>Keys and values are <em>compressed</em> into a <strong>latent</strong> vector; " +
                        "see <a href=\"https://arxiv.org/abs/2412.19437\">the paper</a>.\nUse <code>kv_lora_rank</code>.</p>", html);
        Assert.Contains("<ol>\n<li>compress</li>\n<li>expand</li>\n</ol>", html);
        Assert.Contains("<ul>\n<li>bullet</li>\n</ul>", html);
        Assert.Contains("<pre><code class=\"language-csharp\">var x = a &lt; b;</code></pre>", html);
    }

    [Fact]
    public void Raw_html_and_script_links_are_escaped_not_rendered()
    {
        var html = MarkdownHtml.ToHtml("<script>alert(1)</script> [click](javascript:alert(1)) `<i>`");

        Assert.DoesNotContain("<script>", html);
        Assert.DoesNotContain("href=\"javascript", html);
        Assert.Contains("&lt;script&gt;", html);
        Assert.Contains("<code>&lt;i&gt;</code>", html);
    }

    [Fact]
    public void Underscores_inside_identifiers_are_not_emphasis()
    {
        var html = MarkdownHtml.ToHtml("set kv_lora_rank and q_lora_rank");

        Assert.Equal("<p>set kv_lora_rank and q_lora_rank</p>\n", html);
    }
}

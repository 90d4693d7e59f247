using Liaoyuan.Engine.Templates;
using static Liaoyuan.Engine.Tests.Templates.TemplateTestSupport;

namespace Liaoyuan.Engine.Tests.Templates;

public sealed class JinjaWhitespaceTests
{
    private static readonly TemplateSyntaxOptions HuggingFace = TemplateSyntaxOptions.HuggingFace;

    [Theory]
    [InlineData("a  {{- 'b' -}}  c", "abc")]
    [InlineData("a \n {{- 'b' }} \n c", "ab \n c")]
    [InlineData("a\n  {%- if true -%}\n  b\n  {%- endif %}\nc", "ab\nc")]
    [InlineData("a {# note #} b", "a  b")]
    [InlineData("a {#- note -#} b", "ab")]
    [InlineData("{% if true %}\nx\n{% endif %}\ny", "\nx\n\ny")]
    [InlineData("a\n    {% if true %}\n    b\n    {% endif %}\nc", "a\n    \n    b\n    \nc")]
    public void Minus_markers_strip_whitespace_and_plain_jinja_keeps_the_rest(string template, string expected)
    {
        Assert.Equal(expected, Render(template));
    }

    [Theory]
    [InlineData("{% if true %}\nx\n{% endif %}\ny", "x\ny")]
    [InlineData("a\n    {% if true %}\n    b\n    {% endif %}\nc", "a\n    b\nc")]
    [InlineData("{% set x = 1 %}\n{{ x }}\n", "1")]
    [InlineData("  {{ 'x' }}\n", "  x")]
    [InlineData("  {%+ if true %}x{% endif %}", "  x")]
    [InlineData("{% if true +%}\nx{% endif %}", "\nx")]
    [InlineData("  {# comment #}\nx", "x")]
    [InlineData("a\r\n{% if true %}\r\nb\r\n{% endif %}\r\n", "a\nb\n")]
    public void Trim_blocks_and_lstrip_blocks_as_hugging_face_renders(string template, string expected)
    {
        Assert.Equal(expected, Render(template, options: HuggingFace));
    }

    [Fact]
    public void One_trailing_newline_is_dropped_unless_asked_to_keep_it()
    {
        Assert.Equal("a\n", Render("a\n\n"));
        Assert.Equal("a\n\n", Render("a\n\n", options: new TemplateSyntaxOptions { KeepTrailingNewline = true }));
    }

    [Fact]
    public void Text_that_looks_like_a_tag_inside_a_string_is_not_one()
    {
        Assert.Equal("%} and }}", Render("{{ '%} and }}' }}"));
        Assert.Equal("v", Render("{{ {'k': {'n': 'v'}}['k']['n'] }}"));
    }
}

using static Liaoyuan.Engine.Tests.Templates.TemplateTestSupport;

namespace Liaoyuan.Engine.Tests.Templates;

public sealed class JinjaStatementTests
{
    [Theory]
    [InlineData("{% for n in [1, 2, 3] %}{% if n == 1 %}one{% elif n == 2 %}two{% else %}many{% endif %},{% endfor %}", "one,two,many,")]
    [InlineData("{% for x in ['a', 'b', 'c'] %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }};{% endfor %}",
        "10TrueFalse33;21FalseFalse32;32FalseTrue31;")]
    [InlineData("{% for x in [] %}x{% else %}empty{% endfor %}", "empty")]
    [InlineData("{% for x in [1, 2, 3, 4] if x is even %}{{ loop.index }}:{{ x }}{{ '' if loop.last else ',' }}{% endfor %}", "1:2,2:4")]
    [InlineData("{% for k, v in {'x': 1, 'y': 'z'}.items() if k != 'y' %}{{ k }}={{ v }};{% endfor %}", "x=1;")]
    [InlineData("{% for n in [1, 2, 3, 4] %}{% if n == 2 %}{% continue %}{% endif %}{% if n == 4 %}{% break %}{% endif %}{{ n }}{% endfor %}", "13")]
    [InlineData("{% for x in ['a', 'b'] %}{{ loop.previtem is defined }}{{ loop.nextitem }}|{% endfor %}", "Falseb|True|")]
    [InlineData("{% for x in [1, 2] %}{% for y in ['a', 'b'] %}{{ loop.index }}{{ y }}{% endfor %}{{ loop.index }};{% endfor %}", "1a2b1;1a2b2;")]
    [InlineData("{% for k in {'b': 1, 'a': 2} %}{{ k }}{% endfor %}", "ba")]
    [InlineData("{% for m in msgs[::-1] %}{{ (msgs | length - 1) - loop.index0 }}{{ m }}{% endfor %}", "2c1b0a")]
    public void Control_flow(string template, string expected)
    {
        var variables = new Dictionary<string, object?> { ["msgs"] = new List<object?> { "a", "b", "c" } };
        Assert.Equal(expected, Render(template, variables));
    }

    [Theory]
    [InlineData("{% set a = 1 %}{% for x in [1] %}{% set a = 2 %}{{ a }}{% endfor %}{{ a }}", "21")]
    [InlineData("{% if true %}{% set b = 3 %}{% endif %}{{ b }}", "3")]
    [InlineData("{% set ns = namespace(total=0, seen=false) %}{% for x in [1, 2, 3] %}{% set ns.total = ns.total + x %}{% if x == 2 %}{% set ns.seen = true %}{% endif %}{% endfor %}{{ ns.total }} {{ ns.seen }}", "6 True")]
    [InlineData("{% set ns = namespace() %}{% set ns.index = 0 %}{% set ns.index = ns.index + 1 %}{{ ns.index }}", "1")]
    [InlineData("{% set a, b = 1, 2 %}{{ a }}{{ b }}", "12")]
    [InlineData("{% set greeting %}Hi {{ name }}{% endset %}[{{ greeting }}]", "[Hi Bob]")]
    [InlineData("{% set name = name ~ '!' %}{{ name }}", "Bob!")]
    public void Assignment_and_scoping(string template, string expected)
    {
        Assert.Equal(expected, Render(template, new Dictionary<string, object?> { ["name"] = "Bob" }));
    }

    [Fact]
    public void Macros_take_positional_named_and_default_arguments()
    {
        const string template =
            "{% macro tag(name, close=false) %}<{{ '/' if close }}{{ name }}>{% endmacro %}" +
            "{{ tag('b') }}x{{ tag('b', close=true) }}{{ tag(name='i') }}";

        Assert.Equal("<b>x</b><i>", Render(template));
    }

    [Fact]
    public void Macros_see_variables_of_the_template()
    {
        Assert.Equal("[Bob]", Render("{% macro who() %}[{{ name }}]{% endmacro %}{{ who() }}", new Dictionary<string, object?> { ["name"] = "Bob" }));
    }

    [Fact]
    public void Generation_markers_render_their_body()
    {
        Assert.Equal("a-b", Render("a{% generation %}-{% endgeneration %}b"));
    }
}

using Liaoyuan.Engine.Templates;
using static Liaoyuan.Engine.Tests.Templates.TemplateTestSupport;

namespace Liaoyuan.Engine.Tests.Templates;

public sealed class TemplateErrorTests
{
    [Theory]
    [InlineData("line one\n{% if x %}\nbody", 2, "unclosed")]
    [InlineData("{% for m in messages %}\n{{ m }}\n", 1, "endfor")]
    [InlineData("a\nb\n  {{ x", 3, "unclosed")]
    [InlineData("{# never closed", 1, "comment")]
    [InlineData("ok\n{% endfor %}", 2, "endfor")]
    [InlineData("{% include 'other.jinja' %}", 1, "include")]
    [InlineData("\n\n{{ 'unterminated }}", 3, "unterminated")]
    [InlineData("{{ 1 + }}", 1, "expected an expression")]
    [InlineData("{% if x %}a{% else %}b{% else %}c{% endif %}", 1, "else")]
    public void Parse_errors_carry_the_line_of_the_problem(string template, int line, string reasonFragment)
    {
        var error = Assert.Throws<TemplateException>(() => JinjaTemplate.Parse(template));

        Assert.Equal(line, error.Line);
        Assert.Contains(reasonFragment, error.Reason);
        Assert.DoesNotContain('\n', error.Message);
        Assert.Contains($"line {line}", error.Message);
    }

    [Fact]
    public void Raise_exception_becomes_a_template_exception_with_its_message()
    {
        var error = Assert.Throws<TemplateException>(() => Render("ok\n  {{ raise_exception('Roles must alternate!') }}"));

        Assert.Equal("Roles must alternate!", error.Reason);
        Assert.Equal(2, error.Line);
    }

    [Theory]
    [InlineData("{{ x | frobnicate }}", "frobnicate")]
    [InlineData("{{ x is frobnicated }}", "frobnicated")]
    [InlineData("\n{{ missing.attribute }}", "missing")]
    [InlineData("{{ missing + 1 }}", "missing")]
    [InlineData("{{ 'a' + 1 }}", "unsupported operand")]
    [InlineData("{{ 1 // 0 }}", "division by zero")]
    [InlineData("{% set x = 1 %}{% set x.y = 2 %}", "namespace")]
    [InlineData("{{ none() }}", "not callable")]
    [InlineData("{{ undefined_function() }}", "undefined_function")]
    [InlineData("{% macro loop_forever() %}{{ loop_forever() }}{% endmacro %}{{ loop_forever() }}", "nested more than")]
    public void Render_errors_are_template_exceptions(string template, string reasonFragment)
    {
        var error = Assert.Throws<TemplateException>(() => Render(template));

        Assert.Contains(reasonFragment, error.Reason);
        Assert.True(error.Line >= 1);
    }

    [Fact]
    public void Render_errors_point_at_the_failing_line()
    {
        var error = Assert.Throws<TemplateException>(() => Render("fine\nstill fine\n{{ x | frobnicate }}"));

        Assert.Equal(3, error.Line);
        Assert.Equal(8, error.Column); // the filter name
    }
}

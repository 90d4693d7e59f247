using static Liaoyuan.Engine.Tests.Templates.TemplateTestSupport;

namespace Liaoyuan.Engine.Tests.Templates;

public sealed class JinjaExpressionTests
{
    [Theory]
    [InlineData("{{ 1 + 2 * 3 }}", "7")]
    [InlineData("{{ (1 + 2) * 3 }}", "9")]
    [InlineData("{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }}", "3 -4 1 2 3.5 1024")]
    [InlineData("{{ 1.0 }} {{ 0.5 + 0.25 }} {{ 4 / 2 }}", "1.0 0.75 2.0")]
    [InlineData("{{ 'a' ~ 1 ~ none ~ true }}", "a1NoneTrue")]
    [InlineData("{{ 'ab' + 'cd' }}{{ [1] + [2] }}", "abcd[1, 2]")]
    [InlineData("{{ 'yes' if flag else 'no' }}|{{ 'x' if not flag }}", "yes|")]
    [InlineData("{{ [1, 'a', none, true] }}", "[1, 'a', None, True]")]
    [InlineData("{{ {'k': 'v', 'n': 2} }}", "{'k': 'v', 'n': 2}")]
    [InlineData("{{ [\"it's\"] }}", "[\"it's\"]")]
    [InlineData("{{ 'ab' 'cd' }}", "abcd")]
    [InlineData("{{ 'a\\tb\\n' | length }}", "4")]
    [InlineData("{{ none }} {{ true }} {{ False }}", "None True False")]
    public void Operators_and_literals_follow_python(string template, string expected)
    {
        Assert.Equal(expected, Render(template, new Dictionary<string, object?> { ["flag"] = true }));
    }

    [Theory]
    [InlineData("{{ xs[0] }}{{ xs[-1] }}{{ xs[9] }}", "15")]
    [InlineData("{{ xs[::-1] }}", "[5, 4, 3, 2, 1]")]
    [InlineData("{{ xs[1::2] }}", "[2, 4]")]
    [InlineData("{{ xs[1:] }}{{ xs[:2] }}", "[2, 3, 4, 5][1, 2]")]
    [InlineData("{{ xs[-1:0:-1] }}", "[5, 4, 3, 2]")]
    [InlineData("{{ xs[:-2:-1] }}", "[5]")]
    [InlineData("{{ 'hello'[1:3] }}{{ 'abc'[::-1] }}{{ 'abc'[-1] }}", "elcbac")]
    public void Subscripts_and_slices_follow_python(string template, string expected)
    {
        var xs = new List<object?> { 1, 2, 3, 4, 5 };
        Assert.Equal(expected, Render(template, new Dictionary<string, object?> { ["xs"] = xs }));
    }

    [Theory]
    [InlineData("{{ 'b' in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' in d }} {{ 'q' not in d }}", "True True True True")]
    [InlineData("{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 'a' == 'a' }} {{ 1 == 1.0 }} {{ 1 != 2 }}", "True False True True True")]
    [InlineData("{{ true and 'x' }} {{ 0 or 'y' }} {{ not none }} {{ not (1 == 1) }}", "x y True False")]
    [InlineData("{{ d == {'k': 1} }} {{ [1, 2] == [1, 2] }}", "True True")]
    public void Comparisons_membership_and_logic(string template, string expected)
    {
        var d = new Dictionary<string, object?> { ["k"] = 1 };
        Assert.Equal(expected, Render(template, new Dictionary<string, object?> { ["d"] = d }));
    }

    [Theory]
    [InlineData("{{ x is defined }} {{ missing is defined }} {{ missing is undefined }} {{ x is not defined }}", "True False True False")]
    [InlineData("{{ n is none }} {{ x is none }} {{ n is not none }}", "True False False")]
    [InlineData("{{ 's' is string }} {{ 1 is string }} {{ 1 is number }} {{ 1.5 is float }} {{ 1 is integer }}", "True False True True True")]
    [InlineData("{{ {} is mapping }} {{ [] is mapping }} {{ 's' is iterable }} {{ [] is iterable }} {{ 1 is iterable }}", "True False True True False")]
    [InlineData("{{ 3 is odd }} {{ 3 is even }} {{ 9 is divisibleby 3 }} {{ 10 is divisibleby(4) }}", "True False True False")]
    [InlineData("{{ f is false }} {{ f is true }} {{ f is boolean }} {{ 'a' is equalto 'a' }} {{ 2 is in [1, 2] }}", "True False True True True")]
    public void Tests_after_is(string template, string expected)
    {
        var variables = new Dictionary<string, object?> { ["x"] = 1, ["n"] = null, ["f"] = false };
        Assert.Equal(expected, Render(template, variables));
    }

    [Theory]
    [InlineData("[{{ '  x \\n' | trim }}]{{ '--x--' | trim('-') }}", "[x]x")]
    [InlineData("{{ [1, 2, 3] | length }}{{ 'abcd' | length }}{{ {'a': 1} | length }}{{ missing | length }}", "3410")]
    [InlineData("{{ 'Ab' | upper }}{{ 'Ab' | lower }}{{ 'hello world' | title }}{{ 'hELLO' | capitalize }}", "ABabHello WorldHello")]
    [InlineData("{{ [1, 2, 3] | join(', ') }}|{{ ['a', 'b'] | join }}", "1, 2, 3|ab")]
    [InlineData("{{ [1, 2, 3] | first }}{{ [1, 2, 3] | last }}{{ 'xyz' | first }}", "13x")]
    [InlineData("{{ missing | default('d') }}{{ '' | default('e', true) }}{{ '' | default('not used') }}{{ 'v' | d('x') }}", "dev")]
    [InlineData("{{ 5 | string ~ 'x' }}{{ none | string }}", "5xNone")]
    [InlineData("{{ 'a-b-c' | replace('-', '+') }}{{ 'aaa' | replace('a', 'b', 2) }}", "a+b+cbba")]
    [InlineData("{% for k, v in {'a': 1, 'b': 2} | items %}{{ k }}={{ v }};{% endfor %}", "a=1;b=2;")]
    [InlineData("{{ 'abc' | list }}{{ [3, 1, 2] | sort }}{{ [1, 2, 1] | unique | list }}{{ [1, 2] | reverse | list }}", "['a', 'b', 'c'][1, 2, 3][1, 2][2, 1]")]
    [InlineData("{{ [1, 2, 3, 4] | select('odd') | list }}{{ [1, 2, 3, 4] | reject('odd') | list }}", "[1, 3][2, 4]")]
    [InlineData("{{ ['a', 'b'] | map('upper') | join }}{{ [1, 2, 3] | sum }}{{ [4, 9, 2] | max }}{{ '42' | int + 1 }}", "AB6943")]
    [InlineData("{{ 'x\\ny' | indent(2) }}", "x\n  y")]
    public void Filters(string template, string expected)
    {
        Assert.Equal(expected, Render(template));
    }

    [Fact]
    public void Selectattr_and_map_by_attribute_pick_fields_of_mappings()
    {
        var messages = new List<object?>
        {
            new Dictionary<string, object?> { ["role"] = "user", ["content"] = "a" },
            new Dictionary<string, object?> { ["role"] = "assistant", ["content"] = "b", ["tool"] = new Dictionary<string, object?> { ["name"] = "t" } },
            new Dictionary<string, object?> { ["role"] = "user", ["content"] = "c" },
        };
        var variables = new Dictionary<string, object?> { ["msgs"] = messages };

        Assert.Equal("a,c", Render("{{ msgs | selectattr('role', 'equalto', 'user') | map(attribute='content') | join(',') }}", variables));
        Assert.Equal("b", Render("{{ msgs | rejectattr('role', 'equalto', 'user') | map(attribute='content') | join }}", variables));
        Assert.Equal("b", Render("{{ (msgs | selectattr('tool') | first).content }}", variables));
        Assert.Equal("t", Render("{{ msgs | selectattr('tool') | map(attribute='tool.name') | join }}", variables));
        Assert.Equal("c", Render("{{ (msgs | selectattr('role', 'equalto', 'user') | list)[-1].content }}", variables));
    }

    [Fact]
    public void Tojson_matches_python_json_dumps_as_used_by_hugging_face()
    {
        var variables = new Dictionary<string, object?> { ["s"] = "h\u00e9llo \"q\" \\ \n\u0001" };

        Assert.Equal("{\"a\": [1, \"x\", null, true, 1.5], \"b\": {}}", Render("{{ {'a': [1, 'x', none, true, 1.5], 'b': {}} | tojson }}"));
        // ensure_ascii=False: non-ASCII stays as is; control characters are escaped.
        Assert.Equal("\"h\u00e9llo \\\"q\\\" \\\\ \\n\\u0001\"", Render("{{ s | tojson }}", variables));
        Assert.Equal("\"h\\u00e9llo \\\"q\\\" \\\\ \\n\\u0001\"", Render("{{ s | tojson(ensure_ascii=true) }}", variables));
        Assert.Equal("{\n  \"b\": [\n    1,\n    {\n      \"c\": \"x\"\n    }\n  ],\n  \"a\": {},\n  \"e\": []\n}",
            Render("{{ {'b': [1, {'c': 'x'}], 'a': {}, 'e': []} | tojson(indent=2) }}"));
        Assert.Equal("{\"a\":1,\"b\":2}", Render("{{ {'b': 2, 'a': 1} | tojson(separators=(',', ':'), sort_keys=true) }}"));
    }

    [Theory]
    [InlineData("[{{ '  x '.strip() }}|{{ '\\n\\nx\\n'.strip('\\n') }}|{{ 'xxay'.lstrip('x') }}|{{ 'ayyx'.rstrip('xy') }}|{{ ' x'.lstrip() }}]", "[x|x|ay|a|x]")]
    [InlineData("{{ 'a</think>b'.split('</think>')[-1] }}{{ 'a</think>b'.split('</think>')[0] }}{{ 'nothing'.split('</think>') }}", "ba['nothing']")]
    [InlineData("{{ ' a  b '.split() }}{{ 'a,b,c'.split(',', 1) }}", "['a', 'b']['a', 'b,c']")]
    [InlineData("{{ 'abc'.startswith('ab') }}{{ 'abc'.endswith('x') }}{{ 'abc'.endswith(('x', 'c')) }}", "TrueFalseTrue")]
    [InlineData("{{ 'ab'.upper() }}{{ 'AB'.lower() }}{{ 'a b'.title() }}{{ 'a-b'.replace('-', '') }}{{ 'abcb'.count('b') }}", "ABabA Bab2")]
    [InlineData("{{ d.get('k') }}{{ d.get('q', 'dflt') }}{{ d.get('q') }}", "vdfltNone")]
    [InlineData("{% for k, v in d.items() %}{{ k }}={{ v }}{% endfor %}{{ d.keys() | list }}{{ d.values() | list }}", "k=v['k']['v']")]
    [InlineData("{{ d.k }}{{ d['k'] }}{{ d.missing }}{{ d['missing'] is defined }}", "vvFalse")]
    public void String_and_dict_methods(string template, string expected)
    {
        var d = new Dictionary<string, object?> { ["k"] = "v" };
        Assert.Equal(expected, Render(template, new Dictionary<string, object?> { ["d"] = d }));
    }

    [Fact]
    public void Undefined_variables_are_falsy_and_render_as_nothing()
    {
        Assert.Equal("[]", Render("[{{ missing }}]"));
        Assert.Equal("no", Render("{% if missing %}yes{% else %}no{% endif %}"));
        Assert.Equal("x", Render("{{ missing ~ 'x' }}"));
        Assert.Equal("", Render("{% for x in missing %}{{ x }}{% endfor %}"));
    }

    [Fact]
    public void Globals_range_dict_and_strftime_now()
    {
        Assert.Equal("[0, 1, 2]", Render("{{ range(3) | list }}"));
        Assert.Equal("147", Render("{% for i in range(1, 8, 3) %}{{ i }}{% endfor %}"));
        Assert.Equal("[3, 2, 1, 0]", Render("{{ range(3, -1, -1) | list }}"));
        Assert.Equal("1", Render("{{ dict(a=1).a }}"));
        Assert.Equal("07 Mar 2025|March 7, 2025|14:05:09|Friday", Render("{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%B %-d, %Y') }}|{{ strftime_now('%H:%M:%S') }}|{{ strftime_now('%A') }}"));
    }
}

using System.Text;
using System.Text.Json;
using Liaoyuan.Server.Structured;

namespace Liaoyuan.Server.Tests;

/// <summary>The JSON-schema grammar on its own: which texts it accepts, byte by byte.</summary>
public sealed class GrammarTests
{
    private static bool Accepts(Grammar grammar, string text)
    {
        var state = grammar.Start();
        foreach (byte b in Encoding.UTF8.GetBytes(text))
        {
            state = grammar.Advance(state, b);
            if (state.IsDead) return false;
        }
        return state.Accepting;
    }

    private static Grammar Compile(string schema)
    {
        using var document = JsonDocument.Parse(schema);
        return JsonSchemaGrammar.Compile(document.RootElement.Clone(), "schema");
    }

    [Theory]
    [InlineData("""{"name":"Ann","age":3,"tags":[]}""", true)]
    [InlineData("""{"name":"Ann","age":3,"tags":["a","c"],"nickname":null}""", true)]
    [InlineData("""{"name":"Ann","age":3,"tags":["a"],"nickname":"燎原"}""", true)]
    [InlineData("""{"name":"Ann","age":3.5,"tags":[]}""", false)]
    [InlineData("""{"name":"Ann","tags":[]}""", false)]
    [InlineData("""{"age":3,"name":"Ann","tags":[]}""", false)]
    [InlineData("""{"name":"Ann","age":3,"tags":["d"]}""", false)]
    [InlineData("""{"name":"Ann","age":3,"tags":[],"extra":1}""", false)]
    [InlineData("""{"name":"Ann","age":-0,"tags":["a","b","c","a"]}""", false)]
    [InlineData("""{"name":"A\"nn\u00e9","age":0,"tags":[]}""", true)]
    public void Object_schema_accepts_exactly_the_matching_compact_json(string text, bool expected)
    {
        var grammar = Compile("""
            {"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"},
             "tags":{"type":"array","items":{"enum":["a","b","c"]},"maxItems":3},
             "nickname":{"anyOf":[{"type":"string"},{"type":"null"}]}},"required":["name","age","tags"]}
            """);
        Assert.Equal(expected, Accepts(grammar, text));
    }

    [Theory]
    [InlineData("""{}""", true)]
    [InlineData("""{"a":[1,2.5e3,true,null,{"b":"c"}]}""", true)]
    [InlineData("""[1]""", false)]
    [InlineData("""{"a":01}""", false)]
    public void Without_a_schema_any_object_is_accepted(string text, bool expected) =>
        Assert.Equal(expected, Accepts(JsonSchemaGrammar.Compile(null, "response_format"), text));

    [Fact]
    public void Recursive_references_compile_and_accept_nested_values()
    {
        var grammar = Compile("""
            {"$defs":{"node":{"type":"object","properties":{"value":{"type":"integer"},"children":{"type":"array","items":{"$ref":"#/$defs/node"}}},"required":["value"]}},
             "$ref":"#/$defs/node"}
            """);
        Assert.True(Accepts(grammar, """{"value":1,"children":[{"value":2},{"value":3,"children":[]}]}"""));
        Assert.False(Accepts(grammar, """{"value":1,"children":[{"children":[]}]}"""));
    }

    [Fact]
    public void Shortest_completion_counts_the_bytes_still_required()
    {
        var grammar = Compile("""{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}""");
        var state = grammar.Start();
        Assert.Equal("""{"a":""}""".Length, Grammar.ShortestCompletion(state));
        foreach (byte b in "{\"a\":\"xy"u8) state = grammar.Advance(state, b);
        Assert.Equal(2, Grammar.ShortestCompletion(state));
    }
}

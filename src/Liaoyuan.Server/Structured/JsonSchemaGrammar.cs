using System.Text;
using System.Text.Json;
using Liaoyuan.Server.Api;

namespace Liaoyuan.Server.Structured;

/// <summary>
/// Compiles a JSON schema (the subset structured output needs) into a byte grammar of compact JSON that matches it.
/// Objects with <c>properties</c> are closed and written in the schema's property order; <c>oneOf</c> is read as
/// <c>anyOf</c>; numbers are limited to 15 digits so they parse as doubles and longs. Keywords that constrain values
/// in ways the grammar does not enforce (pattern, minimum, ...) are refused rather than silently ignored.
/// </summary>
internal sealed class JsonSchemaGrammar
{
    private static readonly HashSet<string> Annotations =
    [
        "title", "description", "default", "examples", "$schema", "$id", "$comment", "format", "deprecated",
        "readOnly", "writeOnly", "$defs", "definitions", "strict", "nullable",
    ];
    private static readonly HashSet<string> Supported =
        ["type", "enum", "const", "anyOf", "oneOf", "properties", "required", "additionalProperties", "items", "minItems", "maxItems", "$ref"];
    private static readonly string[] Types = ["string", "number", "integer", "boolean", "null", "object", "array"];
    private const int MaxDigits = 15;

    private readonly List<List<GrammarSequence>> _rules = [];
    private readonly Dictionary<string, int> _named = new(StringComparer.Ordinal);
    private readonly string _param;
    private JsonElement _root;
    private int _depth;

    private JsonSchemaGrammar(string param) => _param = param;

    /// <summary>A grammar for JSON matching <paramref name="schema"/>; with no schema, any JSON object.</summary>
    /// <exception cref="ApiException">400 naming the problem when the schema is invalid or unsupported.</exception>
    public static Grammar Compile(JsonElement? schema, string param)
    {
        var compiler = new JsonSchemaGrammar(param);
        int root = schema is { } s ? compiler.Schema(compiler._root = s, "") : compiler.AnyObject();
        return new Grammar(compiler._rules, root);
    }

    /// <summary>
    /// A grammar for a call, <c>{"name":"f","arguments":{...}}</c>, to any of the given functions; with
    /// <paramref name="several"/>, one or more such calls, each on its own line.
    /// </summary>
    public static Grammar CompileToolCalls(IReadOnlyList<(string Name, JsonElement? Parameters)> tools, bool several)
    {
        var compiler = new JsonSchemaGrammar("tools");
        int call = compiler.NewRule();
        for (int i = 0; i < tools.Count; i++)
        {
            var (name, parameters) = tools[i];
            int arguments = parameters is { } p ? compiler.Schema(compiler._root = p, $"tools[{i}].function.parameters") : compiler.AnyObject();
            compiler.Add(call, [.. Literal("{\"name\":" + JsonSerializer.Serialize(name) + ",\"arguments\":"), Ref(arguments), .. Literal("}")]);
        }
        if (!several) return new Grammar(compiler._rules, call);
        int more = compiler.NewRule();
        compiler.Add(more, [.. Literal("\n"), Ref(call), Ref(more)]);
        compiler.Add(more, []);
        return new Grammar(compiler._rules, compiler.RuleOf([Ref(call), Ref(more)]));
    }

    private int NewRule()
    {
        _rules.Add([]);
        return _rules.Count - 1;
    }

    private void Add(int rule, GrammarElement[] sequence) => _rules[rule].Add(new GrammarSequence(sequence));

    private int RuleOf(params GrammarElement[][] alternatives)
    {
        int rule = NewRule();
        foreach (var alternative in alternatives) Add(rule, alternative);
        return rule;
    }

    /// <summary>A rule with one empty alternative (RuleOf([]) would be a rule with none, matching nothing).</summary>
    private int EmptyRule()
    {
        int rule = NewRule();
        Add(rule, []);
        return rule;
    }

    private static GrammarElement Ref(int rule) => new RuleReference(rule);

    private static GrammarElement[] Literal(string text) => Encoding.UTF8.GetBytes(text).Select(b => (GrammarElement)ByteClass.Of(b)).ToArray();

    private ApiException Invalid(string where, string problem) =>
        ApiException.BadRequest($"Invalid schema at '{_param}{where}': {problem}", _param, "invalid_schema");

    private int Schema(JsonElement schema, string where)
    {
        if (++_depth > 64) throw Invalid(where, "nested too deeply");
        try
        {
            return SchemaBody(schema, where);
        }
        finally
        {
            _depth--;
        }
    }

    private int SchemaBody(JsonElement schema, string where)
    {
        if (schema.ValueKind == JsonValueKind.True) return AnyValue();
        if (schema.ValueKind != JsonValueKind.Object) throw Invalid(where, "a schema must be an object or true");
        foreach (var property in schema.EnumerateObject())
        {
            if (!Supported.Contains(property.Name) && !Annotations.Contains(property.Name))
                throw Invalid(where, $"the keyword '{property.Name}' is not supported");
        }
        if (schema.TryGetProperty("$ref", out var reference)) return Reference(reference, where);
        if (schema.TryGetProperty("const", out var constant)) return RuleOf(Literal(Compact(constant)));
        if (schema.TryGetProperty("enum", out var values))
        {
            if (values.ValueKind != JsonValueKind.Array || values.GetArrayLength() == 0) throw Invalid(where + ".enum", "must be a non-empty array");
            return RuleOf(values.EnumerateArray().Select(v => Literal(Compact(v))).ToArray());
        }
        foreach (string union in new[] { "anyOf", "oneOf" })
        {
            if (!schema.TryGetProperty(union, out var options)) continue;
            if (options.ValueKind != JsonValueKind.Array || options.GetArrayLength() == 0) throw Invalid($"{where}.{union}", "must be a non-empty array");
            return RuleOf(options.EnumerateArray().Select((option, i) => new[] { Ref(Schema(option, $"{where}.{union}[{i}]")) }).ToArray());
        }
        var types = TypesOf(schema, where);
        if (schema.TryGetProperty("nullable", out var nullable) && nullable.ValueKind == JsonValueKind.True && !types.Contains("null")) types.Add("null");
        if (types.Count == 0) return AnyValue();
        return RuleOf(types.Select(type => new[] { Ref(TypedValue(type, schema, where)) }).ToArray());
    }

    private List<string> TypesOf(JsonElement schema, string where)
    {
        if (!schema.TryGetProperty("type", out var type))
        {
            // No type: infer it from the keywords present, as the schema would be read.
            if (schema.TryGetProperty("properties", out _) || schema.TryGetProperty("additionalProperties", out _)) return ["object"];
            if (schema.TryGetProperty("items", out _)) return ["array"];
            return [];
        }
        var names = type.ValueKind switch
        {
            JsonValueKind.String => [type.GetString()!],
            JsonValueKind.Array when type.EnumerateArray().All(t => t.ValueKind == JsonValueKind.String) => type.EnumerateArray().Select(t => t.GetString()!).ToList(),
            _ => throw Invalid(where + ".type", "must be a type name or an array of type names"),
        };
        foreach (string name in names)
        {
            if (!Types.Contains(name)) throw Invalid(where + ".type", $"unknown type '{name}'");
        }
        return names;
    }

    private int TypedValue(string type, JsonElement schema, string where) => type switch
    {
        "string" => StringValue(),
        "number" => NumberValue(fraction: true),
        "integer" => NumberValue(fraction: false),
        "boolean" => RuleOf(Literal("true"), Literal("false")),
        "null" => RuleOf(Literal("null")),
        "object" => ObjectValue(schema, where),
        _ => ArrayValue(schema, where),
    };

    private int Reference(JsonElement reference, string where)
    {
        string path = reference.ValueKind == JsonValueKind.String ? reference.GetString()! : throw Invalid(where + ".$ref", "must be a string");
        if (_named.TryGetValue(path, out int known)) return known;
        var target = _root;
        if (path != "#")
        {
            if (!path.StartsWith("#/", StringComparison.Ordinal)) throw Invalid(where + ".$ref", $"only local references (#/...) are supported, got '{path}'");
            foreach (string part in path[2..].Split('/'))
            {
                string name = part.Replace("~1", "/").Replace("~0", "~");
                if (target.ValueKind != JsonValueKind.Object || !target.TryGetProperty(name, out target))
                    throw Invalid(where + ".$ref", $"'{path}' does not resolve");
            }
        }
        // The rule is named before its body is compiled, so recursive schemas refer back to it.
        int rule = NewRule();
        _named[path] = rule;
        Add(rule, [Ref(Schema(target, path))]);
        return rule;
    }

    private int ObjectValue(JsonElement schema, string where)
    {
        var properties = new List<(string Name, int Value, bool Required)>();
        var required = new HashSet<string>(StringComparer.Ordinal);
        if (schema.TryGetProperty("required", out var requiredList))
        {
            if (requiredList.ValueKind != JsonValueKind.Array || requiredList.EnumerateArray().Any(r => r.ValueKind != JsonValueKind.String))
                throw Invalid(where + ".required", "must be an array of property names");
            foreach (var name in requiredList.EnumerateArray()) required.Add(name.GetString()!);
        }
        if (schema.TryGetProperty("properties", out var declared))
        {
            if (declared.ValueKind != JsonValueKind.Object) throw Invalid(where + ".properties", "must be an object");
            foreach (var property in declared.EnumerateObject())
                properties.Add((property.Name, Schema(property.Value, $"{where}.properties.{property.Name}"), required.Contains(property.Name)));
            foreach (string name in required)
            {
                if (!properties.Any(p => p.Name == name)) throw Invalid(where + ".required", $"'{name}' is required but not among the properties");
            }
            return ClosedObject(properties);
        }
        if (required.Count > 0) throw Invalid(where + ".required", "required properties need 'properties' that describe them");
        int values = schema.TryGetProperty("additionalProperties", out var additional) && additional.ValueKind != JsonValueKind.False
            ? Schema(additional, where + ".additionalProperties")
            : additional.ValueKind == JsonValueKind.False ? -1 : AnyValue();
        return values < 0 ? RuleOf(Literal("{}")) : OpenObject(values);
    }

    /// <summary>Properties in declared order; optional ones may be left out, commas only between those written.</summary>
    private int ClosedObject(List<(string Name, int Value, bool Required)> properties)
    {
        // rest[i, c]: properties i.. where c says a comma must come before the next one written.
        var rest = new int[properties.Count + 1, 2];
        rest[properties.Count, 0] = rest[properties.Count, 1] = EmptyRule();
        for (int i = properties.Count - 1; i >= 0; i--)
        {
            var (name, value, isRequired) = properties[i];
            for (int comma = 0; comma < 2; comma++)
            {
                GrammarElement[] written = [.. comma == 1 ? Literal(",") : [], .. Literal(JsonSerializer.Serialize(name) + ":"), Ref(value), Ref(rest[i + 1, 1])];
                rest[i, comma] = isRequired ? RuleOf(written) : RuleOf(written, [Ref(rest[i + 1, comma])]);
            }
        }
        return RuleOf([.. Literal("{"), Ref(rest[0, 0]), .. Literal("}")]);
    }

    private int OpenObject(int values)
    {
        int member = RuleOf([Ref(StringValue()), .. Literal(":"), Ref(values)]);
        int more = NewRule();
        Add(more, [.. Literal(","), Ref(member), Ref(more)]);
        Add(more, []);
        return RuleOf(Literal("{}"), [.. Literal("{"), Ref(member), Ref(more), .. Literal("}")]);
    }

    private int ArrayValue(JsonElement schema, string where)
    {
        int item = schema.TryGetProperty("items", out var items) ? Schema(items, where + ".items") : AnyValue();
        int min = Count(schema, "minItems", where) ?? 0;
        int? max = Count(schema, "maxItems", where);
        if (max < min) throw Invalid(where, "maxItems is below minItems");
        if (max == 0) return RuleOf(Literal("[]"));
        // tail: the items after the first; `min - 1` required ones, then optional ones up to max (or without end).
        int tail;
        if (max is { } limit)
        {
            tail = EmptyRule();
            for (int i = limit - 1; i >= 1; i--)
            {
                GrammarElement[] next = [.. Literal(","), Ref(item), Ref(tail)];
                tail = i < min ? RuleOf(next) : RuleOf(next, []);
            }
        }
        else
        {
            tail = NewRule();
            Add(tail, [.. Literal(","), Ref(item), Ref(tail)]);
            Add(tail, []);
            for (int i = min - 1; i >= 1; i--) tail = RuleOf([.. Literal(","), Ref(item), Ref(tail)]);
        }
        GrammarElement[] nonEmpty = [.. Literal("["), Ref(item), Ref(tail), .. Literal("]")];
        return min == 0 ? RuleOf(Literal("[]"), nonEmpty) : RuleOf(nonEmpty);
    }

    private int? Count(JsonElement schema, string keyword, string where)
    {
        if (!schema.TryGetProperty(keyword, out var value)) return null;
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out int count) || count < 0 || count > 1000)
            throw Invalid($"{where}.{keyword}", "must be an integer from 0 to 1000");
        return count;
    }

    private int _anyValue = -1, _string = -1, _anyObject = -1;
    private readonly int[] _number = [-1, -1];

    /// <summary>Any JSON value; built once, recursive through arrays and objects.</summary>
    private int AnyValue()
    {
        if (_anyValue >= 0) return _anyValue;
        _anyValue = NewRule();
        int array = NewRule();
        int more = NewRule();
        Add(more, [.. Literal(","), Ref(_anyValue), Ref(more)]);
        Add(more, []);
        Add(array, Literal("[]"));
        Add(array, [.. Literal("["), Ref(_anyValue), Ref(more), .. Literal("]")]);
        foreach (int value in new[] { StringValue(), NumberValue(true), RuleOf(Literal("true"), Literal("false"), Literal("null")), array, OpenObject(_anyValue) })
            Add(_anyValue, [Ref(value)]);
        return _anyValue;
    }

    private int AnyObject() => _anyObject >= 0 ? _anyObject : _anyObject = OpenObject(AnyValue());

    /// <summary>A JSON string: printable ASCII but quote and backslash, escapes, and well-formed UTF-8 sequences.</summary>
    private int StringValue()
    {
        if (_string >= 0) return _string;
        var plain = ByteClass.Range(0x20, 0x7F).Remove((byte)'"').Remove((byte)'\\');
        var hex = ByteClass.Range((byte)'0', (byte)'9').Add((byte)'a', (byte)'f').Add((byte)'A', (byte)'F');
        var escaped = new ByteClass();
        foreach (char c in "\"\\/bfnrt") escaped.Add((byte)c, (byte)c);
        var tail = ByteClass.Range(0x80, 0xBF);
        int character = RuleOf(
            [plain],
            [ByteClass.Of((byte)'\\'), escaped],
            [ByteClass.Of((byte)'\\'), ByteClass.Of((byte)'u'), hex, hex, hex, hex],
            [ByteClass.Range(0xC2, 0xDF), tail],
            [ByteClass.Of(0xE0), ByteClass.Range(0xA0, 0xBF), tail],
            [ByteClass.Range(0xE1, 0xEC).Add(0xEE, 0xEF), tail, tail],
            [ByteClass.Of(0xED), ByteClass.Range(0x80, 0x9F), tail],
            [ByteClass.Of(0xF0), ByteClass.Range(0x90, 0xBF), tail, tail],
            [ByteClass.Range(0xF1, 0xF3), tail, tail, tail],
            [ByteClass.Of(0xF4), ByteClass.Range(0x80, 0x8F), tail, tail]);
        int characters = NewRule();
        Add(characters, [Ref(character), Ref(characters)]);
        Add(characters, []);
        return _string = RuleOf([.. Literal("\""), Ref(characters), .. Literal("\"")]);
    }

    /// <summary>-?(0|[1-9][0-9]{0,14}), then for numbers (\.[0-9]{1,15})?([eE][+-]?[0-9]{1,3})?.</summary>
    private int NumberValue(bool fraction)
    {
        int cached = _number[fraction ? 1 : 0];
        if (cached >= 0) return cached;
        var digit = ByteClass.Range((byte)'0', (byte)'9');
        int UpTo(int count)
        {
            int rule = EmptyRule();
            for (int i = 0; i < count; i++) rule = RuleOf([digit, Ref(rule)], []);
            return rule;
        }
        int sign = RuleOf(Literal("-"), []);
        int integer = RuleOf(Literal("0"), [ByteClass.Range((byte)'1', (byte)'9'), Ref(UpTo(MaxDigits - 1))]);
        if (!fraction) return _number[0] = RuleOf([Ref(sign), Ref(integer)]);
        int decimals = RuleOf([.. Literal("."), digit, Ref(UpTo(MaxDigits - 1))], []);
        int exponent = RuleOf([ByteClass.Of((byte)'e').Add((byte)'E', (byte)'E'), Ref(RuleOf(Literal("+"), Literal("-"), [])), digit, Ref(UpTo(2))], []);
        return _number[1] = RuleOf([Ref(sign), Ref(integer), Ref(decimals), Ref(exponent)]);
    }

    private static string Compact(JsonElement value) => JsonSerializer.Serialize(value);
}

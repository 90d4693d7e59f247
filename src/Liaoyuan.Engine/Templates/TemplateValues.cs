using System.Collections;
using System.Text.Json;

namespace Liaoyuan.Engine.Templates;

// Runtime values are plain CLR objects with Python/Jinja meaning:
//   null = none, bool, long = int, double = float, string,
//   List<object?> = list (and tuple), OrderedDictionary<string, object?> = dict,
//   plus the reference types below for undefined, namespace(), the loop variable and callables.

/// <summary>
/// Jinja's undefined: what a missing variable, key or attribute evaluates to. It is falsy, prints as nothing and
/// iterates as empty; using it any other way (attribute access, arithmetic) is an error naming <see cref="Description"/>.
/// </summary>
internal sealed class UndefinedValue(string description)
{
    public string Description { get; } = description;

    public override string ToString() => "";
}

/// <summary>The object made by <c>namespace(...)</c>: the one thing a <c>set</c> inside a loop may change for later iterations.</summary>
internal sealed class NamespaceValue
{
    public OrderedDictionary<string, object?> Attributes { get; } = new(StringComparer.Ordinal);
}

/// <summary>Something a template can call: a global function, a macro, or a method bound to a value.</summary>
internal interface ITemplateCallable
{
    object? Invoke(CallArguments arguments, SourcePosition position);
}

/// <summary>Evaluated call arguments, with helpers that report misuse at the call site.</summary>
internal sealed class CallArguments(IReadOnlyList<object?> positional, IReadOnlyDictionary<string, object?> named, string calleeName)
{
    public static IReadOnlyDictionary<string, object?> NoNames { get; } = new Dictionary<string, object?>();

    public IReadOnlyList<object?> Positional { get; } = positional;

    public IReadOnlyDictionary<string, object?> Named { get; } = named;

    public string CalleeName { get; } = calleeName;

    /// <summary>The argument at <paramref name="index"/> or named <paramref name="name"/>, or <paramref name="fallback"/>.</summary>
    public object? Get(int index, string name, object? fallback = null)
    {
        if (index >= 0 && index < Positional.Count) return Positional[index];
        return Named.TryGetValue(name, out var value) ? value : fallback;
    }

    public bool Has(int index, string name) => (index >= 0 && index < Positional.Count) || Named.ContainsKey(name);

    public object? Require(int index, string name, SourcePosition position) =>
        Has(index, name) ? Get(index, name) : throw position.Error($"{CalleeName}() is missing its '{name}' argument");
}

internal sealed class DelegateCallable(string name, Func<CallArguments, SourcePosition, object?> body) : ITemplateCallable
{
    public string Name { get; } = name;

    public object? Invoke(CallArguments arguments, SourcePosition position) => body(arguments, position);
}

/// <summary>The <c>loop</c> variable inside a for loop.</summary>
internal sealed class LoopContext(IReadOnlyList<object?> items)
{
    public int Index0 { get; set; }

    public int Length => items.Count;

    public object? GetAttribute(string name) => name switch
    {
        "index0" => (long)Index0,
        "index" => (long)Index0 + 1,
        "revindex0" => (long)(Length - Index0 - 1),
        "revindex" => (long)(Length - Index0),
        "first" => Index0 == 0,
        "last" => Index0 == Length - 1,
        "length" => (long)Length,
        "previtem" => Index0 > 0 ? items[Index0 - 1] : new UndefinedValue("loop.previtem"),
        "nextitem" => Index0 + 1 < Length ? items[Index0 + 1] : new UndefinedValue("loop.nextitem"),
        "cycle" => new DelegateCallable("loop.cycle", (arguments, position) =>
            arguments.Positional.Count == 0
                ? throw position.Error("loop.cycle() needs at least one value")
                : arguments.Positional[Index0 % arguments.Positional.Count]),
        _ => new UndefinedValue($"loop.{name}"),
    };
}

internal static class TemplateValueConversion
{
    /// <summary>
    /// Turns caller-supplied CLR data (primitives, strings, JsonElement, dictionaries, enumerables) into template
    /// values. Integers become long and other numbers double, matching Python's int/float split.
    /// </summary>
    public static object? FromClr(object? value) => value switch
    {
        null => null,
        string or bool or long or double => value,
        int i => (long)i,
        short s => (long)s,
        byte b => (long)b,
        uint u => (long)u,
        float f => (double)f,
        decimal m => (double)m,
        JsonElement element => FromJson(element),
        JsonDocument document => FromJson(document.RootElement),
        UndefinedValue or NamespaceValue or LoopContext or ITemplateCallable => value,
        OrderedDictionary<string, object?> dictionary => dictionary,
        IEnumerable<KeyValuePair<string, object?>> pairs => ToDictionary(pairs),
        IDictionary dictionary => ToDictionary(dictionary),
        IEnumerable sequence => sequence.Cast<object?>().Select(FromClr).ToList(),
        _ => throw new ArgumentException($"values of type {value.GetType().Name} cannot be passed to a template"),
    };

    public static object? FromJson(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Object => ToDictionary(element.EnumerateObject().Select(p => new KeyValuePair<string, object?>(p.Name, p.Value))),
        JsonValueKind.Array => element.EnumerateArray().Select(e => FromJson(e)).ToList(),
        JsonValueKind.String => element.GetString(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        JsonValueKind.Number => IsIntegerLiteral(element.GetRawText()) && element.TryGetInt64(out long integer)
            ? (object)integer // without the cast the conditional would be typed double and turn 1 into 1.0
            : element.GetDouble(),
        _ => null,
    };

    // Python's json module reads '1' as int but '1.0' and '1e3' as float; keep that distinction for tojson.
    private static bool IsIntegerLiteral(string raw) => raw.IndexOfAny(['.', 'e', 'E']) < 0;

    private static OrderedDictionary<string, object?> ToDictionary(IEnumerable<KeyValuePair<string, object?>> pairs)
    {
        var result = new OrderedDictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (key, value) in pairs) result[key] = FromClr(value);
        return result;
    }

    private static OrderedDictionary<string, object?> ToDictionary(IDictionary dictionary)
    {
        var result = new OrderedDictionary<string, object?>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in dictionary)
        {
            string key = entry.Key as string ?? throw new ArgumentException("template dictionaries need string keys");
            result[key] = FromClr(entry.Value);
        }
        return result;
    }
}

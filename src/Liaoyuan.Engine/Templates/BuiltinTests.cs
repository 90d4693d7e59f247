namespace Liaoyuan.Engine.Templates;

/// <summary>The Jinja tests used after <c>is</c>: <c>x is defined</c>, <c>x is none</c>, <c>x is string</c>, ...</summary>
internal static class BuiltinTests
{
    public static bool Apply(string name, object? value, CallArguments arguments, SourcePosition position)
    {
        object? Other() => arguments.Require(0, "other", position);
        return name switch
        {
            "defined" => value is not UndefinedValue,
            "undefined" => value is UndefinedValue,
            "none" => value is null,
            "string" => value is string,
            "number" => value is long or double,
            "integer" => value is long,
            "float" => value is double,
            "boolean" => value is bool,
            "true" => value is true,
            "false" => value is false,
            "mapping" => value is OrderedDictionary<string, object?>,
            // Strings are iterable in Python, which templates rely on (Llama 3's tool-result branch does).
            "iterable" => value is string or List<object?> or OrderedDictionary<string, object?> or UndefinedValue,
            "sequence" => value is string or List<object?> or OrderedDictionary<string, object?>,
            "callable" => value is ITemplateCallable,
            "escaped" => false,
            "lower" => value is string lower && lower == lower.ToLowerInvariant(),
            "upper" => value is string upper && upper == upper.ToUpperInvariant(),
            "even" => Integer(value, name, position) % 2 == 0,
            "odd" => Integer(value, name, position) % 2 != 0,
            "divisibleby" => Integer(value, name, position) % Integer(Other(), name, position) == 0,
            "equalto" or "eq" or "==" => ValueOperations.AreEqual(value, Other()),
            "ne" or "!=" => !ValueOperations.AreEqual(value, Other()),
            "lt" or "lessthan" or "<" => ValueOperations.Compare(value, Other(), position) < 0,
            "le" or "<=" => ValueOperations.Compare(value, Other(), position) <= 0,
            "gt" or "greaterthan" or ">" => ValueOperations.Compare(value, Other(), position) > 0,
            "ge" or ">=" => ValueOperations.Compare(value, Other(), position) >= 0,
            "in" => ValueOperations.Contains(Other(), value, position),
            "sameas" => SameAs(value, Other()),
            _ => throw position.Error($"unknown test '{name}'"),
        };
    }

    private static long Integer(object? value, string test, SourcePosition position) => value switch
    {
        long integer => integer,
        double number when number == Math.Floor(number) => (long)number,
        _ => throw position.Error($"the '{test}' test needs an integer, not {PythonFormatting.TypeName(value)}"),
    };

    // Python's 'is': identity for objects; none, booleans and small values compare by value like CPython's singletons.
    private static bool SameAs(object? value, object? other) => (value, other) switch
    {
        (null, null) => true,
        (bool a, bool b) => a == b,
        (long a, long b) => a == b,
        (string a, string b) => a == b,
        _ => ReferenceEquals(value, other),
    };
}

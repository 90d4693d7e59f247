namespace Liaoyuan.Engine.Templates;

/// <summary>Python semantics for truthiness, equality, ordering, arithmetic, membership, iteration and lookup.</summary>
internal static class ValueOperations
{
    public static bool IsTruthy(object? value) => value switch
    {
        null or UndefinedValue => false,
        bool flag => flag,
        long integer => integer != 0,
        double number => number != 0,
        string text => text.Length > 0,
        List<object?> list => list.Count > 0,
        OrderedDictionary<string, object?> dictionary => dictionary.Count > 0,
        _ => true,
    };

    /// <summary>Python treats bool as an int subclass, so True == 1 and True + 1 == 2.</summary>
    private static bool TryGetInteger(object? value, out long integer)
    {
        switch (value)
        {
            case long l: integer = l; return true;
            case bool b: integer = b ? 1 : 0; return true;
            default: integer = 0; return false;
        }
    }

    private static bool TryGetNumber(object? value, out double number)
    {
        if (value is double d)
        {
            number = d;
            return true;
        }
        bool isInteger = TryGetInteger(value, out long integer);
        number = integer;
        return isInteger;
    }

    public static bool AreEqual(object? left, object? right)
    {
        if (TryGetInteger(left, out long leftInteger) && TryGetInteger(right, out long rightInteger)) return leftInteger == rightInteger;
        if (TryGetNumber(left, out double leftNumber) && TryGetNumber(right, out double rightNumber)) return leftNumber == rightNumber;
        return (left, right) switch
        {
            (null, null) => true,
            (UndefinedValue, UndefinedValue) => true,
            (string a, string b) => string.Equals(a, b, StringComparison.Ordinal),
            (List<object?> a, List<object?> b) => a.Count == b.Count && a.Zip(b).All(pair => AreEqual(pair.First, pair.Second)),
            (OrderedDictionary<string, object?> a, OrderedDictionary<string, object?> b) =>
                a.Count == b.Count && a.All(pair => b.TryGetValue(pair.Key, out var other) && AreEqual(pair.Value, other)),
            _ => ReferenceEquals(left, right),
        };
    }

    /// <summary>Ordering for <c>&lt;</c>, <c>&gt;</c> and sorting; mixing kinds Python cannot order is an error.</summary>
    public static int Compare(object? left, object? right, SourcePosition position)
    {
        if (TryGetInteger(left, out long leftInteger) && TryGetInteger(right, out long rightInteger)) return leftInteger.CompareTo(rightInteger);
        if (TryGetNumber(left, out double leftNumber) && TryGetNumber(right, out double rightNumber)) return leftNumber.CompareTo(rightNumber);
        if (left is string a && right is string b) return string.CompareOrdinal(a, b);
        if (left is List<object?> x && right is List<object?> y)
        {
            for (int i = 0; i < Math.Min(x.Count, y.Count); i++)
            {
                if (!AreEqual(x[i], y[i])) return Compare(x[i], y[i], position);
            }
            return x.Count.CompareTo(y.Count);
        }
        throw position.Error($"cannot order a {PythonFormatting.TypeName(left)} against a {PythonFormatting.TypeName(right)}");
    }

    public static object? Arithmetic(string op, object? left, object? right, SourcePosition position)
    {
        FailIfUndefined(left, position);
        FailIfUndefined(right, position);
        if (TryGetInteger(left, out long a) && TryGetInteger(right, out long b)) return IntegerArithmetic(op, a, b, position);
        if (TryGetNumber(left, out double x) && TryGetNumber(right, out double y)) return FloatArithmetic(op, x, y, position);
        switch (op, left, right)
        {
            case ("+", string s, string t): return s + t;
            case ("+", List<object?> s, List<object?> t): return s.Concat(t).ToList();
            case ("*", string s, _) when TryGetInteger(right, out long count): return string.Concat(Enumerable.Repeat(s, (int)Math.Max(0, count)));
            case ("*", List<object?> s, _) when TryGetInteger(right, out long count): return Enumerable.Repeat(s, (int)Math.Max(0, count)).SelectMany(l => l).ToList();
        }
        throw position.Error($"unsupported operand types for {op}: '{PythonFormatting.TypeName(left)}' and '{PythonFormatting.TypeName(right)}'");
    }

    private static object IntegerArithmetic(string op, long a, long b, SourcePosition position)
    {
        if (b == 0 && op is "/" or "//" or "%") throw position.Error("division by zero");
        switch (op)
        {
            case "+": return a + b;
            case "-": return a - b;
            case "*": return a * b;
            case "/": return (double)a / b;
            case "//":
                long quotient = a / b;
                return (a % b != 0 && (a < 0) != (b < 0)) ? quotient - 1 : quotient;
            case "%":
                long remainder = a % b;
                return (remainder != 0 && (remainder < 0) != (b < 0)) ? remainder + b : remainder;
            case "**":
                return b >= 0 ? (object)(long)Math.Pow(a, b) : Math.Pow(a, b);
            default:
                throw position.Error($"unknown operator {op}");
        }
    }

    private static object FloatArithmetic(string op, double a, double b, SourcePosition position)
    {
        if (b == 0 && op is "/" or "//" or "%") throw position.Error("division by zero");
        return op switch
        {
            "+" => a + b,
            "-" => a - b,
            "*" => a * b,
            "/" => a / b,
            "//" => Math.Floor(a / b),
            "%" => a - b * Math.Floor(a / b),
            "**" => Math.Pow(a, b),
            _ => throw position.Error($"unknown operator {op}"),
        };
    }

    public static object? Negate(object? value, SourcePosition position) => value switch
    {
        double number => (object)-number,
        _ when TryGetInteger(value, out long integer) => -integer,
        _ => throw position.Error($"bad operand type for unary -: '{PythonFormatting.TypeName(value)}'"),
    };

    public static bool Contains(object? container, object? item, SourcePosition position) => container switch
    {
        string text when item is string part => text.Contains(part, StringComparison.Ordinal),
        string => throw position.Error($"'in <string>' requires a string on the left, not {PythonFormatting.TypeName(item)}"),
        List<object?> list => list.Any(element => AreEqual(element, item)),
        OrderedDictionary<string, object?> dictionary => item is string key && dictionary.ContainsKey(key),
        UndefinedValue => false,
        _ => throw position.Error($"argument of type '{PythonFormatting.TypeName(container)}' is not iterable"),
    };

    /// <summary>What <c>for</c> walks: list items, dict keys, string characters; undefined walks nothing.</summary>
    public static List<object?> Iterate(object? value, SourcePosition position) => value switch
    {
        List<object?> list => list,
        OrderedDictionary<string, object?> dictionary => dictionary.Keys.Cast<object?>().ToList(),
        string text => text.Select(c => (object?)c.ToString()).ToList(),
        UndefinedValue => [],
        _ => throw position.Error($"'{PythonFormatting.TypeName(value)}' object is not iterable"),
    };

    public static void FailIfUndefined(object? value, SourcePosition position)
    {
        if (value is UndefinedValue undefined) throw position.Error($"'{undefined.Description}' is undefined");
    }

    /// <summary>
    /// <c>target.name</c>: as in Jinja, methods and attributes come first and mapping keys second; a miss is
    /// undefined, but looking anything up on undefined itself is an error.
    /// </summary>
    public static object? GetAttribute(object? target, string name, SourcePosition position)
    {
        FailIfUndefined(target, position);
        if (BuiltinMethods.TryBind(target, name, out var method)) return method;
        return LookupKey(target, name, $"{Describe(target)}.{name}");
    }

    /// <summary><c>target[key]</c>: mapping keys and sequence positions first, methods second.</summary>
    public static object? GetItem(object? target, object? key, SourcePosition position)
    {
        FailIfUndefined(target, position);
        if (target is List<object?> or string && TryGetInteger(key, out long index))
        {
            int count = target is string s ? s.Length : ((List<object?>)target!).Count;
            long resolved = index < 0 ? index + count : index;
            if (resolved < 0 || resolved >= count) return new UndefinedValue($"{Describe(target)}[{index}]");
            return target is string text ? text[(int)resolved].ToString() : ((List<object?>)target)[(int)resolved];
        }
        if (key is not string name) return new UndefinedValue($"{Describe(target)}[{PythonFormatting.Repr(key)}]");
        object? found = LookupKey(target, name, $"{Describe(target)}['{name}']");
        if (found is UndefinedValue && BuiltinMethods.TryBind(target, name, out var method)) return method;
        return found;
    }

    private static object? LookupKey(object? target, string name, string description) => target switch
    {
        OrderedDictionary<string, object?> dictionary when dictionary.TryGetValue(name, out var value) => value,
        NamespaceValue ns when ns.Attributes.TryGetValue(name, out var value) => value,
        LoopContext loop => loop.GetAttribute(name),
        _ => new UndefinedValue(description),
    };

    private static string Describe(object? target) => target switch
    {
        OrderedDictionary<string, object?> => "dict object",
        _ => $"{PythonFormatting.TypeName(target)} object",
    };

    public static object? Slice(object? target, object? start, object? stop, object? step, SourcePosition position)
    {
        FailIfUndefined(target, position);
        long stepValue = step is null ? 1 : TryGetInteger(step, out long s) ? s : throw position.Error("slice step must be an integer");
        if (stepValue == 0) throw position.Error("slice step cannot be zero");
        int count = target switch
        {
            string text => text.Length,
            List<object?> list => list.Count,
            _ => throw position.Error($"a {PythonFormatting.TypeName(target)} cannot be sliced"),
        };
        var indices = SliceIndices(count, ResolveBound(start, position), ResolveBound(stop, position), stepValue);
        return target is string source
            ? string.Concat(indices.Select(i => source[i]))
            : indices.Select(i => ((List<object?>)target!)[i]).ToList();
    }

    private static long? ResolveBound(object? bound, SourcePosition position) =>
        bound is null ? null : TryGetInteger(bound, out long value) ? value : throw position.Error("slice indices must be integers");

    // Python's slice.indices(): clamp the bounds to the sequence, with defaults that depend on the step's sign.
    private static IEnumerable<int> SliceIndices(int count, long? start, long? stop, long step)
    {
        long Clamp(long? bound, long whenMissing, long low, long high)
        {
            if (bound is null) return whenMissing;
            long value = bound.Value < 0 ? bound.Value + count : bound.Value;
            return Math.Clamp(value, low, high);
        }

        if (step > 0)
        {
            long first = Clamp(start, 0, 0, count);
            long end = Clamp(stop, count, 0, count);
            for (long i = first; i < end; i += step) yield return (int)i;
        }
        else
        {
            long first = Clamp(start, count - 1, -1, count - 1);
            long end = Clamp(stop, -1, -1, count - 1);
            for (long i = first; i > end; i += step) yield return (int)i;
        }
    }
}

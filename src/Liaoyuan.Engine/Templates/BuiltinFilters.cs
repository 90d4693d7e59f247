using System.Globalization;
using System.Net;

namespace Liaoyuan.Engine.Templates;

/// <summary>The Jinja filters used after <c>|</c>, with the arguments and defaults Jinja gives them.</summary>
internal static class BuiltinFilters
{
    public static object? Apply(string name, object? value, CallArguments arguments, SourcePosition position)
    {
        object? Argument(int index, string argumentName, object? fallback = null) => arguments.Get(index, argumentName, fallback);

        switch (name)
        {
            case "default" or "d":
                bool useForFalsy = ValueOperations.IsTruthy(Argument(1, "boolean", false));
                bool replace = value is UndefinedValue || (useForFalsy && !ValueOperations.IsTruthy(value));
                return replace ? Argument(0, "default_value", "") : value;
            case "trim":
                return BuiltinMethods.Strip(PythonFormatting.ToStr(value), Argument(0, "chars") as string, fromStart: true, fromEnd: true);
            case "upper": return PythonFormatting.ToStr(value).ToUpperInvariant();
            case "lower": return PythonFormatting.ToStr(value).ToLowerInvariant();
            case "capitalize": return BuiltinMethods.Capitalize(PythonFormatting.ToStr(value));
            case "title": return BuiltinMethods.Title(PythonFormatting.ToStr(value));
            case "string": return PythonFormatting.ToStr(value);
            case "safe": return value;
            case "e" or "escape" or "forceescape": return WebUtility.HtmlEncode(PythonFormatting.ToStr(value));
            case "replace":
                return BuiltinMethods.Replace(PythonFormatting.ToStr(value),
                    PythonFormatting.ToStr(arguments.Require(0, "old", position)),
                    PythonFormatting.ToStr(arguments.Require(1, "new", position)), Argument(2, "count"));
            case "length" or "count": return Length(value, position);
            case "list": return ValueOperations.Iterate(value, position).ToList();
            case "first": return ValueOperations.Iterate(value, position) is { Count: > 0 } firstItems ? firstItems[0] : new UndefinedValue("first item");
            case "last": return ValueOperations.Iterate(value, position) is { Count: > 0 } lastItems ? lastItems[^1] : new UndefinedValue("last item");
            case "reverse": return value is string text ? new string(text.Reverse().ToArray()) : Enumerable.Reverse(ValueOperations.Iterate(value, position)).ToList();
            case "join": return Join(value, arguments, position);
            case "items": return Items(value, position);
            case "tojson": return ToJson(value, arguments, position);
            case "selectattr" or "rejectattr": return SelectByAttribute(value, arguments, keep: name == "selectattr", position);
            case "select" or "reject": return SelectByTest(value, arguments, keep: name == "select", position);
            case "map": return Map(value, arguments, position);
            case "attr": return ValueOperations.GetAttribute(value, PythonFormatting.ToStr(arguments.Require(0, "name", position)), position);
            case "unique": return Unique(value, position);
            case "sort": return Sort(value, arguments, position);
            case "sum": return Sum(value, arguments, position);
            case "min" or "max": return MinOrMax(value, name == "max", position);
            case "abs": return value switch { long i => (object)Math.Abs(i), double f => Math.Abs(f), _ => throw position.Error("abs needs a number") };
            case "int": return ToInteger(value, Argument(0, "default", 0L));
            case "float": return ToFloat(value, Argument(0, "default", 0.0));
            case "round": return Round(value, arguments, position);
            case "indent": return Indent(PythonFormatting.ToStr(value), arguments);
            default: throw position.Error($"unknown filter '{name}'");
        }
    }

    private static long Length(object? value, SourcePosition position) => value switch
    {
        string text => text.Length,
        List<object?> list => list.Count,
        OrderedDictionary<string, object?> dictionary => dictionary.Count,
        UndefinedValue => 0,
        _ => throw position.Error($"object of type '{PythonFormatting.TypeName(value)}' has no length"),
    };

    private static string Join(object? value, CallArguments arguments, SourcePosition position)
    {
        string separator = PythonFormatting.ToStr(arguments.Get(0, "d", ""));
        var items = ValueOperations.Iterate(value, position).AsEnumerable();
        if (arguments.Get(1, "attribute") is { } attribute) items = items.Select(item => GetPath(item, attribute, position));
        return string.Join(separator, items.Select(PythonFormatting.ToStr));
    }

    private static List<object?> Items(object? value, SourcePosition position) => value switch
    {
        OrderedDictionary<string, object?> dictionary => dictionary.Select(pair => (object?)new List<object?> { pair.Key, pair.Value }).ToList(),
        UndefinedValue => [],
        _ => throw position.Error($"items() needs a mapping, not {PythonFormatting.TypeName(value)}"),
    };

    private static string ToJson(object? value, CallArguments arguments, SourcePosition position)
    {
        string? indent = arguments.Get(0, "indent") switch
        {
            null => null,
            long spaces => new string(' ', (int)Math.Max(0, spaces)),
            string text => text,
            var other => throw position.Error($"tojson indent must be an integer or string, not {PythonFormatting.TypeName(other)}"),
        };
        (string, string)? separators = arguments.Get(-1, "separators") switch
        {
            null => null,
            List<object?> { Count: 2 } pair when pair[0] is string item && pair[1] is string key => (item, key),
            _ => throw position.Error("tojson separators must be a pair of strings"),
        };
        try
        {
            return PythonFormatting.ToJson(value, indent, ValueOperations.IsTruthy(arguments.Get(-1, "ensure_ascii", false)),
                separators, ValueOperations.IsTruthy(arguments.Get(-1, "sort_keys", false)));
        }
        catch (InvalidOperationException unserializable)
        {
            throw position.Error(unserializable.Message);
        }
    }

    /// <summary>Looks up a dotted path such as <c>"function.name"</c>; numeric parts index into lists.</summary>
    private static object? GetPath(object? item, object? path, SourcePosition position)
    {
        foreach (string part in PythonFormatting.ToStr(path).Split('.'))
        {
            object key = long.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out long index) ? index : part;
            item = ValueOperations.GetItem(item, key, position);
        }
        return item;
    }

    private static List<object?> SelectByAttribute(object? value, CallArguments arguments, bool keep, SourcePosition position)
    {
        object? attribute = arguments.Require(0, "attribute", position);
        var testArguments = new CallArguments(arguments.Positional.Skip(2).ToList(), CallArguments.NoNames, "selectattr");
        string? test = arguments.Positional.Count > 1 ? PythonFormatting.ToStr(arguments.Positional[1]) : null;
        return ValueOperations.Iterate(value, position)
            .Where(item =>
            {
                object? field = GetPath(item, attribute, position);
                bool passes = test is null ? ValueOperations.IsTruthy(field) : BuiltinTests.Apply(test, field, testArguments, position);
                return passes == keep;
            })
            .ToList();
    }

    private static List<object?> SelectByTest(object? value, CallArguments arguments, bool keep, SourcePosition position)
    {
        string? test = arguments.Positional.Count > 0 ? PythonFormatting.ToStr(arguments.Positional[0]) : null;
        var testArguments = new CallArguments(arguments.Positional.Skip(1).ToList(), CallArguments.NoNames, "select");
        return ValueOperations.Iterate(value, position)
            .Where(item => (test is null ? ValueOperations.IsTruthy(item) : BuiltinTests.Apply(test, item, testArguments, position)) == keep)
            .ToList();
    }

    private static List<object?> Map(object? value, CallArguments arguments, SourcePosition position)
    {
        var items = ValueOperations.Iterate(value, position);
        if (arguments.Named.TryGetValue("attribute", out var attribute))
        {
            bool hasDefault = arguments.Named.TryGetValue("default", out var fallback);
            return items.Select(item => GetPath(item, attribute, position) is UndefinedValue && hasDefault
                ? fallback
                : GetPath(item, attribute, position)).ToList();
        }
        string filter = PythonFormatting.ToStr(arguments.Require(0, "filter", position));
        var filterArguments = new CallArguments(arguments.Positional.Skip(1).ToList(), arguments.Named, filter);
        return items.Select(item => Apply(filter, item, filterArguments, position)).ToList();
    }

    private static List<object?> Unique(object? value, SourcePosition position)
    {
        var unique = new List<object?>();
        foreach (var item in ValueOperations.Iterate(value, position))
        {
            if (!unique.Any(seen => ValueOperations.AreEqual(seen, item))) unique.Add(item);
        }
        return unique;
    }

    private static List<object?> Sort(object? value, CallArguments arguments, SourcePosition position)
    {
        bool descending = ValueOperations.IsTruthy(arguments.Get(0, "reverse", false));
        bool caseSensitive = ValueOperations.IsTruthy(arguments.Get(1, "case_sensitive", false));
        object? attribute = arguments.Get(2, "attribute");
        object? Key(object? item)
        {
            object? key = attribute is null ? item : GetPath(item, attribute, position);
            return !caseSensitive && key is string text ? text.ToLowerInvariant() : key;
        }
        var sorted = ValueOperations.Iterate(value, position).ToList();
        // List.Sort is not stable; order by index as a tie-break to keep Python's stable sort.
        var indexed = sorted.Select((item, index) => (item, index)).ToList();
        indexed.Sort((a, b) =>
        {
            int order = ValueOperations.Compare(Key(a.item), Key(b.item), position);
            if (descending) order = -order;
            return order != 0 ? order : a.index.CompareTo(b.index);
        });
        return indexed.Select(pair => pair.item).ToList();
    }

    private static object? Sum(object? value, CallArguments arguments, SourcePosition position)
    {
        object? attribute = arguments.Get(0, "attribute");
        object? total = arguments.Get(1, "start", 0L);
        foreach (var item in ValueOperations.Iterate(value, position))
        {
            total = ValueOperations.Arithmetic("+", total, attribute is null ? item : GetPath(item, attribute, position), position);
        }
        return total;
    }

    private static object? MinOrMax(object? value, bool max, SourcePosition position)
    {
        var items = ValueOperations.Iterate(value, position);
        if (items.Count == 0) return new UndefinedValue(max ? "max of an empty sequence" : "min of an empty sequence");
        object? best = items[0];
        foreach (var item in items.Skip(1))
        {
            int order = ValueOperations.Compare(item, best, position);
            if (max ? order > 0 : order < 0) best = item;
        }
        return best;
    }

    private static object? ToInteger(object? value, object? fallback) => value switch
    {
        long integer => integer,
        bool flag => flag ? 1L : 0L,
        double number => (long)Math.Truncate(number),
        string text when long.TryParse(text.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long parsed) => parsed,
        string text when double.TryParse(text.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double parsed) => (long)Math.Truncate(parsed),
        _ => fallback,
    };

    private static object? ToFloat(object? value, object? fallback) => value switch
    {
        double number => number,
        long integer => (double)integer,
        bool flag => flag ? 1.0 : 0.0,
        string text when double.TryParse(text.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double parsed) => parsed,
        _ => fallback,
    };

    private static double Round(object? value, CallArguments arguments, SourcePosition position)
    {
        double number = ToFloat(value, null) as double? ?? throw position.Error("round needs a number");
        int precision = (int)(arguments.Get(0, "precision", 0L) as long? ?? 0);
        double scale = Math.Pow(10, precision);
        return PythonFormatting.ToStr(arguments.Get(1, "method", "common")) switch
        {
            "ceil" => Math.Ceiling(number * scale) / scale,
            "floor" => Math.Floor(number * scale) / scale,
            _ => Math.Round(number, precision, MidpointRounding.AwayFromZero),
        };
    }

    private static string Indent(string text, CallArguments arguments)
    {
        string indentation = arguments.Get(0, "width", 4L) is long width ? new string(' ', (int)width) : PythonFormatting.ToStr(arguments.Get(0, "width"));
        bool indentFirst = ValueOperations.IsTruthy(arguments.Get(1, "first", false));
        bool indentBlank = ValueOperations.IsTruthy(arguments.Get(2, "blank", false));
        var lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            if (i == 0 && !indentFirst) continue;
            if (lines[i].Length == 0 && !indentBlank) continue;
            lines[i] = indentation + lines[i];
        }
        return string.Join('\n', lines);
    }
}

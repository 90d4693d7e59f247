using System.Globalization;
using System.Text;

namespace Liaoyuan.Engine.Templates;

/// <summary>
/// Text forms of template values as Python prints them, since chat templates were written against Python's
/// Jinja: <c>str()</c> for output, <c>repr()</c> inside printed containers, and <c>json.dumps</c> for <c>tojson</c>.
/// </summary>
internal static class PythonFormatting
{
    public static string ToStr(object? value) => value switch
    {
        null => "None",
        string text => text,
        bool flag => flag ? "True" : "False",
        long integer => integer.ToString(CultureInfo.InvariantCulture),
        double number => FloatRepr(number),
        UndefinedValue => "",
        List<object?> list => "[" + string.Join(", ", list.Select(Repr)) + "]",
        OrderedDictionary<string, object?> dictionary =>
            "{" + string.Join(", ", dictionary.Select(pair => Repr(pair.Key) + ": " + Repr(pair.Value))) + "}",
        NamespaceValue => "<Namespace>",
        LoopContext => "<LoopContext>",
        _ => "<function>",
    };

    public static string Repr(object? value) => value is string text ? StringRepr(text) : ToStr(value);

    private static string StringRepr(string text)
    {
        char quote = text.Contains('\'') && !text.Contains('"') ? '"' : '\'';
        var builder = new StringBuilder(text.Length + 2).Append(quote);
        foreach (char c in text)
        {
            switch (c)
            {
                case '\\': builder.Append(@"\\"); break;
                case '\n': builder.Append(@"\n"); break;
                case '\r': builder.Append(@"\r"); break;
                case '\t': builder.Append(@"\t"); break;
                default:
                    if (c == quote) builder.Append('\\').Append(c);
                    else if (c < 0x20 || c == 0x7f) builder.Append(CultureInfo.InvariantCulture, $"\\x{(int)c:x2}");
                    else builder.Append(c);
                    break;
            }
        }
        return builder.Append(quote).ToString();
    }

    /// <summary>Python's float repr: shortest round-trip digits, always a '.0' on whole numbers below 1e16.</summary>
    public static string FloatRepr(double value)
    {
        if (double.IsNaN(value)) return "nan";
        if (double.IsPositiveInfinity(value)) return "inf";
        if (double.IsNegativeInfinity(value)) return "-inf";
        if (value == Math.Floor(value) && Math.Abs(value) < 1e16)
        {
            string whole = value.ToString("F0", CultureInfo.InvariantCulture);
            if (whole == "0" && double.IsNegative(value)) whole = "-0";
            return whole + ".0";
        }
        return value.ToString("R", CultureInfo.InvariantCulture).Replace('E', 'e');
    }

    /// <summary>
    /// <c>json.dumps(value, ensure_ascii=..., indent=..., separators=..., sort_keys=...)</c>. Without an indent the
    /// separators are <c>", "</c> and <c>": "</c>; with one, items end in <c>","</c> and a newline.
    /// </summary>
    public static string ToJson(object? value, string? indent = null, bool ensureAscii = false,
        (string Item, string Key)? separators = null, bool sortKeys = false)
    {
        var options = new JsonWriting(indent, ensureAscii, separators ?? (indent is null ? (", ", ": ") : (",", ": ")), sortKeys);
        var builder = new StringBuilder();
        WriteJson(builder, value, options, 0);
        return builder.ToString();
    }

    private sealed record JsonWriting(string? Indent, bool EnsureAscii, (string Item, string Key) Separators, bool SortKeys);

    private static void WriteJson(StringBuilder builder, object? value, JsonWriting options, int depth)
    {
        switch (value)
        {
            case null: builder.Append("null"); break;
            case bool flag: builder.Append(flag ? "true" : "false"); break;
            case long integer: builder.Append(integer.ToString(CultureInfo.InvariantCulture)); break;
            case double number:
                builder.Append(double.IsNaN(number) ? "NaN"
                    : double.IsPositiveInfinity(number) ? "Infinity"
                    : double.IsNegativeInfinity(number) ? "-Infinity"
                    : FloatRepr(number));
                break;
            case string text: WriteJsonString(builder, text, options.EnsureAscii); break;
            case List<object?> list:
                WriteJsonContainer(builder, '[', ']', list, options, depth, (item, d) => WriteJson(builder, item, options, d));
                break;
            case OrderedDictionary<string, object?> dictionary:
                IEnumerable<KeyValuePair<string, object?>> pairs = options.SortKeys
                    ? dictionary.OrderBy(pair => pair.Key, StringComparer.Ordinal)
                    : dictionary;
                WriteJsonContainer(builder, '{', '}', pairs.ToList(), options, depth, (pair, d) =>
                {
                    WriteJsonString(builder, pair.Key, options.EnsureAscii);
                    builder.Append(options.Separators.Key);
                    WriteJson(builder, pair.Value, options, d);
                });
                break;
            case UndefinedValue undefined:
                throw new InvalidOperationException($"{undefined.Description} is undefined and cannot be converted to JSON");
            default:
                throw new InvalidOperationException($"a {TypeName(value)} cannot be converted to JSON");
        }
    }

    private static void WriteJsonContainer<T>(StringBuilder builder, char open, char close, IReadOnlyList<T> items,
        JsonWriting options, int depth, Action<T, int> writeItem)
    {
        builder.Append(open);
        if (items.Count == 0)
        {
            builder.Append(close);
            return;
        }
        for (int i = 0; i < items.Count; i++)
        {
            if (i > 0) builder.Append(options.Separators.Item);
            if (options.Indent is not null) AppendNewlineAndIndent(builder, options.Indent, depth + 1);
            writeItem(items[i], depth + 1);
        }
        if (options.Indent is not null) AppendNewlineAndIndent(builder, options.Indent, depth);
        builder.Append(close);
    }

    private static void AppendNewlineAndIndent(StringBuilder builder, string indent, int depth)
    {
        builder.Append('\n');
        for (int i = 0; i < depth; i++) builder.Append(indent);
    }

    private static void WriteJsonString(StringBuilder builder, string text, bool ensureAscii)
    {
        builder.Append('"');
        foreach (char c in text)
        {
            switch (c)
            {
                case '"': builder.Append("\\\""); break;
                case '\\': builder.Append(@"\\"); break;
                case '\n': builder.Append(@"\n"); break;
                case '\r': builder.Append(@"\r"); break;
                case '\t': builder.Append(@"\t"); break;
                case '\b': builder.Append(@"\b"); break;
                case '\f': builder.Append(@"\f"); break;
                default:
                    if (c < 0x20 || (ensureAscii && c > 0x7f))
                        builder.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
                    else
                        builder.Append(c);
                    break;
            }
        }
        builder.Append('"');
    }

    /// <summary>Python's type name for a value, for error messages that read like the Jinja ones.</summary>
    public static string TypeName(object? value) => value switch
    {
        null => "NoneType",
        string => "str",
        bool => "bool",
        long => "int",
        double => "float",
        List<object?> => "list",
        OrderedDictionary<string, object?> => "dict",
        UndefinedValue => "Undefined",
        NamespaceValue => "Namespace",
        LoopContext => "LoopContext",
        _ => "function",
    };
}

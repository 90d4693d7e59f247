using System.Globalization;
using System.Text;

namespace Liaoyuan.Engine.Templates;

/// <summary>
/// Functions every template can call. Besides Jinja's own (<c>range</c>, <c>namespace</c>, <c>dict</c>) these are
/// the two Hugging Face adds for chat templates: <c>raise_exception</c> and <c>strftime_now</c>.
/// </summary>
internal static class BuiltinGlobals
{
    public static Dictionary<string, object?> Create(Func<DateTimeOffset> clock) => new(StringComparer.Ordinal)
    {
        ["range"] = new DelegateCallable("range", Range),
        ["namespace"] = new DelegateCallable("namespace", MakeNamespace),
        ["dict"] = new DelegateCallable("dict", (arguments, _) => ToDictionary(arguments.Named)),
        ["raise_exception"] = new DelegateCallable("raise_exception", (arguments, position) =>
            throw position.Error(PythonFormatting.ToStr(arguments.Get(0, "message", "raise_exception() was called")))),
        ["strftime_now"] = new DelegateCallable("strftime_now", (arguments, position) =>
            Strftime(clock(), PythonFormatting.ToStr(arguments.Require(0, "format", position)))),
    };

    private static List<object?> Range(CallArguments arguments, SourcePosition position)
    {
        var bounds = arguments.Positional.Select(value => value is long integer
            ? integer
            : throw position.Error($"range() needs integers, not {PythonFormatting.TypeName(value)}")).ToList();
        (long start, long stop, long step) = bounds.Count switch
        {
            1 => (0L, bounds[0], 1L),
            2 => (bounds[0], bounds[1], 1L),
            3 => (bounds[0], bounds[1], bounds[2]),
            _ => throw position.Error("range() takes one to three arguments"),
        };
        if (step == 0) throw position.Error("range() step cannot be zero");
        var values = new List<object?>();
        for (long i = start; step > 0 ? i < stop : i > stop; i += step)
        {
            if (values.Count >= 1_000_000) throw position.Error("range() is too long");
            values.Add(i);
        }
        return values;
    }

    private static NamespaceValue MakeNamespace(CallArguments arguments, SourcePosition position)
    {
        var ns = new NamespaceValue();
        foreach (var initial in arguments.Positional)
        {
            if (initial is not OrderedDictionary<string, object?> dictionary) throw position.Error("namespace() takes a mapping or keyword arguments");
            foreach (var (key, value) in dictionary) ns.Attributes[key] = value;
        }
        foreach (var (key, value) in arguments.Named) ns.Attributes[key] = value;
        return ns;
    }

    private static OrderedDictionary<string, object?> ToDictionary(IReadOnlyDictionary<string, object?> named)
    {
        var dictionary = new OrderedDictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (key, value) in named) dictionary[key] = value;
        return dictionary;
    }

    private static readonly string[] MonthNames = CultureInfo.InvariantCulture.DateTimeFormat.MonthNames;
    private static readonly string[] DayNames = CultureInfo.InvariantCulture.DateTimeFormat.DayNames;

    /// <summary>Python's strftime for the directives chat templates use, in the C locale; <c>%-d</c> drops padding as glibc does.</summary>
    public static string Strftime(DateTimeOffset time, string format)
    {
        var builder = new StringBuilder();
        for (int i = 0; i < format.Length; i++)
        {
            if (format[i] != '%' || i + 1 >= format.Length)
            {
                builder.Append(format[i]);
                continue;
            }
            bool unpadded = format[i + 1] == '-' && i + 2 < format.Length;
            if (unpadded) i++;
            char directive = format[++i];
            string Number(int value, int width) =>
                unpadded ? value.ToString(CultureInfo.InvariantCulture) : value.ToString(CultureInfo.InvariantCulture).PadLeft(width, '0');
            builder.Append(directive switch
            {
                'd' => Number(time.Day, 2),
                'e' => time.Day.ToString(CultureInfo.InvariantCulture).PadLeft(2, ' '),
                'm' => Number(time.Month, 2),
                'Y' => time.Year.ToString(CultureInfo.InvariantCulture),
                'y' => Number(time.Year % 100, 2),
                'b' or 'h' => MonthNames[time.Month - 1][..3],
                'B' => MonthNames[time.Month - 1],
                'a' => DayNames[(int)time.DayOfWeek][..3],
                'A' => DayNames[(int)time.DayOfWeek],
                'H' => Number(time.Hour, 2),
                'I' => Number(time.Hour % 12 == 0 ? 12 : time.Hour % 12, 2),
                'M' => Number(time.Minute, 2),
                'S' => Number(time.Second, 2),
                'p' => time.Hour < 12 ? "AM" : "PM",
                'j' => Number(time.DayOfYear, 3),
                '%' => "%",
                _ => "%" + directive,
            });
        }
        return builder.ToString();
    }
}

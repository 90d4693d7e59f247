namespace Liaoyuan.Engine.Templates;

/// <summary>
/// Python methods templates call on strings (<c>.strip()</c>, <c>.split()</c>, <c>.startswith()</c>, ...) and
/// dicts (<c>.get()</c>, <c>.items()</c>, ...). Mutating methods are left out, as in Hugging Face's sandbox.
/// </summary>
internal static class BuiltinMethods
{
    public static bool TryBind(object? target, string name, out ITemplateCallable method)
    {
        Func<CallArguments, SourcePosition, object?>? body = target switch
        {
            string text => StringMethod(text, name),
            OrderedDictionary<string, object?> dictionary => DictMethod(dictionary, name),
            _ => null,
        };
        method = body is null ? null! : new DelegateCallable(name, body);
        return body is not null;
    }

    private static Func<CallArguments, SourcePosition, object?>? StringMethod(string text, string name) => name switch
    {
        "strip" => (a, p) => Strip(text, Characters(a, p), fromStart: true, fromEnd: true),
        "lstrip" => (a, p) => Strip(text, Characters(a, p), fromStart: true, fromEnd: false),
        "rstrip" => (a, p) => Strip(text, Characters(a, p), fromStart: false, fromEnd: true),
        "split" => (a, p) => Split(text, a.Get(0, "sep") as string, MaxSplit(a, p), p),
        "startswith" => (a, p) => Affixes(a.Require(0, "prefix", p), p).Any(prefix => text.StartsWith(prefix, StringComparison.Ordinal)),
        "endswith" => (a, p) => Affixes(a.Require(0, "suffix", p), p).Any(suffix => text.EndsWith(suffix, StringComparison.Ordinal)),
        "upper" => (_, _) => text.ToUpperInvariant(),
        "lower" => (_, _) => text.ToLowerInvariant(),
        "title" => (_, _) => Title(text),
        "capitalize" => (_, _) => Capitalize(text),
        "replace" => (a, p) => Replace(text, StringArgument(a, 0, "old", p), StringArgument(a, 1, "new", p), a.Get(2, "count")),
        "find" => (a, p) => (long)text.IndexOf(StringArgument(a, 0, "sub", p), StringComparison.Ordinal),
        "count" => (a, p) => (long)CountOccurrences(text, StringArgument(a, 0, "sub", p)),
        "join" => (a, p) => string.Join(text, ValueOperations.Iterate(a.Require(0, "iterable", p), p).Select(PythonFormatting.ToStr)),
        "isdigit" => (_, _) => text.Length > 0 && text.All(char.IsDigit),
        "isalpha" => (_, _) => text.Length > 0 && text.All(char.IsLetter),
        "isspace" => (_, _) => text.Length > 0 && text.All(char.IsWhiteSpace),
        _ => null,
    };

    private static Func<CallArguments, SourcePosition, object?>? DictMethod(OrderedDictionary<string, object?> dictionary, string name) => name switch
    {
        "get" => (a, p) => a.Require(0, "key", p) is string key && dictionary.TryGetValue(key, out var value) ? value : a.Get(1, "default"),
        "items" => (_, _) => dictionary.Select(pair => (object?)new List<object?> { pair.Key, pair.Value }).ToList(),
        "keys" => (_, _) => dictionary.Keys.Cast<object?>().ToList(),
        "values" => (_, _) => dictionary.Values.ToList(),
        _ => null,
    };

    private static string? Characters(CallArguments arguments, SourcePosition position) => arguments.Get(0, "chars") switch
    {
        null => null,
        string characters => characters,
        var other => throw position.Error($"strip arguments must be strings, not {PythonFormatting.TypeName(other)}"),
    };

    public static string Strip(string text, string? characters, bool fromStart, bool fromEnd)
    {
        bool ShouldStrip(char c) => characters is null ? char.IsWhiteSpace(c) : characters.Contains(c);
        int start = 0, end = text.Length;
        if (fromStart) while (start < end && ShouldStrip(text[start])) start++;
        if (fromEnd) while (end > start && ShouldStrip(text[end - 1])) end--;
        return text[start..end];
    }

    private static long MaxSplit(CallArguments arguments, SourcePosition position) => arguments.Get(1, "maxsplit", -1L) switch
    {
        long limit => limit,
        var other => throw position.Error($"maxsplit must be an integer, not {PythonFormatting.TypeName(other)}"),
    };

    private static List<object?> Split(string text, string? separator, long maxSplit, SourcePosition position)
    {
        if (separator is null)
        {
            // Python's split() with no separator splits on runs of whitespace and never yields empty parts.
            var words = new List<object?>();
            int i = 0;
            while (i < text.Length)
            {
                while (i < text.Length && char.IsWhiteSpace(text[i])) i++;
                if (i >= text.Length) break;
                if (maxSplit >= 0 && words.Count == maxSplit)
                {
                    words.Add(text[i..].TrimEnd());
                    break;
                }
                int start = i;
                while (i < text.Length && !char.IsWhiteSpace(text[i])) i++;
                words.Add(text[start..i]);
            }
            return words;
        }
        if (separator.Length == 0) throw position.Error("empty separator");
        var parts = new List<object?>();
        int from = 0;
        while (maxSplit < 0 || parts.Count < maxSplit)
        {
            int at = text.IndexOf(separator, from, StringComparison.Ordinal);
            if (at < 0) break;
            parts.Add(text[from..at]);
            from = at + separator.Length;
        }
        parts.Add(text[from..]);
        return parts;
    }

    private static IEnumerable<string> Affixes(object? argument, SourcePosition position) => argument switch
    {
        string affix => [affix],
        List<object?> choices => choices.Select(choice => choice as string
            ?? throw position.Error("startswith/endswith choices must be strings")),
        _ => throw position.Error($"startswith/endswith needs a string, not {PythonFormatting.TypeName(argument)}"),
    };

    private static string StringArgument(CallArguments arguments, int index, string name, SourcePosition position) =>
        arguments.Require(index, name, position) as string
        ?? throw position.Error($"{arguments.CalleeName}() needs a string for '{name}'");

    public static string Replace(string text, string oldValue, string newValue, object? count)
    {
        long limit = count is long l ? l : -1;
        if (limit < 0) return oldValue.Length == 0 ? text : text.Replace(oldValue, newValue, StringComparison.Ordinal);
        var builder = new System.Text.StringBuilder();
        int from = 0;
        for (long done = 0; done < limit; done++)
        {
            int at = text.IndexOf(oldValue, from, StringComparison.Ordinal);
            if (at < 0 || oldValue.Length == 0) break;
            builder.Append(text, from, at - from).Append(newValue);
            from = at + oldValue.Length;
        }
        return builder.Append(text, from, text.Length - from).ToString();
    }

    private static int CountOccurrences(string text, string part)
    {
        if (part.Length == 0) return text.Length + 1;
        int count = 0;
        for (int at = text.IndexOf(part, StringComparison.Ordinal); at >= 0; at = text.IndexOf(part, at + part.Length, StringComparison.Ordinal)) count++;
        return count;
    }

    public static string Title(string text)
    {
        var characters = text.ToCharArray();
        bool previousIsLetter = false;
        for (int i = 0; i < characters.Length; i++)
        {
            char c = characters[i];
            characters[i] = previousIsLetter ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c);
            previousIsLetter = char.IsLetter(c);
        }
        return new string(characters);
    }

    public static string Capitalize(string text) =>
        text.Length == 0 ? text : char.ToUpperInvariant(text[0]) + text[1..].ToLowerInvariant();
}

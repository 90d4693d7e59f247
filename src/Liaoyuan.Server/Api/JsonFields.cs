using System.Text.Json;

namespace Liaoyuan.Server.Api;

/// <summary>
/// Typed reads of request fields that fail with a 400 naming the field, so a wrong type never surfaces as a
/// server error. Absent and null fields read as "not given".
/// </summary>
internal static class JsonFields
{
    public static bool Has(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null;

    public static JsonElement? Optional(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;

    public static string? String(JsonElement obj, string name, string? param = null)
    {
        if (Optional(obj, name) is not { } value) return null;
        return value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : throw WrongType(param ?? name, "a string", value);
    }

    public static string RequiredString(JsonElement obj, string name, string? param = null) =>
        String(obj, name, param) ?? throw ApiException.BadRequest($"'{param ?? name}' is required", param ?? name, "missing_required_parameter");

    public static bool? Bool(JsonElement obj, string name)
    {
        if (Optional(obj, name) is not { } value) return null;
        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw WrongType(name, "a boolean", value),
        };
    }

    public static double? Number(JsonElement obj, string name, double min, double max)
    {
        if (Optional(obj, name) is not { } value) return null;
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetDouble(out double number))
            throw WrongType(name, "a number", value);
        if (!(number >= min && number <= max))
            throw ApiException.BadRequest($"'{name}' must be between {min} and {max}, got {number}", name, "invalid_value");
        return number;
    }

    public static long? Integer(JsonElement obj, string name, long min, long max)
    {
        if (Optional(obj, name) is not { } value) return null;
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt64(out long number))
            throw WrongType(name, "an integer", value);
        if (number < min || number > max)
            throw ApiException.BadRequest($"'{name}' must be between {min} and {max}, got {number}", name, "invalid_value");
        return number;
    }

    /// <summary>A string or an array of strings (OpenAI's <c>stop</c>), as a list.</summary>
    public static IReadOnlyList<string> StringOrStrings(JsonElement obj, string name, int maxCount)
    {
        if (Optional(obj, name) is not { } value) return [];
        if (value.ValueKind == JsonValueKind.String) return [value.GetString()!];
        if (value.ValueKind != JsonValueKind.Array) throw WrongType(name, "a string or an array of strings", value);
        var result = new List<string>();
        foreach (var item in value.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String) throw WrongType($"{name}[{result.Count}]", "a string", item);
            result.Add(item.GetString()!);
        }
        if (result.Count > maxCount) throw ApiException.BadRequest($"'{name}' takes at most {maxCount} entries, got {result.Count}", name, "invalid_value");
        return result;
    }

    public static ApiException WrongType(string param, string expected, JsonElement value) =>
        ApiException.BadRequest($"'{param}' must be {expected}, got {Describe(value.ValueKind)}", param, "invalid_type");

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };
}

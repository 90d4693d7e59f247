namespace Liaoyuan.Engine.Gguf;

/// <summary>Typed metadata lookups that name the key and the file when a value is missing or of the wrong type.</summary>
public static class GgufMetadataExtensions
{
    public static bool Has(this GgufFile file, string key) => file.Metadata.ContainsKey(key);

    public static string? GetStringOrNull(this GgufFile file, string key) =>
        file.Metadata.TryGetValue(key, out var v) ? v.Value as string ?? throw WrongType(file, key, "a string", v) : null;

    public static string GetString(this GgufFile file, string key) =>
        file.GetStringOrNull(key) ?? throw Missing(file, key);

    public static long? GetIntegerOrNull(this GgufFile file, string key)
    {
        if (!file.Metadata.TryGetValue(key, out var v)) return null;
        return v.Value switch
        {
            byte b => b,
            sbyte sb => sb,
            ushort us => us,
            short s => s,
            uint ui => ui,
            int i => i,
            ulong ul when ul <= long.MaxValue => (long)ul,
            long l => l,
            _ => throw WrongType(file, key, "an integer", v),
        };
    }

    public static long GetInteger(this GgufFile file, string key) => file.GetIntegerOrNull(key) ?? throw Missing(file, key);

    public static int GetInt32(this GgufFile file, string key, int? fallback = null)
    {
        long? value = file.GetIntegerOrNull(key);
        if (value is null) return fallback ?? throw Missing(file, key);
        if (value is < int.MinValue or > int.MaxValue)
            throw new GgufFormatException($"{file.Path}: metadata '{key}' = {value} is out of range");
        return (int)value.Value;
    }

    public static float? GetFloatOrNull(this GgufFile file, string key)
    {
        if (!file.Metadata.TryGetValue(key, out var v)) return null;
        return v.Value switch
        {
            float f => f,
            double d => (float)d,
            _ => throw WrongType(file, key, "a float", v),
        };
    }

    public static float GetFloat(this GgufFile file, string key, float? fallback = null) =>
        file.GetFloatOrNull(key) ?? fallback ?? throw Missing(file, key);

    public static bool GetBool(this GgufFile file, string key, bool fallback)
    {
        if (!file.Metadata.TryGetValue(key, out var v)) return fallback;
        return v.Value as bool? ?? throw WrongType(file, key, "a bool", v);
    }

    public static T[]? GetArrayOrNull<T>(this GgufFile file, string key)
    {
        if (!file.Metadata.TryGetValue(key, out var v)) return null;
        return v.Value as T[] ?? throw WrongType(file, key, $"an array of {typeof(T).Name}", v);
    }

    private static GgufFormatException Missing(GgufFile file, string key) =>
        new($"{file.Path}: required metadata '{key}' is missing");

    private static GgufFormatException WrongType(GgufFile file, string key, string expected, GgufValue actual) =>
        new($"{file.Path}: metadata '{key}' should be {expected} but is {actual.Type}" +
            (actual.Type == GgufValueType.Array ? $" of {actual.ElementType}" : ""));
}

using System.Globalization;
using System.Text;

namespace Liaoyuan.Engine.Gguf;

/// <summary>Metadata value types as numbered in the GGUF specification.</summary>
public enum GgufValueType : uint
{
    UInt8 = 0,
    Int8 = 1,
    UInt16 = 2,
    Int16 = 3,
    UInt32 = 4,
    Int32 = 5,
    Float32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    UInt64 = 10,
    Int64 = 11,
    Float64 = 12,
}

/// <summary>
/// One metadata value. Scalars are held boxed; arrays keep their element type and hold a typed CLR array
/// (byte[], sbyte[], ushort[], short[], uint[], int[], float[], bool[], string[], ulong[], long[], double[])
/// or, for arrays of arrays, <see cref="GgufValue"/>[].
/// </summary>
public sealed class GgufValue
{
    public GgufValueType Type { get; }

    /// <summary>For arrays, the type of the elements; otherwise equal to <see cref="Type"/>.</summary>
    public GgufValueType ElementType { get; }

    public object Value { get; }

    public GgufValue(GgufValueType type, object value, GgufValueType elementType)
    {
        Type = type;
        Value = value;
        ElementType = type == GgufValueType.Array ? elementType : type;
    }

    public static GgufValue Of(string value) => new(GgufValueType.String, value, GgufValueType.String);
    public static GgufValue Of(uint value) => new(GgufValueType.UInt32, value, GgufValueType.UInt32);
    public static GgufValue Of(int value) => new(GgufValueType.Int32, value, GgufValueType.Int32);
    public static GgufValue Of(ulong value) => new(GgufValueType.UInt64, value, GgufValueType.UInt64);
    public static GgufValue Of(long value) => new(GgufValueType.Int64, value, GgufValueType.Int64);
    public static GgufValue Of(float value) => new(GgufValueType.Float32, value, GgufValueType.Float32);
    public static GgufValue Of(double value) => new(GgufValueType.Float64, value, GgufValueType.Float64);
    public static GgufValue Of(bool value) => new(GgufValueType.Bool, value, GgufValueType.Bool);
    public static GgufValue Of(string[] values) => new(GgufValueType.Array, values, GgufValueType.String);
    public static GgufValue Of(float[] values) => new(GgufValueType.Array, values, GgufValueType.Float32);
    public static GgufValue Of(int[] values) => new(GgufValueType.Array, values, GgufValueType.Int32);
    public static GgufValue Of(uint[] values) => new(GgufValueType.Array, values, GgufValueType.UInt32);
    public static GgufValue Of(GgufValue[] values, GgufValueType elementType = GgufValueType.Array) =>
        new(GgufValueType.Array, values, elementType);

    /// <summary>Number of elements of an array value; 1 for a scalar.</summary>
    public int Count => Value is Array a ? a.Length : 1;

    /// <summary>A short human-readable rendering, with long arrays elided.</summary>
    public string Describe(int maxItems = 8)
    {
        if (Value is string s) return Quote(s);
        if (Value is Array array)
        {
            var shown = new List<string>();
            for (int i = 0; i < Math.Min(array.Length, maxItems); i++)
            {
                object? item = array.GetValue(i);
                shown.Add(item switch
                {
                    string str => Quote(str),
                    GgufValue nested => nested.Describe(maxItems),
                    IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
                    _ => item?.ToString() ?? "null",
                });
            }
            string more = array.Length > maxItems ? $", ... ({array.Length} items)" : "";
            return "[" + string.Join(", ", shown) + more + "]";
        }
        return Value is IFormattable formattable
            ? formattable.ToString(null, CultureInfo.InvariantCulture)
            : Value.ToString() ?? "";
    }

    private static string Quote(string s)
    {
        var sb = new StringBuilder("\"");
        foreach (char c in s.Length > 120 ? s[..120] + "…" : s)
        {
            sb.Append(c switch { '\n' => "\\n", '\r' => "\\r", '\t' => "\\t", '"' => "\\\"", _ => c.ToString() });
        }
        return sb.Append('"').ToString();
    }
}

using System.Buffers.Binary;
using System.Text;

namespace Liaoyuan.Engine.Gguf;

/// <summary>
/// A bounds-checked little-endian cursor over the mapped file. Every read checks the remaining length first,
/// so a truncated or corrupted header ends in a <see cref="GgufFormatException"/>, never a read past the end.
/// </summary>
internal unsafe ref struct GgufHeaderReader
{
    private readonly byte* _base;
    private readonly long _length;
    private readonly string _file;

    public long Offset { get; private set; }

    public GgufHeaderReader(byte* basePointer, long length, string file)
    {
        _base = basePointer;
        _length = length;
        _file = file;
        Offset = 0;
    }

    public long Remaining => _length - Offset;

    public GgufFormatException Error(string what, long offset) => new($"{_file}: {what} (at byte offset {offset})");

    private ReadOnlySpan<byte> Take(long count, string what)
    {
        if (count < 0 || count > Remaining)
            throw Error($"{what} needs {count} bytes but only {Math.Max(Remaining, 0)} remain; the file is truncated or corrupted", Offset);
        var span = new ReadOnlySpan<byte>(_base + Offset, (int)count);
        Offset += count;
        return span;
    }

    public byte U8(string what) => Take(1, what)[0];
    public ushort U16(string what) => BinaryPrimitives.ReadUInt16LittleEndian(Take(2, what));
    public uint U32(string what) => BinaryPrimitives.ReadUInt32LittleEndian(Take(4, what));
    public ulong U64(string what) => BinaryPrimitives.ReadUInt64LittleEndian(Take(8, what));
    public float F32(string what) => BinaryPrimitives.ReadSingleLittleEndian(Take(4, what));
    public double F64(string what) => BinaryPrimitives.ReadDoubleLittleEndian(Take(8, what));

    public string String(string what)
    {
        long start = Offset;
        ulong length = U64(what + " length");
        if (length > (ulong)Remaining)
            throw Error($"{what} claims {length} bytes but only {Remaining} remain", start);
        var bytes = Take((long)length, what);
        try
        {
            return Utf8Strict.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw Error($"{what} is not valid UTF-8", start);
        }
    }

    private static readonly UTF8Encoding Utf8Strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public GgufValue Value(GgufValueType type, string key, int depth)
    {
        long start = Offset;
        string what = $"metadata '{key}'";
        switch (type)
        {
            case GgufValueType.UInt8: return new GgufValue(type, U8(what), type);
            case GgufValueType.Int8: return new GgufValue(type, (sbyte)U8(what), type);
            case GgufValueType.UInt16: return new GgufValue(type, U16(what), type);
            case GgufValueType.Int16: return new GgufValue(type, (short)U16(what), type);
            case GgufValueType.UInt32: return new GgufValue(type, U32(what), type);
            case GgufValueType.Int32: return new GgufValue(type, (int)U32(what), type);
            case GgufValueType.Float32: return new GgufValue(type, F32(what), type);
            case GgufValueType.UInt64: return new GgufValue(type, U64(what), type);
            case GgufValueType.Int64: return new GgufValue(type, (long)U64(what), type);
            case GgufValueType.Float64: return new GgufValue(type, F64(what), type);
            case GgufValueType.Bool:
                byte b = U8(what);
                if (b > 1) throw Error($"{what} is a bool with value {b}", start);
                return new GgufValue(type, b == 1, type);
            case GgufValueType.String: return new GgufValue(type, String(what), type);
            case GgufValueType.Array: return Array(key, depth);
            default: throw Error($"{what} has unknown value type {(uint)type}", start);
        }
    }

    private GgufValue Array(string key, int depth)
    {
        long start = Offset;
        if (depth > 8) throw Error($"metadata '{key}' nests arrays deeper than 8 levels", start);
        var elementType = (GgufValueType)U32($"metadata '{key}' array element type");
        ulong count = U64($"metadata '{key}' array length");
        int minElementBytes = elementType switch
        {
            GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
            GgufValueType.UInt16 or GgufValueType.Int16 => 2,
            GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
            GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 or GgufValueType.String => 8,
            GgufValueType.Array => 12,
            _ => throw Error($"metadata '{key}' is an array of unknown value type {(uint)elementType}", start),
        };
        if (count > (ulong)(Remaining / minElementBytes))
            throw Error($"metadata '{key}' array claims {count} elements, more than the {Remaining} remaining bytes can hold", start);
        int n = (int)count;
        string what = $"metadata '{key}'";
        object values;
        switch (elementType)
        {
            case GgufValueType.UInt8: values = Take(n, what).ToArray(); break;
            case GgufValueType.Int8: values = Fill(n, ref this, (ref GgufHeaderReader r) => (sbyte)r.U8(what)); break;
            case GgufValueType.Bool: values = Fill(n, ref this, (ref GgufHeaderReader r) => r.U8(what) != 0); break;
            case GgufValueType.UInt16: values = Fill(n, ref this, (ref GgufHeaderReader r) => r.U16(what)); break;
            case GgufValueType.Int16: values = Fill(n, ref this, (ref GgufHeaderReader r) => (short)r.U16(what)); break;
            case GgufValueType.UInt32: values = Fill(n, ref this, (ref GgufHeaderReader r) => r.U32(what)); break;
            case GgufValueType.Int32: values = Fill(n, ref this, (ref GgufHeaderReader r) => (int)r.U32(what)); break;
            case GgufValueType.Float32: values = Fill(n, ref this, (ref GgufHeaderReader r) => r.F32(what)); break;
            case GgufValueType.UInt64: values = Fill(n, ref this, (ref GgufHeaderReader r) => r.U64(what)); break;
            case GgufValueType.Int64: values = Fill(n, ref this, (ref GgufHeaderReader r) => (long)r.U64(what)); break;
            case GgufValueType.Float64: values = Fill(n, ref this, (ref GgufHeaderReader r) => r.F64(what)); break;
            case GgufValueType.String: values = Fill(n, ref this, (ref GgufHeaderReader r) => r.String(what)); break;
            default: values = Fill(n, ref this, (ref GgufHeaderReader r) => r.Array(key, depth + 1)); break;
        }
        return new GgufValue(GgufValueType.Array, values, elementType);
    }

    private delegate T ElementReader<T>(ref GgufHeaderReader reader);

    private static T[] Fill<T>(int count, ref GgufHeaderReader reader, ElementReader<T> read)
    {
        var result = new T[count];
        for (int i = 0; i < count; i++) result[i] = read(ref reader);
        return result;
    }
}

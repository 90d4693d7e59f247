using System.Text;
using Liaoyuan.Operators.Tensors;

namespace Liaoyuan.Engine.Gguf;

/// <summary>
/// Builds a GGUF v3 file: metadata in insertion order, then tensor infos, then aligned tensor data.
/// Used by export, quantization and by tests that write their own models.
/// </summary>
public sealed class GgufWriter
{
    private readonly List<KeyValuePair<string, GgufValue>> _metadata = [];
    // A tensor's bytes are either held (Data) or produced while writing (Stream), so a quantizer can write
    // one tensor at a time without keeping the whole output model in memory.
    private readonly List<(string Name, GgmlType Type, long[] Shape, long Size, ReadOnlyMemory<byte> Data, Action<Stream>? Stream)> _tensors = [];

    public uint Alignment { get; set; } = GgufFile.DefaultAlignment;

    public GgufWriter Set(string key, GgufValue value)
    {
        int existing = _metadata.FindIndex(kv => kv.Key == key);
        if (existing >= 0) _metadata[existing] = new(key, value);
        else _metadata.Add(new(key, value));
        if (key == "general.alignment" && value.Value is uint a) Alignment = a;
        return this;
    }

    public GgufWriter Set(string key, string value) => Set(key, GgufValue.Of(value));
    public GgufWriter Set(string key, uint value) => Set(key, GgufValue.Of(value));
    public GgufWriter Set(string key, int value) => Set(key, GgufValue.Of(value));
    public GgufWriter Set(string key, float value) => Set(key, GgufValue.Of(value));
    public GgufWriter Set(string key, bool value) => Set(key, GgufValue.Of(value));
    public GgufWriter Set(string key, string[] value) => Set(key, GgufValue.Of(value));
    public GgufWriter Set(string key, float[] value) => Set(key, GgufValue.Of(value));
    public GgufWriter Set(string key, int[] value) => Set(key, GgufValue.Of(value));

    /// <summary>Adds a tensor whose bytes are already in <paramref name="type"/>'s block layout.</summary>
    public GgufWriter AddTensor(string name, GgmlType type, long[] shape, ReadOnlyMemory<byte> data)
    {
        long expected = TensorBytes(name, type, shape);
        if (data.Length != expected)
            throw new ArgumentException($"tensor '{name}' of type {type} and shape [{string.Join(", ", shape)}] needs {expected} bytes, got {data.Length}");
        _tensors.Add((name, type, shape, expected, data, null));
        return this;
    }

    /// <summary>
    /// Adds a tensor whose bytes <paramref name="writeData"/> writes to the stream when <see cref="Write(Stream)"/>
    /// reaches it; it must write exactly the tensor's size in <paramref name="type"/>'s layout.
    /// </summary>
    public GgufWriter AddTensor(string name, GgmlType type, long[] shape, Action<Stream> writeData)
    {
        _tensors.Add((name, type, shape, TensorBytes(name, type, shape), default, writeData));
        return this;
    }

    private long TensorBytes(string name, GgmlType type, long[] shape)
    {
        if (_tensors.Any(t => t.Name == name)) throw new ArgumentException($"tensor '{name}' added twice");
        long elements = shape.Aggregate(1L, (a, b) => a * b);
        return GgmlTypeInfo.RowBytes(type, shape[0]) * (elements / shape[0]);
    }

    /// <summary>
    /// Writes to <paramref name="path"/> through a ".partial" file renamed at the end, so a failure (or a
    /// cancellation inside a streamed tensor) never leaves a truncated model under the final name.
    /// </summary>
    public void Write(string path)
    {
        string temporary = path + ".partial";
        try
        {
            using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            {
                Write(stream);
            }
            File.Move(temporary, path, overwrite: true);
        }
        catch
        {
            try { File.Delete(temporary); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    public void Write(Stream stream)
    {
        using var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        w.Write(GgufFile.Magic);
        w.Write(3u);
        w.Write((ulong)_tensors.Count);
        w.Write((ulong)_metadata.Count);
        foreach (var (key, value) in _metadata)
        {
            WriteString(w, key);
            w.Write((uint)value.Type);
            WriteValue(w, value);
        }
        long offset = 0;
        var offsets = new List<long>();
        foreach (var (name, type, shape, size, _, _) in _tensors)
        {
            WriteString(w, name);
            w.Write((uint)shape.Length);
            foreach (long extent in shape) w.Write((ulong)extent);
            w.Write((uint)type);
            w.Write((ulong)offset);
            offsets.Add(offset);
            offset = GgufFile.AlignUp(offset + size, Alignment);
        }
        w.Flush();
        Pad(w, GgufFile.AlignUp(stream.Position, Alignment) - stream.Position);
        long dataStart = stream.Position;
        for (int i = 0; i < _tensors.Count; i++)
        {
            Pad(w, dataStart + offsets[i] - stream.Position);
            var tensor = _tensors[i];
            if (tensor.Stream is null)
            {
                w.Write(tensor.Data.Span);
                continue;
            }
            w.Flush();
            long start = stream.Position;
            tensor.Stream(stream);
            if (stream.Position - start != tensor.Size)
                throw new InvalidOperationException($"tensor '{tensor.Name}' wrote {stream.Position - start} bytes, expected {tensor.Size}");
        }
        Pad(w, GgufFile.AlignUp(stream.Position - dataStart, Alignment) + dataStart - stream.Position);
    }

    private static void Pad(BinaryWriter w, long count)
    {
        for (long i = 0; i < count; i++) w.Write((byte)0);
    }

    private static void WriteString(BinaryWriter w, string s)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }

    private static void WriteValue(BinaryWriter w, GgufValue value)
    {
        if (value.Type == GgufValueType.Array)
        {
            var array = (Array)value.Value;
            w.Write((uint)value.ElementType);
            w.Write((ulong)array.Length);
            foreach (object? item in array)
            {
                if (item is GgufValue nested) WriteValue(w, nested);
                else WriteScalar(w, value.ElementType, item!);
            }
            return;
        }
        WriteScalar(w, value.Type, value.Value);
    }

    private static void WriteScalar(BinaryWriter w, GgufValueType type, object v)
    {
        switch (type)
        {
            case GgufValueType.UInt8: w.Write(Convert.ToByte(v)); break;
            case GgufValueType.Int8: w.Write(Convert.ToSByte(v)); break;
            case GgufValueType.UInt16: w.Write(Convert.ToUInt16(v)); break;
            case GgufValueType.Int16: w.Write(Convert.ToInt16(v)); break;
            case GgufValueType.UInt32: w.Write(Convert.ToUInt32(v)); break;
            case GgufValueType.Int32: w.Write(Convert.ToInt32(v)); break;
            case GgufValueType.Float32: w.Write(Convert.ToSingle(v)); break;
            case GgufValueType.UInt64: w.Write(Convert.ToUInt64(v)); break;
            case GgufValueType.Int64: w.Write(Convert.ToInt64(v)); break;
            case GgufValueType.Float64: w.Write(Convert.ToDouble(v)); break;
            case GgufValueType.Bool: w.Write((bool)v ? (byte)1 : (byte)0); break;
            case GgufValueType.String: WriteString(w, (string)v); break;
            default: throw new ArgumentException($"cannot write metadata value of type {type}");
        }
    }
}

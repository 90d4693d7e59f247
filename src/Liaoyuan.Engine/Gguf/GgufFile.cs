using System.IO.MemoryMappedFiles;
using Liaoyuan.Operators.Memory;
using Liaoyuan.Operators.Tensors;

namespace Liaoyuan.Engine.Gguf;

/// <summary>
/// A GGUF v2/v3 file opened read-only. The header is parsed and validated up front; tensor data stays in the
/// memory-mapped file and is handed out as pointers into it, never copied.
/// </summary>
public sealed unsafe class GgufFile : IDisposable
{
    public const uint Magic = 0x46554747; // "GGUF" read little-endian
    public const uint DefaultAlignment = 32;

    private readonly MemoryMappedFile? _map;
    private readonly MemoryMappedViewAccessor? _view;
    private readonly byte* _base;
    private readonly Dictionary<string, GgufTensorInfo> _tensorsByName = new(StringComparer.Ordinal);
    private readonly Dictionary<string, GgufValue> _metadata = new(StringComparer.Ordinal);
    private bool _disposed;

    public string Path { get; }
    public uint Version { get; }
    public long FileSize { get; }
    public uint Alignment { get; }
    public long DataStart { get; }

    /// <summary>Metadata in file order.</summary>
    public IReadOnlyList<KeyValuePair<string, GgufValue>> MetadataList { get; }
    public IReadOnlyDictionary<string, GgufValue> Metadata => _metadata;
    public IReadOnlyList<GgufTensorInfo> Tensors { get; }

    private GgufFile(string path)
    {
        Path = path;
        var info = new FileInfo(path);
        if (!info.Exists) throw new GgufFormatException($"{path}: no such file");
        FileSize = info.Length;
        if (FileSize < 24) throw new GgufFormatException($"{path}: {FileSize} bytes is too short for a GGUF header (at byte offset 0)");
        _map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        _view = _map.CreateViewAccessor(0, FileSize, MemoryMappedFileAccess.Read);
        byte* pointer = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
        _base = pointer + _view.PointerOffset;
        try
        {
            (Version, Alignment, DataStart, MetadataList, Tensors) = Parse();
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Opens and validates a GGUF file; a bad file raises <see cref="GgufFormatException"/>.</summary>
    public static GgufFile Open(string path)
    {
        try
        {
            return new GgufFile(path);
        }
        catch (IOException e)
        {
            throw new GgufFormatException($"{path}: {e.Message}");
        }
        catch (UnauthorizedAccessException e)
        {
            throw new GgufFormatException($"{path}: {e.Message}");
        }
    }

    private (uint, uint, long, IReadOnlyList<KeyValuePair<string, GgufValue>>, IReadOnlyList<GgufTensorInfo>) Parse()
    {
        var reader = new GgufHeaderReader(_base, FileSize, Path);
        uint magic = reader.U32("magic");
        if (magic != Magic) throw reader.Error("not a GGUF file: the magic is not 'GGUF'", 0);
        uint version = reader.U32("version");
        if (version is not (2 or 3))
            throw reader.Error($"GGUF version {version} is not supported (only 2 and 3)", 4);
        long countOffset = reader.Offset;
        ulong tensorCount = reader.U64("tensor count");
        ulong kvCount = reader.U64("metadata count");
        // Each metadata entry takes at least 12 bytes and each tensor info at least 24: reject absurd counts early.
        if (kvCount > (ulong)reader.Remaining / 12) throw reader.Error($"metadata count {kvCount} cannot fit in the file", countOffset + 8);
        if (tensorCount > (ulong)reader.Remaining / 24) throw reader.Error($"tensor count {tensorCount} cannot fit in the file", countOffset);

        var metadata = new List<KeyValuePair<string, GgufValue>>((int)kvCount);
        for (ulong i = 0; i < kvCount; i++)
        {
            long keyOffset = reader.Offset;
            string key = reader.String($"metadata key #{i}");
            var type = (GgufValueType)reader.U32($"metadata '{key}' type");
            var value = reader.Value(type, key, 0);
            if (!_metadata.TryAdd(key, value)) throw reader.Error($"metadata key '{key}' appears twice", keyOffset);
            metadata.Add(new(key, value));
        }

        uint alignment = DefaultAlignment;
        if (_metadata.TryGetValue("general.alignment", out var alignValue))
        {
            alignment = alignValue.Value is uint a ? a : 0;
            if (alignment == 0 || (alignment & (alignment - 1)) != 0)
                throw reader.Error($"metadata 'general.alignment' must be a power-of-two uint32, got {alignValue.Describe()}", 0);
        }

        var pending = new List<(string Name, GgmlType Type, long[] Shape, ulong Offset, long At)>((int)tensorCount);
        for (ulong i = 0; i < tensorCount; i++)
        {
            long at = reader.Offset;
            string name = reader.String($"tensor #{i} name");
            uint dims = reader.U32($"tensor '{name}' dimension count");
            if (dims is 0 or > 4) throw reader.Error($"tensor '{name}' has {dims} dimensions (1 to 4 allowed)", at);
            var shape = new long[dims];
            for (int d = 0; d < dims; d++)
            {
                ulong extent = reader.U64($"tensor '{name}' dimension {d}");
                if (extent == 0 || extent > int.MaxValue) throw reader.Error($"tensor '{name}' dimension {d} is {extent}", at);
                shape[d] = (long)extent;
            }
            long typeOffset = reader.Offset;
            uint rawType = reader.U32($"tensor '{name}' type");
            var type = (GgmlType)rawType;
            if (!Enum.IsDefined(type) || !GgmlTypeInfo.IsSupported(type))
                throw reader.Error($"tensor '{name}' has unknown or unsupported type {rawType}", typeOffset);
            ulong offset = reader.U64($"tensor '{name}' data offset");
            pending.Add((name, type, shape, offset, at));
        }

        long dataStart = AlignUp(reader.Offset, alignment);
        var tensors = new List<GgufTensorInfo>(pending.Count);
        foreach (var (name, type, shape, offset, at) in pending)
        {
            long elements = 1;
            foreach (long extent in shape)
            {
                elements *= extent;
                if (elements > (1L << 40)) throw reader.Error($"tensor '{name}' shape [{string.Join(", ", shape)}] is too large", at);
            }
            if (shape[0] % GgmlTypeInfo.BlockSize(type) != 0)
                throw reader.Error($"tensor '{name}' rows of {shape[0]} elements are not a whole number of {type} blocks", at);
            long bytes = GgmlTypeInfo.RowBytes(type, shape[0]) * (elements / shape[0]);
            if (offset % alignment != 0)
                throw reader.Error($"tensor '{name}' data offset {offset} is not aligned to {alignment}", at);
            if (offset > (ulong)FileSize || dataStart + (long)offset + bytes > FileSize)
                throw reader.Error($"tensor '{name}' data ({bytes} bytes at data offset {offset}) extends past the end of the file ({FileSize} bytes)", at);
            var tensor = new GgufTensorInfo(name, type, shape, dataStart + (long)offset, bytes);
            if (!_tensorsByName.TryAdd(name, tensor)) throw reader.Error($"tensor '{name}' appears twice", at);
            tensors.Add(tensor);
        }
        return (version, alignment, dataStart, metadata, tensors);
    }

    internal static long AlignUp(long value, long alignment) => (value + alignment - 1) / alignment * alignment;

    public GgufTensorInfo? FindTensor(string name) => _tensorsByName.GetValueOrDefault(name);

    /// <summary>Pointer to the first byte of a tensor's data inside the mapping; valid until disposal.</summary>
    public byte* TensorPointer(GgufTensorInfo tensor)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _base + tensor.DataOffset;
    }

    /// <summary>A tensor's bytes as a span (tensors up to 2 GiB).</summary>
    public ReadOnlySpan<byte> TensorBytes(GgufTensorInfo tensor) => new(TensorPointer(tensor), checked((int)tensor.ByteSize));

    /// <summary>
    /// Drops a tensor's pages from this process's resident memory, once a backend works from its own copy of it.
    /// The mapping is read-only and backed by the file, so the data stays readable: a page touched later (an
    /// embedding row) is read back in. Linux only; elsewhere the pages stay until the system reclaims them.
    /// </summary>
    public void ReleaseResidentPages(GgufTensorInfo tensor)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        PageAdvice.ReleaseFilePages((nint)(_base + tensor.DataOffset), tensor.ByteSize);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_view is not null)
        {
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
        }
        _map?.Dispose();
    }
}

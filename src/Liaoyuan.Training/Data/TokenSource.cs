using System.IO.MemoryMappedFiles;
using System.Text;

namespace Liaoyuan.Training.Data;

/// <summary>A stream of token ids the sampler cuts windows from: in memory, or memory-mapped shards on disk.</summary>
public abstract class TokenSource
{
    public abstract long Length { get; }

    /// <summary>Copies tokens [start, start + destination.Length) into <paramref name="destination"/>.</summary>
    public abstract void CopyTo(long start, Span<int> destination);

    public static implicit operator TokenSource(int[] tokens) => new ArrayTokens(tokens);
}

public sealed class ArrayTokens(int[] tokens) : TokenSource
{
    public override long Length => tokens.LongLength;

    public override void CopyTo(long start, Span<int> destination) => tokens.AsSpan(checked((int)start), destination.Length).CopyTo(destination);
}

/// <summary>
/// A token shard file: the 8-byte magic "LYTOKEN1", the element width in bytes (uint32: 2 for vocabularies up to
/// 65,536 tokens, else 4), the token count (int64), then the little-endian ids. Read through a memory mapping, so
/// a corpus larger than memory trains without being loaded.
/// </summary>
public sealed class TokenShard : TokenSource, IDisposable
{
    public const string Magic = "LYTOKEN1";
    private const int HeaderBytes = 20;
    private readonly MemoryMappedFile _file;
    private readonly MemoryMappedViewAccessor _view;
    private readonly int _width;

    public TokenShard(string path)
    {
        Path = path;
        using (var header = new BinaryReader(File.OpenRead(path)))
        {
            if (header.BaseStream.Length < HeaderBytes || Encoding.ASCII.GetString(header.ReadBytes(8)) != Magic)
                throw new InvalidDataException($"{path}: not a Liaoyuan token shard");
            _width = (int)header.ReadUInt32();
            Length = header.ReadInt64();
            if (_width is not (2 or 4) || Length < 0 || HeaderBytes + Length * _width != header.BaseStream.Length)
                throw new InvalidDataException($"{path}: token shard header does not match its size");
        }
        _file = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        _view = _file.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
    }

    public string Path { get; }
    public override long Length { get; }

    public override void CopyTo(long start, Span<int> destination)
    {
        if (start < 0 || start + destination.Length > Length) throw new ArgumentOutOfRangeException(nameof(start));
        long offset = HeaderBytes + start * _width;
        if (_width == 4)
        {
            for (int i = 0; i < destination.Length; i++) destination[i] = _view.ReadInt32(offset + 4L * i);
        }
        else
        {
            for (int i = 0; i < destination.Length; i++) destination[i] = _view.ReadUInt16(offset + 2L * i);
        }
    }

    public static void Write(string path, ReadOnlySpan<int> tokens, int vocabSize)
    {
        int width = vocabSize <= 1 << 16 ? 2 : 4;
        string temporary = path + ".partial";
        using (var w = new BinaryWriter(new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20)))
        {
            w.Write(Encoding.ASCII.GetBytes(Magic));
            w.Write((uint)width);
            w.Write((long)tokens.Length);
            foreach (int t in tokens)
            {
                if (width == 2) w.Write((ushort)t);
                else w.Write(t);
            }
        }
        File.Move(temporary, path, overwrite: true);
    }

    public void Dispose()
    {
        _view.Dispose();
        _file.Dispose();
    }
}

/// <summary>Several sources read as one stream, in order.</summary>
public sealed class ConcatenatedTokens(IReadOnlyList<TokenSource> parts) : TokenSource
{
    public override long Length { get; } = parts.Sum(p => p.Length);

    public override void CopyTo(long start, Span<int> destination)
    {
        foreach (var part in parts)
        {
            if (destination.IsEmpty) return;
            if (start >= part.Length)
            {
                start -= part.Length;
                continue;
            }
            int count = (int)Math.Min(destination.Length, part.Length - start);
            part.CopyTo(start, destination[..count]);
            destination = destination[count..];
            start = 0;
        }
        if (!destination.IsEmpty) throw new ArgumentOutOfRangeException(nameof(start));
    }
}

using System.Runtime.InteropServices;
using Liaoyuan.Operators.Memory;

namespace Liaoyuan.Operators.Kernels;

/// <summary>
/// Native memory for a backend's weight copies, handed out first-fit from large chunks aligned to 2 MiB. On Linux
/// each chunk asks for transparent huge pages: decoding streams every weight once per token, and with 4 KiB pages
/// that is a TLB miss (and a prefetch stream restarted) every 4 KiB. Chunks are reserved, not touched: only the
/// pages a copy is written to become resident, so the waste is at most the partly used huge page at the end of
/// each chunk's filled part.
/// </summary>
internal sealed unsafe class WeightArena : IDisposable
{
    private const long HugePage = 2L << 20, ChunkBytes = 256L << 20;
    private readonly List<Chunk> _chunks = [];

    public byte* Allocate(long bytes)
    {
        bytes = (bytes + 63) & ~63L;
        lock (_chunks)
        {
            var chunk = _chunks.Find(c => c.Left >= bytes);
            if (chunk is null)
            {
                long size = Math.Max(ChunkBytes, (bytes + HugePage - 1) / HugePage * HugePage);
                chunk = new Chunk((byte*)NativeMemory.AlignedAlloc((nuint)size, (nuint)HugePage), size);
                PageAdvice.PreferHugePages((nint)chunk.Start, size);
                _chunks.Add(chunk);
            }
            byte* result = chunk.Start + chunk.Used;
            chunk.Used += bytes;
            return result;
        }
    }

    public void Dispose()
    {
        lock (_chunks)
        {
            foreach (var chunk in _chunks) NativeMemory.AlignedFree(chunk.Start);
            _chunks.Clear();
        }
    }

    private sealed class Chunk(byte* start, long size)
    {
        public byte* Start { get; } = start;
        public long Used { get; set; }
        public long Left => size - Used;
    }
}

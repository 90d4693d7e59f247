using System.Runtime.InteropServices;

namespace Liaoyuan.Operators.Kernels;

/// <summary>
/// Native memory for a backend's weight copies, handed out from large chunks aligned to 2 MiB. On Linux each chunk
/// asks for transparent huge pages: decoding streams every weight once per token, and with 4 KiB pages that is a
/// TLB miss (and a prefetch stream restarted) every 4 KiB. Chunks are filled front to back and only huge pages
/// wholly inside what has been handed out are advised, so a chunk's unused end never becomes resident (a huge
/// page there would be populated whole).
/// </summary>
internal sealed unsafe class WeightArena : IDisposable
{
    private const long HugePage = 2L << 20, ChunkBytes = 64L << 20;
    private readonly List<nint> _chunks = [];
    private byte* _next;
    private long _left;
    private long _advisedTo;

    public byte* Allocate(long bytes)
    {
        bytes = (bytes + 63) & ~63L;
        lock (_chunks)
        {
            if (bytes > _left)
            {
                long size = Math.Max(ChunkBytes, (bytes + HugePage - 1) / HugePage * HugePage);
                _next = (byte*)NativeMemory.AlignedAlloc((nuint)size, (nuint)HugePage);
                _chunks.Add((nint)_next);
                _left = size;
                _advisedTo = (long)_next;
            }
            byte* result = _next;
            _next += bytes;
            _left -= bytes;
            long advisable = (long)_next / HugePage * HugePage;
            if (OperatingSystem.IsLinux() && advisable > _advisedTo)
            {
                _ = madvise((nint)_advisedTo, (nuint)(advisable - _advisedTo), HugePageAdvice);
                _advisedTo = advisable;
            }
            return result;
        }
    }

    public void Dispose()
    {
        lock (_chunks)
        {
            foreach (nint chunk in _chunks) NativeMemory.AlignedFree((void*)chunk);
            _chunks.Clear();
            _left = 0;
        }
    }

    private const int HugePageAdvice = 14; // MADV_HUGEPAGE

    [DllImport("libc", SetLastError = true)]
    private static extern int madvise(nint address, nuint length, int advice);
}

using System.Runtime.InteropServices;

namespace Liaoyuan.Operators.Memory;

/// <summary>Hints to the kernel about how mapped memory is used (Linux madvise; elsewhere nothing happens).</summary>
public static class PageAdvice
{
    private const int DontNeed = 4, HugePage = 14; // MADV_DONTNEED, MADV_HUGEPAGE

    /// <summary>
    /// Drops the whole pages inside [start, start + length) from the resident set. Only for read-only, file-backed
    /// mappings: their pages are read back from the file when touched again (anonymous memory would read as zeros).
    /// </summary>
    public static void ReleaseFilePages(nint start, long length)
    {
        if (!OperatingSystem.IsLinux()) return;
        long page = Environment.SystemPageSize;
        long first = ((long)start + page - 1) / page * page, last = ((long)start + length) / page * page;
        if (last > first) _ = madvise((nint)first, (nuint)(last - first), DontNeed);
    }

    /// <summary>Asks for transparent huge pages over [start, start + length) (start aligned to 2 MiB).</summary>
    public static void PreferHugePages(nint start, long length)
    {
        if (OperatingSystem.IsLinux()) _ = madvise(start, (nuint)length, HugePage);
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int madvise(nint address, nuint length, int advice);
}

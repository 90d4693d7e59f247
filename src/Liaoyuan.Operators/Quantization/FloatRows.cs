using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Liaoyuan.Operators.Quantization;

/// <summary>Rows of F32, F16 and BF16 as raw little-endian bytes.</summary>
internal static class FloatRows
{
    public static void WriteF32(ReadOnlySpan<float> src, Span<byte> dst) =>
        MemoryMarshal.AsBytes(src).CopyTo(dst);

    public static void ReadF32(ReadOnlySpan<byte> src, Span<float> dst) =>
        MemoryMarshal.Cast<byte, float>(src[..(dst.Length * 4)]).CopyTo(dst);

    public static void WriteF16(ReadOnlySpan<float> src, Span<byte> dst)
    {
        Span<ushort> halves = MemoryMarshal.Cast<byte, ushort>(dst[..(src.Length * 2)]);
        for (int i = 0; i < src.Length; i++)
            halves[i] = Float16.FromSingle(src[i]);
    }

    public static void WriteBF16(ReadOnlySpan<float> src, Span<byte> dst)
    {
        Span<ushort> values = MemoryMarshal.Cast<byte, ushort>(dst[..(src.Length * 2)]);
        for (int i = 0; i < src.Length; i++)
            values[i] = BFloat16.FromSingle(src[i]);
    }

    public static void ReadF16(ReadOnlySpan<byte> src, Span<float> dst)
    {
        ReadOnlySpan<ushort> halves = MemoryMarshal.Cast<byte, ushort>(src[..(dst.Length * 2)]);
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref ushort source = ref MemoryMarshal.GetReference(halves);
            ref float target = ref MemoryMarshal.GetReference(dst);
            for (; i + 8 <= dst.Length; i += 8)
                Float16.Widen(LoadWidened(ref source, i)).StoreUnsafe(ref target, (nuint)i);
        }
        for (; i < dst.Length; i++)
            dst[i] = Float16.ToSingle(halves[i]);
    }

    public static void ReadBF16(ReadOnlySpan<byte> src, Span<float> dst)
    {
        ReadOnlySpan<ushort> values = MemoryMarshal.Cast<byte, ushort>(src[..(dst.Length * 2)]);
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref ushort source = ref MemoryMarshal.GetReference(values);
            ref float target = ref MemoryMarshal.GetReference(dst);
            for (; i + 8 <= dst.Length; i += 8)
                BFloat16.Widen(LoadWidened(ref source, i)).StoreUnsafe(ref target, (nuint)i);
        }
        for (; i < dst.Length; i++)
            dst[i] = BFloat16.ToSingle(values[i]);
    }

    /// <summary>Loads eight 16-bit values and zero-extends them into 32-bit lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<uint> LoadWidened(ref ushort source, int index) =>
        Vector256.WidenLower(Vector128.LoadUnsafe(ref source, (nuint)index).ToVector256Unsafe());
}

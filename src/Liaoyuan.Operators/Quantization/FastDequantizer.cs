using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Liaoyuan.Operators.Quantization;

/// <summary>
/// Vectorized dequantizers for the formats the engine expands most (embedding rows). Each element is one
/// int-to-float conversion and one multiply, so the results equal the scalar ones bit for bit.
/// </summary>
internal static class FastDequantizer
{
    public static void DequantizeQ8_0(ReadOnlySpan<byte> src, Span<float> dst)
    {
        if (!Vector256.IsHardwareAccelerated)
        {
            LegacyQuants.DequantizeQ8(src, dst, Q8_0Layout.Bytes, Q8_0Layout.Quants);
            return;
        }
        ref float target = ref MemoryMarshal.GetReference(dst);
        for (int block = 0; block < dst.Length / 32; block++)
        {
            ReadOnlySpan<byte> x = src.Slice(block * Q8_0Layout.Bytes, Q8_0Layout.Bytes);
            Vector256<float> d = Vector256.Create(Float16.Read(x, Q8_0Layout.Scale));
            Vector256<sbyte> q = Vector256.Create(MemoryMarshal.Cast<byte, sbyte>(x.Slice(Q8_0Layout.Quants, 32)));
            StoreScaled(q, d, ref target, block * 32);
        }
    }

    public static void DequantizeQ4_0(ReadOnlySpan<byte> src, Span<float> dst)
    {
        if (!Vector256.IsHardwareAccelerated)
        {
            LegacyQuants.DequantizeQ4_0(src, dst);
            return;
        }
        ref float target = ref MemoryMarshal.GetReference(dst);
        for (int block = 0; block < dst.Length / 32; block++)
        {
            ReadOnlySpan<byte> x = src.Slice(block * Q4_0Layout.Bytes, Q4_0Layout.Bytes);
            Vector256<float> d = Vector256.Create(Float16.Read(x, Q4_0Layout.Scale));
            Vector128<byte> packed = Vector128.Create(x.Slice(Q4_0Layout.Quants, 16));
            Vector128<byte> low = packed & Vector128.Create((byte)0xF);
            Vector128<byte> high = Vector128.ShiftRightLogical(packed, 4);
            Vector256<sbyte> q = (Vector256.Create(low, high).AsSByte() - Vector256.Create((sbyte)8));
            StoreScaled(q, d, ref target, block * 32);
        }
    }

    /// <summary>Writes 32 values q * d starting at <paramref name="index"/>.</summary>
    private static void StoreScaled(Vector256<sbyte> q, Vector256<float> d, ref float target, int index)
    {
        (Vector256<short> q0, Vector256<short> q1) = Vector256.Widen(q);
        (Vector256<int> i0, Vector256<int> i1) = Vector256.Widen(q0);
        (Vector256<int> i2, Vector256<int> i3) = Vector256.Widen(q1);
        (Vector256.ConvertToSingle(i0) * d).StoreUnsafe(ref target, (nuint)index);
        (Vector256.ConvertToSingle(i1) * d).StoreUnsafe(ref target, (nuint)(index + 8));
        (Vector256.ConvertToSingle(i2) * d).StoreUnsafe(ref target, (nuint)(index + 16));
        (Vector256.ConvertToSingle(i3) * d).StoreUnsafe(ref target, (nuint)(index + 24));
    }
}

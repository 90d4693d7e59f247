using System.Runtime.CompilerServices;

namespace Liaoyuan.Operators.Quantization;

/// <summary>The packed 6-bit sub-block scales and mins of Q4_K/Q5_K super-blocks, shared by every SIMD path.</summary>
internal static class KQuantScales
{
    /// <summary>
    /// The eight 6-bit scales and eight 6-bit mins of a Q4_K/Q5_K super-block, one per byte, from its 12 packed
    /// bytes: sub-blocks 0–3 keep their low six bits in bytes 0–3 (scales) and 4–7 (mins); sub-blocks 4–7 take
    /// four bits from bytes 8–11 and their top two from the spare high bits of bytes 0–7. Whole 32-bit words at
    /// a time instead of byte by byte.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static (ulong Scales, ulong Mins) Unpack(ref byte packed)
    {
        uint w0 = Unsafe.ReadUnaligned<uint>(ref packed);
        uint w1 = Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref packed, 4));
        uint w2 = Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref packed, 8));
        const uint SixBits = 0x3F3F3F3F, FourBits = 0x0F0F0F0F, TwoBits = 0x03030303;
        uint scalesLow = w0 & SixBits, minsLow = w1 & SixBits;
        uint scalesHigh = (w2 & FourBits) | (((w0 >> 6) & TwoBits) << 4);
        uint minsHigh = ((w2 >> 4) & FourBits) | (((w1 >> 6) & TwoBits) << 4);
        return (scalesLow | (ulong)scalesHigh << 32, minsLow | (ulong)minsHigh << 32);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static short Of(ulong scales, int subBlock) => (short)(byte)(scales >> (8 * subBlock));
}

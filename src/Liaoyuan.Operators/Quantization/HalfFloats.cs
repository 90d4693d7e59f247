using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Liaoyuan.Operators.Quantization;

/// <summary>IEEE binary16 conversions. Narrowing rounds to nearest even, like F16C's vcvtps2ph with mode 0.</summary>
public static class Float16
{
    // Widening goes through a table: block scales are read once per 32 elements in the hot dot loops,
    // and a load beats the software Half path by a wide margin (ggml does the same on CPUs without F16C).
    private static readonly float[] WideningTable = BuildWideningTable();

    private static float[] BuildWideningTable()
    {
        var table = new float[1 << 16];
        for (int bits = 0; bits < table.Length; bits++)
            table[bits] = (float)BitConverter.UInt16BitsToHalf((ushort)bits);
        return table;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToSingle(ushort bits) =>
        Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(WideningTable), bits);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FromSingle(float value) => BitConverter.HalfToUInt16Bits((Half)value);

    /// <summary>Reads the little-endian half at <paramref name="offset"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Read(ReadOnlySpan<byte> bytes, int offset) =>
        ToSingle(Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref MemoryMarshal.GetReference(bytes), offset)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Write(Span<byte> bytes, int offset, float value) =>
        Unsafe.WriteUnaligned(ref Unsafe.Add(ref MemoryMarshal.GetReference(bytes), offset), FromSingle(value));

    /// <summary>
    /// Rounds eight non-negative floats to the nearest half (ties to even) and back, exactly as
    /// <c>(float)(Half)x</c> does for every value in [0, 65504], NaN and infinity: halves' normal range by
    /// rounding the mantissa to ten bits in integer arithmetic, their subnormal range (below 2^-14) by adding and
    /// subtracting 0.5, whose last bit is worth 2^-24, the spacing of half subnormals.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> RoundNonNegative(Vector256<float> x)
    {
        Vector256<uint> bits = x.AsUInt32();
        Vector256<uint> rounded = (bits + Vector256.Create(0xFFFu) + ((bits >> 13) & Vector256<uint>.One)) & Vector256.Create(0xFFFFE000u);
        Vector256<float> small = (x + Vector256.Create(0.5f)) - Vector256.Create(0.5f);
        return Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256.Create(6.10351562e-05f)), small, rounded.AsSingle());
    }

    /// <summary>
    /// Rounds eight floats to the nearest half and back, as <c>(float)(Half)x</c> does for every float: the
    /// magnitude as <see cref="RoundNonNegative"/>, the sign kept, and magnitudes from 65520 up (which round past
    /// the largest half) made infinite.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Round(Vector256<float> x)
    {
        Vector256<float> magnitude = Vector256.Abs(x);
        Vector256<float> rounded = RoundNonNegative(magnitude);
        Vector256<float> overflowed = Vector256.GreaterThanOrEqual(magnitude, Vector256.Create(65520f)) & ~Vector256.IsNaN(magnitude);
        rounded = Vector256.ConditionalSelect(overflowed, Vector256.Create(float.PositiveInfinity), rounded);
        return rounded | (x & Vector256.Create(-0.0f));
    }

    /// <summary>
    /// Widens eight halves (zero-extended into 32-bit lanes) exactly, subnormals and specials included.
    /// Re-biases the exponent with integer arithmetic and fixes subnormals with one float subtraction.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Widen(Vector256<uint> halves)
    {
        Vector256<uint> sign = (halves & Vector256.Create(0x8000u)) << 16;
        Vector256<uint> shifted = (halves & Vector256.Create(0x7FFFu)) << 13;
        Vector256<uint> exponent = shifted & Vector256.Create(0x0F800000u);
        Vector256<uint> rebased = shifted + Vector256.Create(0x38000000u);

        // Infinity and NaN: push the exponent the rest of the way to all ones.
        Vector256<uint> isSpecial = Vector256.Equals(exponent, Vector256.Create(0x0F800000u));
        rebased += isSpecial & Vector256.Create(0x38000000u);

        // Zero and subnormals: add one to the exponent, then subtract the implicit bit as a float.
        Vector256<uint> isSmall = Vector256.Equals(exponent, Vector256<uint>.Zero);
        Vector256<float> renormalized =
            (rebased + Vector256.Create(0x00800000u)).AsSingle() - Vector256.Create(0x38800000u).AsSingle();
        Vector256<uint> magnitude = Vector256.ConditionalSelect(isSmall, renormalized.AsUInt32(), rebased);
        return (magnitude | sign).AsSingle();
    }
}

/// <summary>bfloat16 conversions as ggml does them: round to nearest even on the top 16 bits, NaN kept and quieted.</summary>
public static class BFloat16
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToSingle(ushort bits) => BitConverter.UInt32BitsToSingle((uint)bits << 16);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FromSingle(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if ((bits & 0x7FFFFFFFu) > 0x7F800000u)
            return (ushort)((bits >> 16) | 0x40); // NaN: keep sign and payload top, set the quiet bit
        uint roundingBias = 0x7FFFu + ((bits >> 16) & 1u);
        return (ushort)((bits + roundingBias) >> 16);
    }

    /// <summary>Widens eight bfloat16 values (zero-extended into 32-bit lanes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Widen(Vector256<uint> values) => (values << 16).AsSingle();
}

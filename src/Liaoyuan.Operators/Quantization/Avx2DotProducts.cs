using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Liaoyuan.Operators.Quantization;

/// <summary>
/// AVX2 + FMA kernels for the quantized dot products. Their lane arithmetic is that of llama.cpp's AVX2
/// kernels (pmaddubsw/pmaddwd lanes, one FMA per block into an 8-lane accumulator, hsum_float_8 at the end),
/// which <see cref="ScalarDotProducts"/> reproduces; callers must check <see cref="IsSupported"/>.
/// </summary>
internal static partial class Avx2DotProducts
{
    public static bool IsSupported => Avx2.IsSupported && Fma.IsSupported;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float SumLanes(Vector256<float> v)
    {
        Vector128<float> r = Sse.Add(v.GetUpper(), v.GetLower());
        r = Sse.Add(r, Sse.MoveHighToLow(r, r));
        r = Sse.AddScalar(r, Sse3.MoveHighAndDuplicate(r));
        return r.ToScalar();
    }

    /// <summary>Signed bytes times signed bytes, summed in groups of four into 8 float lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> MulSumSigned(Vector256<sbyte> x, Vector256<sbyte> y) =>
        MulSumMagnitude(Avx2.Sign(x, x).AsByte(), x, y);

    /// <summary>
    /// |x| × sign(y, x), summed in groups of four into 8 float lanes: <see cref="MulSumSigned"/> with the magnitude
    /// taken once by the caller, as the tiles do for a weight block shared by several tokens.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> MulSumMagnitude(Vector256<byte> magnitude, Vector256<sbyte> x, Vector256<sbyte> y)
    {
        // VNNI's vpdpbusd sums the four products in 32 bits directly; the 16-bit pair sums of pmaddubsw cannot
        // saturate for quantized blocks (|x| ≤ 127), so both paths give the same integers and the same floats.
        if (AvxVnni.IsSupported)
            return Avx.ConvertToVector256Single(AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, magnitude, Avx2.Sign(y, x)));
        Vector256<short> pairs = Avx2.MultiplyAddAdjacent(magnitude, Avx2.Sign(y, x));
        return Avx.ConvertToVector256Single(Avx2.MultiplyAddAdjacent(pairs, Vector256<short>.One));
    }

    /// <summary>A Q4_0 block's 32 quants as signed bytes (nibble − 8), from its 16 packed bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<sbyte> SignedQ4_0Quants(ref byte packed) => Nibbles(ref packed).AsSByte() - Vector256.Create((sbyte)8);

    /// <summary>A Q5_0 block's 32 quants as signed bytes (code − 16), from the block's start.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<sbyte> SignedQ5_0Quants(ref byte block)
    {
        // A clear fifth bit means q - 16 < 0: setting the top nibble makes the byte exactly that negative value.
        Vector256<byte> highBits = BitsToBytes(Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref block, Q5_0Layout.HighBits)));
        return (Nibbles(ref Unsafe.Add(ref block, Q5_0Layout.Quants)) | Avx2.AndNot(highBits, Vector256.Create((byte)0xF0))).AsSByte();
    }

    /// <summary>Unsigned bytes times signed bytes, summed in groups of four into 8 float lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> MulSumUnsigned(Vector256<byte> x, Vector256<sbyte> y)
    {
        Vector256<short> pairs = Avx2.MultiplyAddAdjacent(x, y);
        return Avx.ConvertToVector256Single(Avx2.MultiplyAddAdjacent(pairs, Vector256<short>.One));
    }

    /// <summary>16 packed bytes to 32 nibbles: low nibbles first (elements 0..15), then high nibbles.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<byte> Nibbles(ref byte packed)
    {
        Vector128<byte> bytes = Vector128.LoadUnsafe(ref packed);
        Vector128<byte> high = Sse2.ShiftRightLogical(bytes.AsUInt16(), 4).AsByte();
        return Vector256.Create(bytes, high) & Vector256.Create((byte)0x0F);
    }

    /// <summary>32 bits to 32 bytes: 0xFF where the bit is set.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<byte> BitsToBytes(uint bits)
    {
        Vector256<byte> spread = Avx2.Shuffle(Vector256.Create(bits).AsByte(),
            Vector256.Create(0x0000000000000000ul, 0x0101010101010101ul, 0x0202020202020202ul, 0x0303030303030303ul).AsByte());
        Vector256<byte> othersSet = spread | Vector256.Create(0x7FBFDFEFF7FBFDFEul).AsByte();
        return Vector256.Equals(othersSet, Vector256<byte>.AllBitsSet);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<sbyte> Load32(ref byte source, int offset) =>
        Vector256.LoadUnsafe(ref Unsafe.As<byte, sbyte>(ref source), (nuint)offset);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Half(ref byte source, int offset) =>
        Float16.ToSingle(Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref source, offset)));

    public static float Q8_0(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n)
    {
        ref byte x = ref MemoryMarshal.GetReference(weights);
        ref byte y = ref MemoryMarshal.GetReference(activations);
        Vector256<float> acc = Vector256<float>.Zero;
        for (int block = 0, xo = 0, yo = 0; block < n / 32; block++, xo += Q8_0Layout.Bytes, yo += Q8_0Layout.Bytes)
        {
            Vector256<float> d = Vector256.Create(Half(ref x, xo) * Half(ref y, yo));
            Vector256<float> q = MulSumSigned(Load32(ref x, xo + Q8_0Layout.Quants), Load32(ref y, yo + Q8_0Layout.Quants));
            acc = Fma.MultiplyAdd(d, q, acc);
        }
        return SumLanes(acc);
    }

    /// <summary>
    /// Q8_0 rows against one activation row, two rows per pass: their two accumulator chains interleave, and each
    /// activation block is loaded once for both. Each row's arithmetic is <see cref="Q8_0(ReadOnlySpan{byte}, ReadOnlySpan{byte}, int)"/>'s.
    /// </summary>
    public static unsafe void Q8_0Rows(byte* weights, long rowBytes, int count, byte* activation, int blocks, float* output, long outputStride)
    {
        int i = 0;
        for (; i + 2 <= count; i += 2)
        {
            byte* x0 = weights + i * rowBytes, x1 = x0 + rowBytes, y = activation;
            Vector256<float> acc0 = Vector256<float>.Zero, acc1 = Vector256<float>.Zero;
            for (int block = 0; block < blocks; block++, x0 += Q8_0Layout.Bytes, x1 += Q8_0Layout.Bytes, y += Q8_0Layout.Bytes)
            {
                // The next pair of rows is fetched while this one is summed: the hardware's stream prefetcher
                // stops at each 4 KiB page, and a matrix-vector product is a stream of pages.
                Sse.Prefetch0(x0 + 4 * rowBytes);
                Sse.Prefetch0(x1 + 4 * rowBytes);
                float dy = Float16.ToSingle(*(ushort*)y);
                Vector256<sbyte> a = Avx.LoadVector256((sbyte*)(y + Q8_0Layout.Quants));
                Vector256<float> q0 = MulSumSigned(Avx.LoadVector256((sbyte*)(x0 + Q8_0Layout.Quants)), a);
                Vector256<float> q1 = MulSumSigned(Avx.LoadVector256((sbyte*)(x1 + Q8_0Layout.Quants)), a);
                acc0 = Fma.MultiplyAdd(Vector256.Create(Float16.ToSingle(*(ushort*)x0) * dy), q0, acc0);
                acc1 = Fma.MultiplyAdd(Vector256.Create(Float16.ToSingle(*(ushort*)x1) * dy), q1, acc1);
            }
            output[i * outputStride] = SumLanes(acc0);
            output[(i + 1) * outputStride] = SumLanes(acc1);
        }
        if (i < count)
        {
            int bytes = blocks * Q8_0Layout.Bytes;
            output[i * outputStride] = Q8_0(new ReadOnlySpan<byte>(weights + i * rowBytes, bytes), new ReadOnlySpan<byte>(activation, bytes), blocks * 32);
        }
    }

    public static float Q4_0(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n)
    {
        ref byte x = ref MemoryMarshal.GetReference(weights);
        ref byte y = ref MemoryMarshal.GetReference(activations);
        Vector256<float> acc = Vector256<float>.Zero;
        for (int block = 0, xo = 0, yo = 0; block < n / 32; block++, xo += Q4_0Layout.Bytes, yo += Q8_0Layout.Bytes)
        {
            Vector256<float> d = Vector256.Create(Half(ref x, xo) * Half(ref y, yo));
            Vector256<sbyte> qx = SignedQ4_0Quants(ref Unsafe.Add(ref x, xo + Q4_0Layout.Quants));
            acc = Fma.MultiplyAdd(d, MulSumSigned(qx, Load32(ref y, yo + Q8_0Layout.Quants)), acc);
        }
        return SumLanes(acc);
    }

    public static float Q5_0(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n)
    {
        ref byte x = ref MemoryMarshal.GetReference(weights);
        ref byte y = ref MemoryMarshal.GetReference(activations);
        Vector256<float> acc = Vector256<float>.Zero;
        for (int block = 0, xo = 0, yo = 0; block < n / 32; block++, xo += Q5_0Layout.Bytes, yo += Q8_0Layout.Bytes)
        {
            Vector256<float> d = Vector256.Create(Half(ref x, xo) * Half(ref y, yo));
            Vector256<sbyte> qx = SignedQ5_0Quants(ref Unsafe.Add(ref x, xo));
            acc = Fma.MultiplyAdd(d, MulSumSigned(qx, Load32(ref y, yo + Q8_0Layout.Quants)), acc);
        }
        return SumLanes(acc);
    }

    public static float Q4_1(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n)
    {
        ref byte x = ref MemoryMarshal.GetReference(weights);
        ref byte y = ref MemoryMarshal.GetReference(activations);
        Vector256<float> acc = Vector256<float>.Zero;
        float minTerms = 0;
        for (int block = 0, xo = 0, yo = 0; block < n / 32; block++, xo += Q4_1Layout.Bytes, yo += Q8_1Layout.Bytes)
        {
            minTerms = MathF.FusedMultiplyAdd(Half(ref x, xo + Q4_1Layout.Min), Half(ref y, yo + Q8_1Layout.ScaledSum), minTerms);
            Vector256<float> d = Vector256.Create(Half(ref x, xo) * Half(ref y, yo));
            Vector256<byte> qx = Nibbles(ref Unsafe.Add(ref x, xo + Q4_1Layout.Quants));
            acc = Fma.MultiplyAdd(d, MulSumUnsigned(qx, Load32(ref y, yo + Q8_1Layout.Quants)), acc);
        }
        return SumLanes(acc) + minTerms;
    }

    public static float Q5_1(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n)
    {
        ref byte x = ref MemoryMarshal.GetReference(weights);
        ref byte y = ref MemoryMarshal.GetReference(activations);
        Vector256<float> acc = Vector256<float>.Zero;
        Vector256<byte> sixteen = Vector256.Create((byte)0x10);
        float minTerms = 0;
        for (int block = 0, xo = 0, yo = 0; block < n / 32; block++, xo += Q5_1Layout.Bytes, yo += Q8_1Layout.Bytes)
        {
            minTerms = MathF.FusedMultiplyAdd(Half(ref x, xo + Q5_1Layout.Min), Half(ref y, yo + Q8_1Layout.ScaledSum), minTerms);
            Vector256<float> d = Vector256.Create(Half(ref x, xo) * Half(ref y, yo));
            Vector256<byte> highBits = BitsToBytes(Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref x, xo + Q5_1Layout.HighBits)));
            Vector256<byte> qx = Nibbles(ref Unsafe.Add(ref x, xo + Q5_1Layout.Quants)) | (highBits & sixteen);
            acc = Fma.MultiplyAdd(MulSumUnsigned(qx, Load32(ref y, yo + Q8_1Layout.Quants)), d, acc);
        }
        return SumLanes(acc) + minTerms;
    }
}

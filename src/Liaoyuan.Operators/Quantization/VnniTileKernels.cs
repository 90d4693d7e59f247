using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Liaoyuan.Operators.Quantization;

/// <summary>
/// Four weight rows × four tokens per call for prompt processing on CPUs with VNNI (vpdpbusd, unsigned × signed
/// bytes). Weights are made unsigned by an offset (Q8_0: w + 128, one xor; Q4_0: the raw nibbles, w + 8), and the
/// activations come repacked by <see cref="PackActivations"/> with float scales (no half widened in the loop) and
/// −offset·Σa per lane, which seeds the integer accumulator so that every integer dot is exactly Σ w·a. The
/// float accumulation that follows is the one of
/// <see cref="Avx2DotProducts"/> (one FMA per block into eight lanes, the same final lane sum), so the results
/// are bit-identical to the one-token dot products.
/// </summary>
internal static unsafe class VnniTileKernels
{
    public const int Rows = 4, Tokens = 4;

    public static bool IsSupported => AvxVnni.IsSupported && Fma.IsSupported;

    /// <summary>
    /// Splits Q8_0 activation rows into quants (32 bytes per block), float scales (one per block) and the integer
    /// correction −offset·Σa for each group of four quants (eight ints per block), all laid out token-major.
    /// </summary>
    public static void PackActivations(byte* q8Rows, int rowBytes, int tokens, int blocks, int weightOffset,
        sbyte* quants, float* scales, int* corrections)
    {
        Vector256<int> minusOffset = Vector256.Create(-weightOffset);
        for (int t = 0; t < tokens; t++)
        {
            byte* block = q8Rows + (long)t * rowBytes;
            for (int b = 0; b < blocks; b++, block += Q8_0Layout.Bytes, quants += 32, corrections += 8)
            {
                *scales++ = Float16.ToSingle(*(ushort*)block);
                Vector256<sbyte> a = Vector256.Load((sbyte*)(block + Q8_0Layout.Quants));
                a.Store(quants);
                (GroupSums(a) * minusOffset).Store(corrections);
            }
        }
    }

    /// <summary>Σ of each group of four signed bytes, in 32-bit lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> GroupSums(Vector256<sbyte> a) =>
        AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, Vector256.Create((byte)1), a);

    /// <summary>Q8_0 rows <paramref name="rowBytes"/> apart × four packed tokens; writes output[t * stride + r].</summary>
    public static void Q8_0(byte* weights, int rowBytes, sbyte* quants, float* scales, int* corrections, int blocks, float* output, int outputStride)
    {
        Vector256<float> c00 = default, c01 = default, c02 = default, c03 = default;
        Vector256<float> c10 = default, c11 = default, c12 = default, c13 = default;
        Vector256<float> c20 = default, c21 = default, c22 = default, c23 = default;
        Vector256<float> c30 = default, c31 = default, c32 = default, c33 = default;
        long tq = (long)blocks * 32, tc = (long)blocks * 8;
        Vector256<byte> signBit = Vector256.Create((byte)0x80);
        for (int b = 0; b < blocks; b++, weights += Q8_0Layout.Bytes, quants += 32, corrections += 8, scales++)
        {
            var a0 = Vector256.Load(quants);
            var a1 = Vector256.Load(quants + tq);
            var a2 = Vector256.Load(quants + 2 * tq);
            var a3 = Vector256.Load(quants + 3 * tq);
            var s0 = Vector256.Create(scales[0]);
            var s1 = Vector256.Create(scales[blocks]);
            var s2 = Vector256.Create(scales[2 * blocks]);
            var s3 = Vector256.Create(scales[3 * blocks]);

            byte* row = weights;
            var w = Vector256.Load(row + Q8_0Layout.Quants) ^ signBit;
            var d = Vector256.Create(Float16.ToSingle(*(ushort*)row));
            c00 = Fma.MultiplyAdd(d * s0, Dot(corrections, w, a0), c00);
            c01 = Fma.MultiplyAdd(d * s1, Dot(corrections + tc, w, a1), c01);
            c02 = Fma.MultiplyAdd(d * s2, Dot(corrections + 2 * tc, w, a2), c02);
            c03 = Fma.MultiplyAdd(d * s3, Dot(corrections + 3 * tc, w, a3), c03);
            row += rowBytes;
            w = Vector256.Load(row + Q8_0Layout.Quants) ^ signBit;
            d = Vector256.Create(Float16.ToSingle(*(ushort*)row));
            c10 = Fma.MultiplyAdd(d * s0, Dot(corrections, w, a0), c10);
            c11 = Fma.MultiplyAdd(d * s1, Dot(corrections + tc, w, a1), c11);
            c12 = Fma.MultiplyAdd(d * s2, Dot(corrections + 2 * tc, w, a2), c12);
            c13 = Fma.MultiplyAdd(d * s3, Dot(corrections + 3 * tc, w, a3), c13);
            row += rowBytes;
            w = Vector256.Load(row + Q8_0Layout.Quants) ^ signBit;
            d = Vector256.Create(Float16.ToSingle(*(ushort*)row));
            c20 = Fma.MultiplyAdd(d * s0, Dot(corrections, w, a0), c20);
            c21 = Fma.MultiplyAdd(d * s1, Dot(corrections + tc, w, a1), c21);
            c22 = Fma.MultiplyAdd(d * s2, Dot(corrections + 2 * tc, w, a2), c22);
            c23 = Fma.MultiplyAdd(d * s3, Dot(corrections + 3 * tc, w, a3), c23);
            row += rowBytes;
            w = Vector256.Load(row + Q8_0Layout.Quants) ^ signBit;
            d = Vector256.Create(Float16.ToSingle(*(ushort*)row));
            c30 = Fma.MultiplyAdd(d * s0, Dot(corrections, w, a0), c30);
            c31 = Fma.MultiplyAdd(d * s1, Dot(corrections + tc, w, a1), c31);
            c32 = Fma.MultiplyAdd(d * s2, Dot(corrections + 2 * tc, w, a2), c32);
            c33 = Fma.MultiplyAdd(d * s3, Dot(corrections + 3 * tc, w, a3), c33);
        }
        Store(output, outputStride, 0, c00, c01, c02, c03);
        Store(output, outputStride, 1, c10, c11, c12, c13);
        Store(output, outputStride, 2, c20, c21, c22, c23);
        Store(output, outputStride, 3, c30, c31, c32, c33);
    }

    /// <summary>Q4_0 rows × four packed tokens (nibbles used unsigned; the −8 lives in the corrections).</summary>
    public static void Q4_0(byte* weights, int rowBytes, sbyte* quants, float* scales, int* corrections, int blocks, float* output, int outputStride)
    {
        Vector256<float> c00 = default, c01 = default, c02 = default, c03 = default;
        Vector256<float> c10 = default, c11 = default, c12 = default, c13 = default;
        Vector256<float> c20 = default, c21 = default, c22 = default, c23 = default;
        Vector256<float> c30 = default, c31 = default, c32 = default, c33 = default;
        long tq = (long)blocks * 32, tc = (long)blocks * 8;
        for (int b = 0; b < blocks; b++, weights += Q4_0Layout.Bytes, quants += 32, corrections += 8, scales++)
        {
            var a0 = Vector256.Load(quants);
            var a1 = Vector256.Load(quants + tq);
            var a2 = Vector256.Load(quants + 2 * tq);
            var a3 = Vector256.Load(quants + 3 * tq);
            var s0 = Vector256.Create(scales[0]);
            var s1 = Vector256.Create(scales[blocks]);
            var s2 = Vector256.Create(scales[2 * blocks]);
            var s3 = Vector256.Create(scales[3 * blocks]);

            byte* row = weights;
            var w = Nibbles(row);
            var d = Vector256.Create(Float16.ToSingle(*(ushort*)row));
            c00 = Fma.MultiplyAdd(d * s0, Dot(corrections, w, a0), c00);
            c01 = Fma.MultiplyAdd(d * s1, Dot(corrections + tc, w, a1), c01);
            c02 = Fma.MultiplyAdd(d * s2, Dot(corrections + 2 * tc, w, a2), c02);
            c03 = Fma.MultiplyAdd(d * s3, Dot(corrections + 3 * tc, w, a3), c03);
            row += rowBytes;
            w = Nibbles(row);
            d = Vector256.Create(Float16.ToSingle(*(ushort*)row));
            c10 = Fma.MultiplyAdd(d * s0, Dot(corrections, w, a0), c10);
            c11 = Fma.MultiplyAdd(d * s1, Dot(corrections + tc, w, a1), c11);
            c12 = Fma.MultiplyAdd(d * s2, Dot(corrections + 2 * tc, w, a2), c12);
            c13 = Fma.MultiplyAdd(d * s3, Dot(corrections + 3 * tc, w, a3), c13);
            row += rowBytes;
            w = Nibbles(row);
            d = Vector256.Create(Float16.ToSingle(*(ushort*)row));
            c20 = Fma.MultiplyAdd(d * s0, Dot(corrections, w, a0), c20);
            c21 = Fma.MultiplyAdd(d * s1, Dot(corrections + tc, w, a1), c21);
            c22 = Fma.MultiplyAdd(d * s2, Dot(corrections + 2 * tc, w, a2), c22);
            c23 = Fma.MultiplyAdd(d * s3, Dot(corrections + 3 * tc, w, a3), c23);
            row += rowBytes;
            w = Nibbles(row);
            d = Vector256.Create(Float16.ToSingle(*(ushort*)row));
            c30 = Fma.MultiplyAdd(d * s0, Dot(corrections, w, a0), c30);
            c31 = Fma.MultiplyAdd(d * s1, Dot(corrections + tc, w, a1), c31);
            c32 = Fma.MultiplyAdd(d * s2, Dot(corrections + 2 * tc, w, a2), c32);
            c33 = Fma.MultiplyAdd(d * s3, Dot(corrections + 3 * tc, w, a3), c33);
        }
        Store(output, outputStride, 0, c00, c01, c02, c03);
        Store(output, outputStride, 1, c10, c11, c12, c13);
        Store(output, outputStride, 2, c20, c21, c22, c23);
        Store(output, outputStride, 3, c30, c31, c32, c33);
    }

    /// <summary>
    /// Four Q8_0 rows × one packed token, for decoding: four independent accumulator chains instead of one, so the
    /// FMA latency of each row's chain overlaps the others'.
    /// </summary>
    public static void Q8_0Rows(byte* weights, int rowBytes, sbyte* quants, float* scales, int* corrections, int blocks, float* output)
    {
        Vector256<float> c0 = default, c1 = default, c2 = default, c3 = default;
        Vector256<byte> signBit = Vector256.Create((byte)0x80);
        byte* w0 = weights, w1 = w0 + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes;
        for (int b = 0; b < blocks; b++, quants += 32, corrections += 8, scales++)
        {
            var a = Vector256.Load(quants);
            var s = Vector256.Create(*scales);
            c0 = Fma.MultiplyAdd(Vector256.Create(Float16.ToSingle(*(ushort*)w0)) * s, Dot(corrections, Vector256.Load(w0 + Q8_0Layout.Quants) ^ signBit, a), c0);
            c1 = Fma.MultiplyAdd(Vector256.Create(Float16.ToSingle(*(ushort*)w1)) * s, Dot(corrections, Vector256.Load(w1 + Q8_0Layout.Quants) ^ signBit, a), c1);
            c2 = Fma.MultiplyAdd(Vector256.Create(Float16.ToSingle(*(ushort*)w2)) * s, Dot(corrections, Vector256.Load(w2 + Q8_0Layout.Quants) ^ signBit, a), c2);
            c3 = Fma.MultiplyAdd(Vector256.Create(Float16.ToSingle(*(ushort*)w3)) * s, Dot(corrections, Vector256.Load(w3 + Q8_0Layout.Quants) ^ signBit, a), c3);
            w0 += Q8_0Layout.Bytes; w1 += Q8_0Layout.Bytes; w2 += Q8_0Layout.Bytes; w3 += Q8_0Layout.Bytes;
        }
        output[0] = SumLanes(c0);
        output[1] = SumLanes(c1);
        output[2] = SumLanes(c2);
        output[3] = SumLanes(c3);
    }

    /// <summary>Four Q4_0 rows × one packed token, for decoding.</summary>
    public static void Q4_0Rows(byte* weights, int rowBytes, sbyte* quants, float* scales, int* corrections, int blocks, float* output)
    {
        Vector256<float> c0 = default, c1 = default, c2 = default, c3 = default;
        byte* w0 = weights, w1 = w0 + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes;
        for (int b = 0; b < blocks; b++, quants += 32, corrections += 8, scales++)
        {
            var a = Vector256.Load(quants);
            var s = Vector256.Create(*scales);
            c0 = Fma.MultiplyAdd(Vector256.Create(Float16.ToSingle(*(ushort*)w0)) * s, Dot(corrections, Nibbles(w0), a), c0);
            c1 = Fma.MultiplyAdd(Vector256.Create(Float16.ToSingle(*(ushort*)w1)) * s, Dot(corrections, Nibbles(w1), a), c1);
            c2 = Fma.MultiplyAdd(Vector256.Create(Float16.ToSingle(*(ushort*)w2)) * s, Dot(corrections, Nibbles(w2), a), c2);
            c3 = Fma.MultiplyAdd(Vector256.Create(Float16.ToSingle(*(ushort*)w3)) * s, Dot(corrections, Nibbles(w3), a), c3);
            w0 += Q4_0Layout.Bytes; w1 += Q4_0Layout.Bytes; w2 += Q4_0Layout.Bytes; w3 += Q4_0Layout.Bytes;
        }
        output[0] = SumLanes(c0);
        output[1] = SumLanes(c1);
        output[2] = SumLanes(c2);
        output[3] = SumLanes(c3);
    }

    /// <summary>Q5_0 rows × four packed tokens (five-bit values used unsigned; the −16 lives in the corrections).</summary>
    public static void Q5_0(byte* weights, int rowBytes, sbyte* quants, float* scales, int* corrections, int blocks, float* output, int outputStride)
    {
        Vector256<float> c00 = default, c01 = default, c02 = default, c03 = default;
        Vector256<float> c10 = default, c11 = default, c12 = default, c13 = default;
        Vector256<float> c20 = default, c21 = default, c22 = default, c23 = default;
        Vector256<float> c30 = default, c31 = default, c32 = default, c33 = default;
        long tq = (long)blocks * 32, tc = (long)blocks * 8;
        for (int b = 0; b < blocks; b++, weights += Q5_0Layout.Bytes, quants += 32, corrections += 8, scales++)
        {
            var a0 = Vector256.Load(quants);
            var a1 = Vector256.Load(quants + tq);
            var a2 = Vector256.Load(quants + 2 * tq);
            var a3 = Vector256.Load(quants + 3 * tq);
            var s0 = Vector256.Create(scales[0]);
            var s1 = Vector256.Create(scales[blocks]);
            var s2 = Vector256.Create(scales[2 * blocks]);
            var s3 = Vector256.Create(scales[3 * blocks]);

            byte* row = weights;
            var w = FiveBits(row);
            var d = Vector256.Create(Float16.ToSingle(*(ushort*)row));
            c00 = Fma.MultiplyAdd(d * s0, Dot(corrections, w, a0), c00);
            c01 = Fma.MultiplyAdd(d * s1, Dot(corrections + tc, w, a1), c01);
            c02 = Fma.MultiplyAdd(d * s2, Dot(corrections + 2 * tc, w, a2), c02);
            c03 = Fma.MultiplyAdd(d * s3, Dot(corrections + 3 * tc, w, a3), c03);
            row += rowBytes;
            w = FiveBits(row);
            d = Vector256.Create(Float16.ToSingle(*(ushort*)row));
            c10 = Fma.MultiplyAdd(d * s0, Dot(corrections, w, a0), c10);
            c11 = Fma.MultiplyAdd(d * s1, Dot(corrections + tc, w, a1), c11);
            c12 = Fma.MultiplyAdd(d * s2, Dot(corrections + 2 * tc, w, a2), c12);
            c13 = Fma.MultiplyAdd(d * s3, Dot(corrections + 3 * tc, w, a3), c13);
            row += rowBytes;
            w = FiveBits(row);
            d = Vector256.Create(Float16.ToSingle(*(ushort*)row));
            c20 = Fma.MultiplyAdd(d * s0, Dot(corrections, w, a0), c20);
            c21 = Fma.MultiplyAdd(d * s1, Dot(corrections + tc, w, a1), c21);
            c22 = Fma.MultiplyAdd(d * s2, Dot(corrections + 2 * tc, w, a2), c22);
            c23 = Fma.MultiplyAdd(d * s3, Dot(corrections + 3 * tc, w, a3), c23);
            row += rowBytes;
            w = FiveBits(row);
            d = Vector256.Create(Float16.ToSingle(*(ushort*)row));
            c30 = Fma.MultiplyAdd(d * s0, Dot(corrections, w, a0), c30);
            c31 = Fma.MultiplyAdd(d * s1, Dot(corrections + tc, w, a1), c31);
            c32 = Fma.MultiplyAdd(d * s2, Dot(corrections + 2 * tc, w, a2), c32);
            c33 = Fma.MultiplyAdd(d * s3, Dot(corrections + 3 * tc, w, a3), c33);
        }
        Store(output, outputStride, 0, c00, c01, c02, c03);
        Store(output, outputStride, 1, c10, c11, c12, c13);
        Store(output, outputStride, 2, c20, c21, c22, c23);
        Store(output, outputStride, 3, c30, c31, c32, c33);
    }

    /// <summary>Four Q5_0 rows × one packed token, for decoding.</summary>
    public static void Q5_0Rows(byte* weights, int rowBytes, sbyte* quants, float* scales, int* corrections, int blocks, float* output)
    {
        Vector256<float> c0 = default, c1 = default, c2 = default, c3 = default;
        byte* w0 = weights, w1 = w0 + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes;
        for (int b = 0; b < blocks; b++, quants += 32, corrections += 8, scales++)
        {
            var a = Vector256.Load(quants);
            var s = Vector256.Create(*scales);
            c0 = Fma.MultiplyAdd(Vector256.Create(Float16.ToSingle(*(ushort*)w0)) * s, Dot(corrections, FiveBits(w0), a), c0);
            c1 = Fma.MultiplyAdd(Vector256.Create(Float16.ToSingle(*(ushort*)w1)) * s, Dot(corrections, FiveBits(w1), a), c1);
            c2 = Fma.MultiplyAdd(Vector256.Create(Float16.ToSingle(*(ushort*)w2)) * s, Dot(corrections, FiveBits(w2), a), c2);
            c3 = Fma.MultiplyAdd(Vector256.Create(Float16.ToSingle(*(ushort*)w3)) * s, Dot(corrections, FiveBits(w3), a), c3);
            w0 += Q5_0Layout.Bytes; w1 += Q5_0Layout.Bytes; w2 += Q5_0Layout.Bytes; w3 += Q5_0Layout.Bytes;
        }
        output[0] = SumLanes(c0);
        output[1] = SumLanes(c1);
        output[2] = SumLanes(c2);
        output[3] = SumLanes(c3);
    }

    /// <summary>Q5_0 block quants as unsigned five-bit values q (nibble plus the fifth bit from qh), in order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> FiveBits(byte* block)
    {
        Vector128<byte> packed = Vector128.Load(block + Q5_0Layout.Quants);
        Vector128<byte> high = Sse2.ShiftRightLogical(packed.AsUInt16(), 4).AsByte();
        Vector256<byte> nibbles = Vector256.Create(packed, high) & Vector256.Create((byte)0x0F);
        return nibbles | (BitsToBytes(*(uint*)(block + Q5_0Layout.HighBits)) & Vector256.Create((byte)0x10));
    }

    /// <summary>32 bits to 32 bytes: 0xFF where the bit is set.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> BitsToBytes(uint bits)
    {
        Vector256<byte> spread = Avx2.Shuffle(Vector256.Create(bits).AsByte(),
            Vector256.Create(0x0000000000000000ul, 0x0101010101010101ul, 0x0202020202020202ul, 0x0303030303030303ul).AsByte());
        Vector256<byte> othersSet = spread | Vector256.Create(0x7FBFDFEFF7FBFDFEul).AsByte();
        return Vector256.Equals(othersSet, Vector256<byte>.AllBitsSet);
    }

    /// <summary>Q4_0 block quants as unsigned nibbles q, elements in order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Nibbles(byte* block)
    {
        Vector128<byte> packed = Vector128.Load(block + Q4_0Layout.Quants);
        Vector128<byte> high = Sse2.ShiftRightLogical(packed.AsUInt16(), 4).AsByte();
        return Vector256.Create(packed, high) & Vector256.Create((byte)0x0F);
    }

    /// <summary>Σ w·a per lane as a float: the token's correction seeds vpdpbusd over the offset weights.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Dot(int* correction, Vector256<byte> offsetWeights, Vector256<sbyte> a) =>
        Avx.ConvertToVector256Single(AvxVnni.MultiplyWideningAndAdd(Vector256.Load(correction), offsetWeights, a));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(float* output, int stride, int row, Vector256<float> t0, Vector256<float> t1, Vector256<float> t2, Vector256<float> t3)
    {
        output[row] = SumLanes(t0);
        output[stride + row] = SumLanes(t1);
        output[2 * stride + row] = SumLanes(t2);
        output[3 * stride + row] = SumLanes(t3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float SumLanes(Vector256<float> v)
    {
        Vector128<float> r = Sse.Add(v.GetUpper(), v.GetLower());
        r = Sse.Add(r, Sse.MoveHighToLow(r, r));
        r = Sse.AddScalar(r, Sse3.MoveHighAndDuplicate(r));
        return r.ToScalar();
    }
}

using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Liaoyuan.Operators.Quantization;

/// <summary>
/// Matrix kernels for Q8_0 / Q4_0 / Q5_0 weights against Q8_0 activations on CPUs with VNNI (vpdpbusd: unsigned ×
/// signed bytes, four products summed into each 32-bit lane). The weights are read as unsigned values w + offset
/// (Q8_0: one xor; Q4_0 and Q5_0: their raw codes), and each token block's −offset·Σa per lane seeds the integer
/// accumulator, so every integer dot is exactly Σ w·a with no sign trick. Activations come repacked by
/// <see cref="PackActivations"/> (quants on cache lines, scales as floats: no half is widened in the loop). The
/// float accumulation that follows is the one of <see cref="Avx2DotProducts"/> (one FMA per block into eight lanes,
/// the same final lane sum), so every result is bit-identical to the one-token dot product.
/// </summary>
internal static unsafe class VnniTileKernels
{
    public const int Rows = 4;

    public static bool IsSupported => AvxVnni.IsSupported && Fma.IsSupported;

    /// <summary>Splits Q8_0 activation rows into quants (32 bytes per block) and float scales, token-major.</summary>
    public static void PackActivations(byte* q8Rows, int rowBytes, int tokens, int blocks, sbyte* quants, float* scales)
    {
        for (int t = 0; t < tokens; t++)
        {
            byte* block = q8Rows + (long)t * rowBytes;
            for (int b = 0; b < blocks; b++, block += Q8_0Layout.Bytes, quants += 32)
            {
                *scales++ = Float16.ToSingle(*(ushort*)block);
                Vector256.Load((sbyte*)(block + Q8_0Layout.Quants)).Store(quants);
            }
        }
    }

    /// <summary>Four weight rows <paramref name="rowBytes"/> apart × four packed tokens; writes output[t · stride + r].</summary>
    public static void Tile<TBlocks>(byte* weights, int rowBytes, sbyte* quants, float* scales, int blocks, float* output, int outputStride)
        where TBlocks : struct, IOffsetBlocks
    {
        Vector256<float> c00 = default, c01 = default, c02 = default, c03 = default;
        Vector256<float> c10 = default, c11 = default, c12 = default, c13 = default;
        Vector256<float> c20 = default, c21 = default, c22 = default, c23 = default;
        Vector256<float> c30 = default, c31 = default, c32 = default, c33 = default;
        long tokenStride = (long)blocks * 32;
        Vector256<byte> offset = Vector256.Create(TBlocks.Offset);
        for (int b = 0; b < blocks; b++, weights += TBlocks.Bytes, quants += 32, scales++)
        {
            var a0 = Vector256.Load(quants);
            var a1 = Vector256.Load(quants + tokenStride);
            var a2 = Vector256.Load(quants + 2 * tokenStride);
            var a3 = Vector256.Load(quants + 3 * tokenStride);
            Vector256<int> z0 = Seed(offset, a0), z1 = Seed(offset, a1), z2 = Seed(offset, a2), z3 = Seed(offset, a3);
            var s0 = Vector256.Create(scales[0]);
            var s1 = Vector256.Create(scales[blocks]);
            var s2 = Vector256.Create(scales[2 * blocks]);
            var s3 = Vector256.Create(scales[3 * blocks]);

            byte* row = weights;
            var w = TBlocks.Quants(row);
            var d = Vector256.Create(Float16.ToSingle(*(ushort*)row));
            c00 = Fma.MultiplyAdd(d * s0, Dot(z0, w, a0), c00);
            c01 = Fma.MultiplyAdd(d * s1, Dot(z1, w, a1), c01);
            c02 = Fma.MultiplyAdd(d * s2, Dot(z2, w, a2), c02);
            c03 = Fma.MultiplyAdd(d * s3, Dot(z3, w, a3), c03);
            row += rowBytes;
            w = TBlocks.Quants(row);
            d = Vector256.Create(Float16.ToSingle(*(ushort*)row));
            c10 = Fma.MultiplyAdd(d * s0, Dot(z0, w, a0), c10);
            c11 = Fma.MultiplyAdd(d * s1, Dot(z1, w, a1), c11);
            c12 = Fma.MultiplyAdd(d * s2, Dot(z2, w, a2), c12);
            c13 = Fma.MultiplyAdd(d * s3, Dot(z3, w, a3), c13);
            row += rowBytes;
            w = TBlocks.Quants(row);
            d = Vector256.Create(Float16.ToSingle(*(ushort*)row));
            c20 = Fma.MultiplyAdd(d * s0, Dot(z0, w, a0), c20);
            c21 = Fma.MultiplyAdd(d * s1, Dot(z1, w, a1), c21);
            c22 = Fma.MultiplyAdd(d * s2, Dot(z2, w, a2), c22);
            c23 = Fma.MultiplyAdd(d * s3, Dot(z3, w, a3), c23);
            row += rowBytes;
            w = TBlocks.Quants(row);
            d = Vector256.Create(Float16.ToSingle(*(ushort*)row));
            c30 = Fma.MultiplyAdd(d * s0, Dot(z0, w, a0), c30);
            c31 = Fma.MultiplyAdd(d * s1, Dot(z1, w, a1), c31);
            c32 = Fma.MultiplyAdd(d * s2, Dot(z2, w, a2), c32);
            c33 = Fma.MultiplyAdd(d * s3, Dot(z3, w, a3), c33);
        }
        Store(output, outputStride, 0, c00, c01, c02, c03);
        Store(output, outputStride, 1, c10, c11, c12, c13);
        Store(output, outputStride, 2, c20, c21, c22, c23);
        Store(output, outputStride, 3, c30, c31, c32, c33);
    }

    /// <summary>
    /// One weight row × one packed token, for decoding: the row is read front to back, one stream the hardware
    /// prefetcher follows across consecutive rows.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Row<TBlocks>(byte* weights, sbyte* quants, float* scales, int blocks)
        where TBlocks : struct, IOffsetBlocks
    {
        Vector256<float> acc = default;
        Vector256<byte> offset = Vector256.Create(TBlocks.Offset);
        for (int b = 0; b < blocks; b++, quants += 32, scales++, weights += TBlocks.Bytes)
        {
            var a = Vector256.Load(quants);
            var d = Vector256.Create(Float16.ToSingle(*(ushort*)weights) * *scales);
            acc = Fma.MultiplyAdd(d, Dot(Seed(offset, a), TBlocks.Quants(weights), a), acc);
        }
        return Avx2DotProducts.SumLanes(acc);
    }

    /// <summary>−offset · (sum of each group of four activation bytes): what (w + offset)·a overshoots Σ w·a by.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Seed(Vector256<byte> offset, Vector256<sbyte> a) =>
        Vector256<int>.Zero - AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, offset, a);

    /// <summary>Σ w·a per lane, as a float.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Dot(Vector256<int> seed, Vector256<byte> offsetWeights, Vector256<sbyte> a) =>
        Avx.ConvertToVector256Single(AvxVnni.MultiplyWideningAndAdd(seed, offsetWeights, a));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(float* output, int stride, int row, Vector256<float> t0, Vector256<float> t1, Vector256<float> t2, Vector256<float> t3)
    {
        output[row] = Avx2DotProducts.SumLanes(t0);
        output[stride + row] = Avx2DotProducts.SumLanes(t1);
        output[2 * stride + row] = Avx2DotProducts.SumLanes(t2);
        output[3 * stride + row] = Avx2DotProducts.SumLanes(t3);
    }
}

/// <summary>A 32-weight block layout whose quants read as unsigned bytes w + <see cref="Offset"/>.</summary>
internal unsafe interface IOffsetBlocks
{
    static abstract int Bytes { get; }

    static abstract byte Offset { get; }

    static abstract Vector256<byte> Quants(byte* block);
}

/// <summary>Q8_0: signed bytes, made unsigned by flipping the sign bit (w + 128).</summary>
internal readonly unsafe struct Q8_0Blocks : IOffsetBlocks
{
    public static int Bytes => Q8_0Layout.Bytes;

    public static byte Offset => 128;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Quants(byte* block) => Vector256.Load(block + Q8_0Layout.Quants) ^ Vector256.Create((byte)0x80);
}

/// <summary>Q4_0: the raw nibbles, w + 8; element j in the low nibble of byte j, j + 16 in its high nibble.</summary>
internal readonly unsafe struct Q4_0Blocks : IOffsetBlocks
{
    public static int Bytes => Q4_0Layout.Bytes;

    public static byte Offset => 8;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Quants(byte* block) => Avx2DotProducts.Nibbles(ref *(block + Q4_0Layout.Quants));
}

/// <summary>Q5_0: the raw five-bit codes, w + 16 (nibbles as Q4_0, the fifth bit of element j is bit j of qh).</summary>
internal readonly unsafe struct Q5_0Blocks : IOffsetBlocks
{
    public static int Bytes => Q5_0Layout.Bytes;

    public static byte Offset => 16;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Quants(byte* block) =>
        Avx2DotProducts.Nibbles(ref *(block + Q5_0Layout.Quants))
        | (Avx2DotProducts.BitsToBytes(*(uint*)(block + Q5_0Layout.HighBits)) & Vector256.Create((byte)0x10));
}

using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Liaoyuan.Operators.Quantization;

/// <summary>
/// Q4_K and Q6_K rows against one Q8_K activation row, for decoding (the ffn_down matrices of a Q4_K_M file). The
/// same integer lanes and float steps as the one-row kernels (and <see cref="ScalarDotProducts"/>), with less work
/// per weight: the sub-block scales are widened once per super-block and each chunk picks its pair with one
/// <c>pshufb</c> (instead of a scalar shift and a broadcast per sub-block), and Q6_K's −32 offset products are made
/// once per activation row instead of once per weight row. Row i + 2 is prefetched while row i is summed: the
/// hardware's stream prefetcher stops at every 4 KiB page, and a matrix-vector product is a stream of pages.
/// </summary>
internal static unsafe partial class Avx2DotProducts
{
    /// <summary>A pshufb mask repeating word <paramref name="lower"/> over the low 128-bit half, <paramref name="upper"/> over the high.</summary>
    /// <remarks>Callers pass constants: inlined, the JIT folds the mask into one vector constant.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> WordBroadcast(int lower, int upper)
    {
        byte l0 = (byte)(2 * lower), l1 = (byte)(2 * lower + 1), u0 = (byte)(2 * upper), u1 = (byte)(2 * upper + 1);
        return Vector256.Create(
            l0, l1, l0, l1, l0, l1, l0, l1, l0, l1, l0, l1, l0, l1, l0, l1,
            u0, u1, u0, u1, u0, u1, u0, u1, u0, u1, u0, u1, u0, u1, u0, u1);
    }

    public static void Q4_KRows(byte* weights, long rowBytes, int count, byte* activation, int superBlocks, float* output, long outputStride)
    {
        for (int i = 0; i < count; i++)
        {
            byte* x = weights + i * rowBytes, y = activation;
            var acc = Vector256<float>.Zero;
            var minAcc = Vector128<float>.Zero;
            for (int block = 0; block < superBlocks; block++, x += Q4_KLayout.Bytes, y += Q8_KLayout.Bytes)
            {
                byte* ahead = x + 2 * rowBytes;
                Sse.Prefetch0(ahead);
                Sse.Prefetch0(ahead + 64);
                Sse.Prefetch0(ahead + 128);
                float yd = *(float*)y;
                float d = yd * Float16.ToSingle(*(ushort*)(x + Q4_KLayout.Scale));
                float dmin = -yd * Float16.ToSingle(*(ushort*)(x + Q4_KLayout.MinScale));
                (ulong scales, ulong mins) = KQuantScales.Unpack(ref *(x + Q4_KLayout.SubScales));
                Vector128<int> minProducts = MinProducts(mins, ref *(y + Q8_KLayout.GroupSums));
                minAcc = Fma.MultiplyAdd(Vector128.Create(dmin), Sse2.ConvertToVector128Single(minProducts), minAcc);

                var wide = Sse41.ConvertToVector128Int16(Vector128.CreateScalar(scales).AsByte()).AsByte();
                var scaleWords = Vector256.Create(wide, wide);
                byte* quants = x + Q4_KLayout.Quants, q8 = y + Q8_KLayout.Quants;
                var sum = ScaledNibbles(quants, q8, scaleWords, 0) + ScaledNibbles(quants, q8, scaleWords, 1);
                sum += ScaledNibbles(quants, q8, scaleWords, 2) + ScaledNibbles(quants, q8, scaleWords, 3);
                acc = Fma.MultiplyAdd(Vector256.Create(d), Avx.ConvertToVector256Single(sum), acc);
            }
            output[i * outputStride] = SumLanesAndMins(acc, minAcc);
        }
    }

    /// <summary>The eight lanes of a row's scaled sums plus the four lanes of its min terms, in ggml's order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float SumLanesAndMins(Vector256<float> acc, Vector128<float> minAcc)
    {
        minAcc = Sse.Add(minAcc, Sse.MoveHighToLow(minAcc, minAcc));
        minAcc = Sse.AddScalar(minAcc, Sse3.MoveHighAndDuplicate(minAcc));
        return SumLanes(acc) + minAcc.ToScalar();
    }

    /// <summary>Chunk <paramref name="chunk"/> (64 weights: sub-blocks 2·chunk in the low nibbles, 2·chunk + 1 in the high) in 8 int lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> ScaledNibbles(byte* quants, byte* q8, Vector256<byte> scaleWords, int chunk)
    {
        var bits = Vector256.Load(quants + 32 * chunk);
        var low = bits & Vector256.Create((byte)0x0F);
        var high = (bits.AsUInt16() >>> 4).AsByte() & Vector256.Create((byte)0x0F);
        sbyte* y = (sbyte*)(q8 + 64 * chunk);
        var lowScale = Avx2.Shuffle(scaleWords, WordBroadcast(2 * chunk, 2 * chunk)).AsInt16();
        var highScale = Avx2.Shuffle(scaleWords, WordBroadcast(2 * chunk + 1, 2 * chunk + 1)).AsInt16();
        return Avx2.MultiplyAddAdjacent(lowScale, Avx2.MultiplyAddAdjacent(low, Vector256.Load(y)))
             + Avx2.MultiplyAddAdjacent(highScale, Avx2.MultiplyAddAdjacent(high, Vector256.Load(y + 32)));
    }

    [ThreadStatic] private static short[]? t_offsetProducts;

    public static void Q6_KRows(byte* weights, long rowBytes, int count, byte* activation, int superBlocks, float* output, long outputStride)
    {
        // 32·(y[2j] + y[2j+1]) for every pair of the activation row: the −32 in each weight's (q − 32)·y.
        int chunks = superBlocks * 8;
        short[] products = t_offsetProducts is { } cached && cached.Length >= chunks * 16
            ? cached
            : t_offsetProducts = new short[chunks * 16];
        fixed (short* offsets = products)
        {
            var offset = Vector256.Create((byte)32);
            for (int block = 0; block < superBlocks; block++)
                for (int chunk = 0; chunk < 8; chunk++)
                {
                    var a = Vector256.Load((sbyte*)(activation + block * Q8_KLayout.Bytes + Q8_KLayout.Quants + 32 * chunk));
                    Avx2.MultiplyAddAdjacent(offset, a).Store(offsets + (block * 8 + chunk) * 16);
                }

            for (int i = 0; i < count; i++)
            {
                byte* x = weights + i * rowBytes, y = activation;
                short* offsetRow = offsets;
                var acc = Vector256<float>.Zero;
                for (int block = 0; block < superBlocks; block++, x += Q6_KLayout.Bytes, y += Q8_KLayout.Bytes)
                {
                    byte* ahead = x + 2 * rowBytes;
                    Sse.Prefetch0(ahead);
                    Sse.Prefetch0(ahead + 64);
                    Sse.Prefetch0(ahead + 128);
                    Sse.Prefetch0(ahead + 192);
                    float d = *(float*)y * Float16.ToSingle(*(ushort*)(x + Q6_KLayout.Scale));
                    var allScales = Avx2.ConvertToVector256Int16((sbyte*)(x + Q6_KLayout.SubScales));
                    // Both 128-bit lanes of a half's scale words hold its eight scales; chunk k uses words 2k and 2k + 1.
                    var sum = SixBitHalf(x, y, offsetRow, Avx2.Permute4x64(allScales.AsInt64(), 0x44).AsByte(), 0)
                            + SixBitHalf(x, y, offsetRow + 64, Avx2.Permute4x64(allScales.AsInt64(), 0xEE).AsByte(), 1);
                    offsetRow += 128;
                    acc = Fma.MultiplyAdd(Vector256.Create(d), Avx.ConvertToVector256Single(sum), acc);
                }
                output[i * outputStride] = SumLanes(acc);
            }
        }
    }

    /// <summary>Half <paramref name="half"/> of a Q6_K super-block (128 weights, four chunks) in 8 int lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> SixBitHalf(byte* x, byte* y, short* offsetProducts, Vector256<byte> scaleWords, int half)
    {
        var lowNibble = Vector256.Create((byte)0x0F);
        var highPair = Vector256.Create((byte)0x30);
        var bits1 = Vector256.Load(x + Q6_KLayout.LowBits + 64 * half);
        var bits2 = Vector256.Load(x + Q6_KLayout.LowBits + 64 * half + 32);
        var hi = Vector256.Load(x + Q6_KLayout.HighBits + 32 * half).AsUInt16();
        // 16-bit shifts: the bits that cross into a neighbouring byte fall outside 0x30.
        var q0 = (bits1 & lowNibble) | ((hi << 4).AsByte() & highPair);
        var q1 = (bits2 & lowNibble) | ((hi << 2).AsByte() & highPair);
        var q2 = ((bits1.AsUInt16() >>> 4).AsByte() & lowNibble) | (hi.AsByte() & highPair);
        var q3 = ((bits2.AsUInt16() >>> 4).AsByte() & lowNibble) | ((hi >>> 2).AsByte() & highPair);
        sbyte* q8 = (sbyte*)(y + Q8_KLayout.Quants + 128 * half);
        return Centered(q0, q8, offsetProducts, scaleWords, 0) + Centered(q1, q8 + 32, offsetProducts + 16, scaleWords, 1)
             + Centered(q2, q8 + 64, offsetProducts + 32, scaleWords, 2) + Centered(q3, q8 + 96, offsetProducts + 48, scaleWords, 3);
    }

    /// <summary>(q − 32)·y of one 32-weight chunk in pairs, weighted by its two sub-block scales, in 8 int lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Centered(Vector256<byte> q, sbyte* y, short* offsetProducts, Vector256<byte> scaleWords, int chunk)
    {
        var products = Avx2.MultiplyAddAdjacent(q, Vector256.Load(y)) - Vector256.Load(offsetProducts);
        var scales = Avx2.Shuffle(scaleWords, WordBroadcast(2 * chunk, 2 * chunk + 1)).AsInt16();
        return Avx2.MultiplyAddAdjacent(scales, products);
    }
}

using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Liaoyuan.Operators.Quantization;

/// <summary>
/// One k-quant weight row × four Q8_K activation rows, for prompt processing: the super-block's scales and
/// quants are unpacked once and used for four tokens. Each token's arithmetic is that of the one-token kernels in
/// <see cref="Avx2DotProducts"/> (same integer sums, the same FMAs in the same order), so the results are the
/// same bits.
/// </summary>
internal static unsafe class KQuantTileKernels
{
    public static void Q4_Kx4(byte* weights, byte* activations, int activationStride, int superBlocks, float* output, int outputStride)
    {
        Vector256<byte> lowNibble = Vector256.Create((byte)0x0F);
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        Vector128<float> min0 = default, min1 = default, min2 = default, min3 = default;
        byte* y0 = activations, y1 = y0 + activationStride, y2 = y1 + activationStride, y3 = y2 + activationStride;
        for (int block = 0; block < superBlocks; block++, weights += Q4_KLayout.Bytes,
             y0 += Q8_KLayout.Bytes, y1 += Q8_KLayout.Bytes, y2 += Q8_KLayout.Bytes, y3 += Q8_KLayout.Bytes)
        {
            float wd = Float16.ToSingle(*(ushort*)(weights + Q4_KLayout.Scale));
            float wmin = Float16.ToSingle(*(ushort*)(weights + Q4_KLayout.MinScale));
            (ulong scales, ulong mins) = KQuantScales.Unpack(ref *(weights + Q4_KLayout.SubScales));
            Vector256<int> sum0 = default, sum1 = default, sum2 = default, sum3 = default;
            for (int chunk = 0; chunk < 4; chunk++)
            {
                Vector256<byte> bits = Vector256.Load(weights + Q4_KLayout.Quants + 32 * chunk);
                Vector256<byte> low = bits & lowNibble;
                Vector256<byte> high = Avx2.ShiftRightLogical(bits.AsUInt16(), 4).AsByte() & lowNibble;
                Vector256<short> lowScale = Vector256.Create(KQuantScales.Of(scales, 2 * chunk));
                Vector256<short> highScale = Vector256.Create(KQuantScales.Of(scales, 2 * chunk + 1));
                int q8 = Q8_KLayout.Quants + 64 * chunk;
                sum0 += ScaledPair(low, high, lowScale, highScale, y0 + q8);
                sum1 += ScaledPair(low, high, lowScale, highScale, y1 + q8);
                sum2 += ScaledPair(low, high, lowScale, highScale, y2 + q8);
                sum3 += ScaledPair(low, high, lowScale, highScale, y3 + q8);
            }
            Finish(y0, wd, wmin, mins, sum0, ref acc0, ref min0);
            Finish(y1, wd, wmin, mins, sum1, ref acc1, ref min1);
            Finish(y2, wd, wmin, mins, sum2, ref acc2, ref min2);
            Finish(y3, wd, wmin, mins, sum3, ref acc3, ref min3);
        }
        output[0] = Total(acc0, min0);
        output[outputStride] = Total(acc1, min1);
        output[2 * outputStride] = Total(acc2, min2);
        output[3 * outputStride] = Total(acc3, min3);
    }

    /// <summary>The low-nibble and high-nibble halves of a 64-element chunk against one token, scaled and summed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> ScaledPair(Vector256<byte> low, Vector256<byte> high, Vector256<short> lowScale, Vector256<short> highScale, byte* q8)
    {
        Vector256<int> lowSum = Avx2.MultiplyAddAdjacent(lowScale, Avx2.MultiplyAddAdjacent(low, Vector256.Load((sbyte*)q8)));
        Vector256<int> highSum = Avx2.MultiplyAddAdjacent(highScale, Avx2.MultiplyAddAdjacent(high, Vector256.Load((sbyte*)(q8 + 32))));
        return lowSum + highSum;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Finish(byte* y, float wd, float wmin, ulong mins, Vector256<int> sum, ref Vector256<float> acc, ref Vector128<float> minAcc)
    {
        float yd = *(float*)(y + Q8_KLayout.Scale);
        Vector128<int> minProducts = Avx2DotProducts.MinProducts(mins, ref *(y + Q8_KLayout.GroupSums));
        minAcc = Fma.MultiplyAdd(Vector128.Create(-yd * wmin), Sse2.ConvertToVector128Single(minProducts), minAcc);
        acc = Fma.MultiplyAdd(Vector256.Create(yd * wd), Avx.ConvertToVector256Single(sum), acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Total(Vector256<float> acc, Vector128<float> minAcc) => Avx2DotProducts.SumLanesAndMins(acc, minAcc);

    public static void Q6_Kx4(byte* weights, byte* activations, int activationStride, int superBlocks, float* output, int outputStride)
    {
        Vector256<byte> lowNibble = Vector256.Create((byte)0x0F);
        Vector256<ushort> twoBits = Vector256.Create((ushort)0x0303);
        Vector256<byte> offset = Vector256.Create((byte)32);
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        byte* y0 = activations, y1 = y0 + activationStride, y2 = y1 + activationStride, y3 = y2 + activationStride;
        for (int block = 0; block < superBlocks; block++, weights += Q6_KLayout.Bytes,
             y0 += Q8_KLayout.Bytes, y1 += Q8_KLayout.Bytes, y2 += Q8_KLayout.Bytes, y3 += Q8_KLayout.Bytes)
        {
            float wd = Float16.ToSingle(*(ushort*)(weights + Q6_KLayout.Scale));
            Vector256<int> sum0 = default, sum1 = default, sum2 = default, sum3 = default;
            for (int half = 0; half < 2; half++)
            {
                Vector256<byte> bits1 = Vector256.Load(weights + Q6_KLayout.LowBits + 64 * half);
                Vector256<byte> bits2 = Vector256.Load(weights + Q6_KLayout.LowBits + 64 * half + 32);
                Vector256<ushort> hi = Vector256.Load(weights + Q6_KLayout.HighBits + 32 * half).AsUInt16();
                Vector256<byte> q0 = (bits1 & lowNibble) | Shift4(hi & twoBits);
                Vector256<byte> q1 = (bits2 & lowNibble) | Shift4(Avx2.ShiftRightLogical(hi, 2) & twoBits);
                Vector256<byte> q2 = (Avx2.ShiftRightLogical(bits1.AsUInt16(), 4).AsByte() & lowNibble) | Shift4(Avx2.ShiftRightLogical(hi, 4) & twoBits);
                Vector256<byte> q3 = (Avx2.ShiftRightLogical(bits2.AsUInt16(), 4).AsByte() & lowNibble) | Shift4(Avx2.ShiftRightLogical(hi, 6) & twoBits);
                sbyte* scales = (sbyte*)(weights + Q6_KLayout.SubScales + 8 * half);
                Vector256<short> s0 = PairScales(scales), s1 = PairScales(scales + 2), s2 = PairScales(scales + 4), s3 = PairScales(scales + 6);
                int q8 = Q8_KLayout.Quants + 128 * half;
                sum0 = HalfSum(sum0, q0, q1, q2, q3, s0, s1, s2, s3, offset, y0 + q8);
                sum1 = HalfSum(sum1, q0, q1, q2, q3, s0, s1, s2, s3, offset, y1 + q8);
                sum2 = HalfSum(sum2, q0, q1, q2, q3, s0, s1, s2, s3, offset, y2 + q8);
                sum3 = HalfSum(sum3, q0, q1, q2, q3, s0, s1, s2, s3, offset, y3 + q8);
            }
            acc0 = Fma.MultiplyAdd(Vector256.Create(*(float*)y0 * wd), Avx.ConvertToVector256Single(sum0), acc0);
            acc1 = Fma.MultiplyAdd(Vector256.Create(*(float*)y1 * wd), Avx.ConvertToVector256Single(sum1), acc1);
            acc2 = Fma.MultiplyAdd(Vector256.Create(*(float*)y2 * wd), Avx.ConvertToVector256Single(sum2), acc2);
            acc3 = Fma.MultiplyAdd(Vector256.Create(*(float*)y3 * wd), Avx.ConvertToVector256Single(sum3), acc3);
        }
        output[0] = Avx2DotProducts.SumLanes(acc0);
        output[outputStride] = Avx2DotProducts.SumLanes(acc1);
        output[2 * outputStride] = Avx2DotProducts.SumLanes(acc2);
        output[3 * outputStride] = Avx2DotProducts.SumLanes(acc3);

        static Vector256<byte> Shift4(Vector256<ushort> v) => Avx2.ShiftLeftLogical(v, 4).AsByte();
    }

    /// <summary>Two 16-element sub-block scales, one per 128-bit lane, as 16-bit values.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<short> PairScales(sbyte* scales) =>
        Vector256.Create(Vector128.Create((short)scales[0]), Vector128.Create((short)scales[1]));

    /// <summary>One 128-element half of a Q6_K super-block against one token, in the one-token kernel's order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> HalfSum(Vector256<int> sum, Vector256<byte> q0, Vector256<byte> q1, Vector256<byte> q2, Vector256<byte> q3,
        Vector256<short> s0, Vector256<short> s1, Vector256<short> s2, Vector256<short> s3, Vector256<byte> offset, byte* q8)
    {
        Vector256<int> p0 = Centered(q0, Vector256.Load((sbyte*)q8), offset, s0);
        Vector256<int> p1 = Centered(q1, Vector256.Load((sbyte*)(q8 + 32)), offset, s1);
        Vector256<int> p2 = Centered(q2, Vector256.Load((sbyte*)(q8 + 64)), offset, s2);
        Vector256<int> p3 = Centered(q3, Vector256.Load((sbyte*)(q8 + 96)), offset, s3);
        sum += p0 + p1;
        sum += p2 + p3;
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Centered(Vector256<byte> q, Vector256<sbyte> y, Vector256<byte> offset, Vector256<short> scales) =>
        Avx2.MultiplyAddAdjacent(scales, Avx2.MultiplyAddAdjacent(q, y) - Avx2.MultiplyAddAdjacent(offset, y));
}

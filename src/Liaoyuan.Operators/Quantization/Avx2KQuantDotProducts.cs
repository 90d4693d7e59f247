using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Liaoyuan.Operators.Quantization;

/// <summary>AVX2 kernels of the k-quants against Q8_K activations.</summary>
internal static partial class Avx2DotProducts
{
    public static unsafe float Q4_K(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n) =>
        OneRow(&Q4_KRows, weights, activations, n);

    public static unsafe float Q6_K(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n) =>
        OneRow(&Q6_KRows, weights, activations, n);

    /// <summary>One row through a k-quant rows kernel (weights, row bytes, count, activation, super-blocks, output, stride).</summary>
    private static unsafe float OneRow(delegate*<byte*, long, int, byte*, int, float*, long, void> rows,
        ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n)
    {
        float result;
        fixed (byte* x = weights)
        fixed (byte* y = activations)
            rows(x, weights.Length, 1, y, n / 256, &result, 1);
        return result;
    }

    public static float Q5_K(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n)
    {
        ref byte x = ref MemoryMarshal.GetReference(weights);
        ref byte y = ref MemoryMarshal.GetReference(activations);
        Vector256<byte> lowNibble = Vector256.Create((byte)0x0F);
        Vector256<byte> one = Vector256.Create((byte)1);
        Vector256<float> acc = Vector256<float>.Zero;
        float minTerms = 0;
        for (int block = 0, xo = 0, yo = 0; block < n / 256; block++, xo += Q5_KLayout.Bytes, yo += Q8_KLayout.Bytes)
        {
            float yd = Unsafe.ReadUnaligned<float>(ref Unsafe.Add(ref y, yo));
            float d = yd * Half(ref x, xo + Q5_KLayout.Scale);
            float dmin = -yd * Half(ref x, xo + Q5_KLayout.MinScale);
            (ulong scales, ulong mins) = KQuantScales.Unpack(ref Unsafe.Add(ref x, xo + Q5_KLayout.SubScales));

            Vector128<int> minProducts = MinProducts(mins, ref Unsafe.Add(ref y, yo + Q8_KLayout.GroupSums));
            minTerms = MathF.FusedMultiplyAdd(dmin, Vector128.Sum(minProducts), minTerms);

            Vector256<byte> highBits = Vector256.LoadUnsafe(ref x, (nuint)(xo + Q5_KLayout.HighBits));
            Vector256<int> sum = Vector256<int>.Zero;
            for (int chunk = 0; chunk < 4; chunk++)
            {
                Vector256<byte> bits = Vector256.LoadUnsafe(ref x, (nuint)(xo + Q5_KLayout.Quants + 32 * chunk));
                Vector256<byte> low = (bits & lowNibble) | FifthBit(highBits, 2 * chunk, one);
                Vector256<byte> high = (Avx2.ShiftRightLogical(bits.AsUInt16(), 4).AsByte() & lowNibble)
                                       | FifthBit(highBits, 2 * chunk + 1, one);
                int q8 = yo + Q8_KLayout.Quants + 64 * chunk;
                Vector256<int> lowSum = Avx2.MultiplyAddAdjacent(Vector256.Create(KQuantScales.Of(scales, 2 * chunk)),
                    Avx2.MultiplyAddAdjacent(low, Load32(ref y, q8)));
                Vector256<int> highSum = Avx2.MultiplyAddAdjacent(Vector256.Create(KQuantScales.Of(scales, 2 * chunk + 1)),
                    Avx2.MultiplyAddAdjacent(high, Load32(ref y, q8 + 32)));
                sum += lowSum + highSum;
            }
            acc = Fma.MultiplyAdd(Vector256.Create(d), Avx.ConvertToVector256Single(sum), acc);
        }
        return SumLanes(acc) + minTerms;
    }

    /// <summary>Bit <paramref name="bit"/> of every byte, moved to bit 4.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> FifthBit(Vector256<byte> highBits, int bit, Vector256<byte> one)
    {
        Vector256<byte> isolated = (highBits.AsUInt16() >> bit).AsByte() & one;
        return (isolated.AsUInt16() << 4).AsByte();
    }


    /// <summary>
    /// min[k] * (sum of Q8_K quants of sub-block k), paired into four int lanes (k = 2t, 2t + 1):
    /// phaddw of the 16-element sums, then pmaddwd with the mins.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<int> MinProducts(ulong mins, ref byte groupSums)
    {
        Vector128<short> sums = Ssse3.HorizontalAdd(
            Vector128.LoadUnsafe(ref Unsafe.As<byte, short>(ref groupSums)),
            Vector128.LoadUnsafe(ref Unsafe.As<byte, short>(ref groupSums), 8));
        Vector128<short> wideMins = Sse41.ConvertToVector128Int16(Vector128.CreateScalar(mins).AsByte());
        return Sse2.MultiplyAddAdjacent(wideMins, sums);
    }
}

using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;

namespace Liaoyuan.Operators.Quantization;

/// <summary>
/// The k-quant kernels of <see cref="NeonDotProducts"/> against Q8_K activations. Sub-block products stay in two
/// 4-lane integer sums per super-block (each SDOT result times its sub-block scale, exact), then one fused
/// multiply-add per register: the integer lanes and float steps of <see cref="ScalarDotProducts"/>.
/// </summary>
internal static partial class NeonDotProducts
{
    public static float Q4_K(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n) =>
        AffineSuperBlocks(weights, activations, n, fiveBits: false);

    public static float Q5_K(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n) =>
        AffineSuperBlocks(weights, activations, n, fiveBits: true);

    /// <summary>
    /// Q4_K and Q5_K. llama.cpp keeps Q4_K's minimum term in four float lanes (pairs of sub-blocks) and Q5_K's in
    /// one scalar; both are reproduced, as in the scalar kernel.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float AffineSuperBlocks(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n, bool fiveBits)
    {
        ref byte xr = ref MemoryMarshal.GetReference(weights);
        ref byte yr = ref MemoryMarshal.GetReference(activations);
        int blockBytes = fiveBits ? Q5_KLayout.Bytes : Q4_KLayout.Bytes;
        int quants = fiveBits ? Q5_KLayout.Quants : Q4_KLayout.Quants;
        Vector128<float> low = default, high = default, minLanes = default;
        Vector128<byte> nibble = Vector128.Create((byte)0x0F), bit4 = Vector128.Create((byte)0x10);
        float minScalar = 0;
        for (int block = 0; block < n / 256; block++)
        {
            ref byte x = ref Unsafe.Add(ref xr, block * blockBytes);
            ref byte y = ref Unsafe.Add(ref yr, block * Q8_KLayout.Bytes);
            float yd = Unsafe.ReadUnaligned<float>(ref y);
            float d = yd * Half(ref x, Q4_KLayout.Scale);
            float dmin = -yd * Half(ref x, Q4_KLayout.MinScale);
            (ulong scales, ulong mins) = KQuantScales.Unpack(ref Unsafe.Add(ref x, Q4_KLayout.SubScales));
            Vector128<int> minProducts = MinProducts(mins, ref Unsafe.Add(ref y, Q8_KLayout.GroupSums));
            if (fiveBits)
                minScalar = MathF.FusedMultiplyAdd(dmin, Vector128.Sum(minProducts), minScalar);
            else
                minLanes = Vector128.FusedMultiplyAdd(Vector128.Create(dmin), Vector128.ConvertToSingle(minProducts), minLanes);

            Vector128<byte> fifth0 = default, fifth1 = default;
            if (fiveBits)
            {
                fifth0 = Load16(ref x, Q5_KLayout.HighBits);
                fifth1 = Load16(ref x, Q5_KLayout.HighBits + 16);
            }
            Vector128<int> sumLow = default, sumHigh = default;
            for (int chunk = 0; chunk < 4; chunk++)
            {
                Vector128<byte> b0 = Load16(ref x, quants + 32 * chunk), b1 = Load16(ref x, quants + 32 * chunk + 16);
                Vector128<byte> lower0 = b0 & nibble, lower1 = b1 & nibble, upper0 = b0 >>> 4, upper1 = b1 >>> 4;
                if (fiveBits)
                {
                    Vector128<byte> lowerBit = Vector128.Create((byte)(1 << (2 * chunk))), upperBit = lowerBit + lowerBit;
                    lower0 |= AdvSimd.CompareTest(fifth0, lowerBit) & bit4;
                    lower1 |= AdvSimd.CompareTest(fifth1, lowerBit) & bit4;
                    upper0 |= AdvSimd.CompareTest(fifth0, upperBit) & bit4;
                    upper1 |= AdvSimd.CompareTest(fifth1, upperBit) & bit4;
                }
                int q8 = Q8_KLayout.Quants + 64 * chunk;
                Vector128<int> lowerScale = Vector128.Create((int)KQuantScales.Of(scales, 2 * chunk));
                Vector128<int> upperScale = Vector128.Create((int)KQuantScales.Of(scales, 2 * chunk + 1));
                sumLow = AdvSimd.MultiplyAdd(sumLow, SubBlockDot(lower0, ref y, q8), lowerScale);
                sumHigh = AdvSimd.MultiplyAdd(sumHigh, SubBlockDot(lower1, ref y, q8 + 16), lowerScale);
                sumLow = AdvSimd.MultiplyAdd(sumLow, SubBlockDot(upper0, ref y, q8 + 32), upperScale);
                sumHigh = AdvSimd.MultiplyAdd(sumHigh, SubBlockDot(upper1, ref y, q8 + 48), upperScale);
            }
            Vector128<float> scale = Vector128.Create(d);
            low = Vector128.FusedMultiplyAdd(scale, Vector128.ConvertToSingle(sumLow), low);
            high = Vector128.FusedMultiplyAdd(scale, Vector128.ConvertToSingle(sumHigh), high);
        }
        float minTerm = fiveBits ? minScalar : (minLanes[0] + minLanes[2]) + (minLanes[1] + minLanes[3]);
        return SumLanes(low, high) + minTerm;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> SubBlockDot(Vector128<byte> codes, ref byte y, int offset) =>
        DotAdd(Vector128<int>.Zero, codes.AsSByte(), Load16(ref y, offset).AsSByte());

    /// <summary>
    /// min[k] · (sum of sub-block k's Q8_K quants), paired into four int lanes (k = 2t, 2t + 1); the pair of 16-bit
    /// group sums wraps in 16 bits, as ggml's phaddw does.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> MinProducts(ulong mins, ref byte groupSums)
    {
        ref short sums = ref Unsafe.As<byte, short>(ref groupSums);
        Vector128<short> pairs = AdvSimd.Arm64.AddPairwise(Vector128.LoadUnsafe(ref sums), Vector128.LoadUnsafe(ref sums, 8));
        Vector128<short> wideMins = AdvSimd.ZeroExtendWideningLower(Vector64.Create(mins).AsByte()).AsInt16();
        Vector128<int> first = AdvSimd.MultiplyWideningLower(wideMins.GetLower(), pairs.GetLower());
        Vector128<int> second = AdvSimd.MultiplyWideningUpper(wideMins, pairs);
        return AdvSimd.Arm64.AddPairwise(first, second);
    }

    public static float Q6_K(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n)
    {
        ref byte xr = ref MemoryMarshal.GetReference(weights);
        ref byte yr = ref MemoryMarshal.GetReference(activations);
        Vector128<float> low = default, high = default;
        for (int block = 0; block < n / 256; block++)
        {
            ref byte x = ref Unsafe.Add(ref xr, block * Q6_KLayout.Bytes);
            ref byte y = ref Unsafe.Add(ref yr, block * Q8_KLayout.Bytes);
            float d = Unsafe.ReadUnaligned<float>(ref y) * Half(ref x, Q6_KLayout.Scale);
            Vector128<int> sumLow = default, sumHigh = default;
            for (int half = 0; half < 2; half++)
            {
                int lowBits = Q6_KLayout.LowBits + 64 * half, highBits = Q6_KLayout.HighBits + 32 * half;
                Vector128<byte> ql0 = Load16(ref x, lowBits), ql1 = Load16(ref x, lowBits + 16);
                Vector128<byte> ql2 = Load16(ref x, lowBits + 32), ql3 = Load16(ref x, lowBits + 48);
                Vector128<byte> qh0 = Load16(ref x, highBits), qh1 = Load16(ref x, highBits + 16);
                int e = 128 * half;
                Q6Quarter(ref sumLow, ref sumHigh, ref x, ref y, e, ql0 & Vector128.Create((byte)0x0F), ql1 & Vector128.Create((byte)0x0F),
                    qh0 << 4, qh1 << 4);
                Q6Quarter(ref sumLow, ref sumHigh, ref x, ref y, e + 32, ql2 & Vector128.Create((byte)0x0F), ql3 & Vector128.Create((byte)0x0F),
                    qh0 << 2, qh1 << 2);
                Q6Quarter(ref sumLow, ref sumHigh, ref x, ref y, e + 64, ql0 >>> 4, ql1 >>> 4, qh0, qh1);
                Q6Quarter(ref sumLow, ref sumHigh, ref x, ref y, e + 96, ql2 >>> 4, ql3 >>> 4, qh0 >>> 2, qh1 >>> 2);
            }
            Vector128<float> scale = Vector128.Create(d);
            low = Vector128.FusedMultiplyAdd(scale, Vector128.ConvertToSingle(sumLow), low);
            high = Vector128.FusedMultiplyAdd(scale, Vector128.ConvertToSingle(sumHigh), high);
        }
        return SumLanes(low, high);
    }

    /// <summary>
    /// Elements <paramref name="e"/> … e + 31 of a Q6_K super-block: the low four bits given, the two high bits
    /// already moved to bits 4–5 of <paramref name="high0"/>/<paramref name="high1"/> (other bits masked here),
    /// code − 32 times the activations, each 16 scaled by their sub-block's signed scale.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Q6Quarter(ref Vector128<int> sumLow, ref Vector128<int> sumHigh, ref byte x, ref byte y, int e,
        Vector128<byte> low0, Vector128<byte> low1, Vector128<byte> high0, Vector128<byte> high1)
    {
        Vector128<byte> bits45 = Vector128.Create((byte)0x30), offset = Vector128.Create((byte)32);
        Vector128<sbyte> q0 = ((low0 | (high0 & bits45)) - offset).AsSByte();
        Vector128<sbyte> q1 = ((low1 | (high1 & bits45)) - offset).AsSByte();
        int subBlock = e / 16;
        var scale0 = Vector128.Create((int)(sbyte)Unsafe.Add(ref x, Q6_KLayout.SubScales + subBlock));
        var scale1 = Vector128.Create((int)(sbyte)Unsafe.Add(ref x, Q6_KLayout.SubScales + subBlock + 1));
        int q8 = Q8_KLayout.Quants + e;
        sumLow = AdvSimd.MultiplyAdd(sumLow, DotAdd(Vector128<int>.Zero, q0, Load16(ref y, q8).AsSByte()), scale0);
        sumHigh = AdvSimd.MultiplyAdd(sumHigh, DotAdd(Vector128<int>.Zero, q1, Load16(ref y, q8 + 16).AsSByte()), scale1);
    }
}

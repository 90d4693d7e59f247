using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace Liaoyuan.Operators.Quantization;

/// <summary>
/// Portable reference kernels for the quantized dot products. They reproduce the arithmetic of llama.cpp's
/// AVX2 kernels, not just their value: every block's integer products are gathered into eight lanes
/// (lane = (element mod 32) / 4), each lane is scaled into its own float accumulator with a fused
/// multiply-add, and the lanes are summed in the order of ggml's hsum_float_8. The vector kernels in
/// <see cref="Avx2DotProducts"/> do the same, so the two paths agree bit for bit.
/// </summary>
/// <remarks>
/// Scalar <c>acc += a * b</c> statements in ggml-cpu are built by GCC/Clang with FMA enabled and get
/// contracted into fused multiply-adds; these kernels fuse them too (e.g. the Q4_1 minimum term).
/// </remarks>
internal static class ScalarDotProducts
{
    private const int Lanes = 8;

    /// <summary>ggml's hsum_float_8: fold the upper half onto the lower, then pairs, then the last two.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float SumLanes(ReadOnlySpan<float> a) =>
        ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]));

    /// <summary>
    /// One pmaddubsw pair of the signed-by-signed trick (|x| times y signed by x), saturated to 16 bits,
    /// so that even a -128 byte behaves as in the vector kernel.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int SignedPair(sbyte x0, sbyte y0, sbyte x1, sbyte y1)
    {
        int sum = (byte)Math.Abs((int)x0) * SignBy(y0, x0) + (byte)Math.Abs((int)x1) * SignBy(y1, x1);
        return Math.Clamp(sum, short.MinValue, short.MaxValue);

        static int SignBy(sbyte value, sbyte sign) => sign < 0 ? unchecked((sbyte)-value) : sign == 0 ? 0 : value;
    }

    /// <summary>Shared body of the symmetric 32-element formats, given each block's signed weight quants.</summary>
    private static float SymmetricBlocks(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n,
        int blockBytes, DecodeSigned decode)
    {
        Span<float> acc = stackalloc float[Lanes];
        Span<sbyte> q = stackalloc sbyte[32];
        for (int block = 0; block < n / 32; block++)
        {
            ReadOnlySpan<byte> x = weights.Slice(block * blockBytes, blockBytes);
            ReadOnlySpan<byte> y = activations.Slice(block * Q8_0Layout.Bytes, Q8_0Layout.Bytes);
            decode(x, q);
            float d = Float16.Read(x, 0) * Float16.Read(y, Q8_0Layout.Scale);
            for (int lane = 0; lane < Lanes; lane++)
            {
                int e = 4 * lane;
                int sum = SignedPair(q[e], Y(y, e), q[e + 1], Y(y, e + 1)) + SignedPair(q[e + 2], Y(y, e + 2), q[e + 3], Y(y, e + 3));
                acc[lane] = MathF.FusedMultiplyAdd(d, sum, acc[lane]);
            }
        }
        return SumLanes(acc);

        static sbyte Y(ReadOnlySpan<byte> block, int e) => (sbyte)block[Q8_0Layout.Quants + e];
    }

    private delegate void DecodeSigned(ReadOnlySpan<byte> block, Span<sbyte> quants);

    public static float Q8_0(ReadOnlySpan<byte> w, ReadOnlySpan<byte> a, int n) =>
        SymmetricBlocks(w, a, n, Q8_0Layout.Bytes, static (x, q) =>
        {
            for (int j = 0; j < 32; j++) q[j] = (sbyte)x[Q8_0Layout.Quants + j];
        });

    public static float Q4_0(ReadOnlySpan<byte> w, ReadOnlySpan<byte> a, int n) =>
        SymmetricBlocks(w, a, n, Q4_0Layout.Bytes, static (x, q) =>
        {
            for (int j = 0; j < 16; j++)
            {
                byte packed = x[Q4_0Layout.Quants + j];
                q[j] = (sbyte)((packed & 0xF) - 8);
                q[j + 16] = (sbyte)((packed >> 4) - 8);
            }
        });

    public static float Q5_0(ReadOnlySpan<byte> w, ReadOnlySpan<byte> a, int n) =>
        SymmetricBlocks(w, a, n, Q5_0Layout.Bytes, static (x, q) =>
        {
            uint high = BinaryPrimitives.ReadUInt32LittleEndian(x[Q5_0Layout.HighBits..]);
            for (int j = 0; j < 16; j++)
            {
                byte packed = x[Q5_0Layout.Quants + j];
                q[j] = (sbyte)(((packed & 0xF) | (int)(((high >> j) & 1) << 4)) - 16);
                q[j + 16] = (sbyte)(((packed >> 4) | (int)(((high >> (j + 16)) & 1) << 4)) - 16);
            }
        });

    /// <summary>Shared body of Q4_1 and Q5_1 against Q8_1: unsigned quants, and the minimum folded in through s.</summary>
    private static float AffineBlocks(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n,
        int blockBytes, int minOffset, DecodeUnsigned decode)
    {
        Span<float> acc = stackalloc float[Lanes];
        Span<byte> q = stackalloc byte[32];
        float minTerms = 0;
        for (int block = 0; block < n / 32; block++)
        {
            ReadOnlySpan<byte> x = weights.Slice(block * blockBytes, blockBytes);
            ReadOnlySpan<byte> y = activations.Slice(block * Q8_1Layout.Bytes, Q8_1Layout.Bytes);
            decode(x, q);
            minTerms = MathF.FusedMultiplyAdd(Float16.Read(x, minOffset), Float16.Read(y, Q8_1Layout.ScaledSum), minTerms);
            float d = Float16.Read(x, 0) * Float16.Read(y, Q8_1Layout.Scale);
            for (int lane = 0; lane < Lanes; lane++)
            {
                int sum = 0;
                for (int e = 4 * lane; e < 4 * lane + 4; e++)
                    sum += q[e] * (sbyte)y[Q8_1Layout.Quants + e];
                acc[lane] = MathF.FusedMultiplyAdd(d, sum, acc[lane]);
            }
        }
        return SumLanes(acc) + minTerms;
    }

    private delegate void DecodeUnsigned(ReadOnlySpan<byte> block, Span<byte> quants);

    public static float Q4_1(ReadOnlySpan<byte> w, ReadOnlySpan<byte> a, int n) =>
        AffineBlocks(w, a, n, Q4_1Layout.Bytes, Q4_1Layout.Min, static (x, q) =>
        {
            for (int j = 0; j < 16; j++)
            {
                byte packed = x[Q4_1Layout.Quants + j];
                q[j] = (byte)(packed & 0xF);
                q[j + 16] = (byte)(packed >> 4);
            }
        });

    public static float Q5_1(ReadOnlySpan<byte> w, ReadOnlySpan<byte> a, int n) =>
        AffineBlocks(w, a, n, Q5_1Layout.Bytes, Q5_1Layout.Min, static (x, q) =>
        {
            uint high = BinaryPrimitives.ReadUInt32LittleEndian(x[Q5_1Layout.HighBits..]);
            for (int j = 0; j < 16; j++)
            {
                byte packed = x[Q5_1Layout.Quants + j];
                q[j] = (byte)((packed & 0xF) | (int)(((high >> j) & 1) << 4));
                q[j + 16] = (byte)((packed >> 4) | (int)(((high >> (j + 16)) & 1) << 4));
            }
        });

    public static float Q4_K(ReadOnlySpan<byte> w, ReadOnlySpan<byte> a, int n) => AffineSuperBlocks(w, a, n, fiveBits: false);

    public static float Q5_K(ReadOnlySpan<byte> w, ReadOnlySpan<byte> a, int n) => AffineSuperBlocks(w, a, n, fiveBits: true);

    /// <summary>
    /// Q4_K and Q5_K against Q8_K. The minimum term uses Q8_K's 16-element sums; llama.cpp's Q4_K kernel keeps it in
    /// four float lanes (pairs of sub-blocks), its Q5_K kernel in one scalar, and each is reproduced here.
    /// </summary>
    private static float AffineSuperBlocks(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n, bool fiveBits)
    {
        int blockBytes = fiveBits ? Q5_KLayout.Bytes : Q4_KLayout.Bytes;
        int quantsOffset = fiveBits ? Q5_KLayout.Quants : Q4_KLayout.Quants;
        Span<float> acc = stackalloc float[Lanes];
        Span<float> minLanes = stackalloc float[4];
        Span<int> lanes = stackalloc int[Lanes];
        Span<int> scales = stackalloc int[8];
        Span<int> minProducts = stackalloc int[8];
        float minScalar = 0;
        for (int block = 0; block < n / 256; block++)
        {
            ReadOnlySpan<byte> x = weights.Slice(block * blockBytes, blockBytes);
            ReadOnlySpan<byte> y = activations.Slice(block * Q8_KLayout.Bytes, Q8_KLayout.Bytes);
            float yd = BinaryPrimitives.ReadSingleLittleEndian(y);
            float d = yd * Float16.Read(x, Q4_KLayout.Scale);
            float dmin = -yd * Float16.Read(x, Q4_KLayout.MinScale);
            ReadOnlySpan<byte> packed = x.Slice(Q4_KLayout.SubScales, 12);
            for (int j = 0; j < 8; j++)
            {
                (scales[j], int min) = KQuantSearch.UnpackScaleAndMin(packed, j);
                short pairSum = (short)(GroupSum(y, 2 * j) + GroupSum(y, 2 * j + 1)); // phaddw wraps
                minProducts[j] = min * pairSum;
            }
            if (fiveBits)
            {
                int total = 0;
                foreach (int p in minProducts) total += p;
                minScalar = MathF.FusedMultiplyAdd(dmin, total, minScalar);
            }
            else
            {
                for (int t = 0; t < 4; t++)
                    minLanes[t] = MathF.FusedMultiplyAdd(dmin, minProducts[2 * t] + minProducts[2 * t + 1], minLanes[t]);
            }

            lanes.Clear();
            ReadOnlySpan<byte> qs = x.Slice(quantsOffset, 128);
            for (int e = 0; e < 256; e++)
            {
                int chunk = e / 64, l = e % 32;
                bool upper = (e & 32) != 0;
                int q = upper ? qs[32 * chunk + l] >> 4 : qs[32 * chunk + l] & 0xF;
                if (fiveBits)
                    q |= ((x[Q5_KLayout.HighBits + l] >> (2 * chunk + (upper ? 1 : 0))) & 1) << 4;
                lanes[l >> 2] += scales[e / 32] * q * (sbyte)y[Q8_KLayout.Quants + e];
            }
            for (int lane = 0; lane < Lanes; lane++)
                acc[lane] = MathF.FusedMultiplyAdd(d, lanes[lane], acc[lane]);
        }
        float minTerm = fiveBits ? minScalar : (minLanes[0] + minLanes[2]) + (minLanes[1] + minLanes[3]);
        return SumLanes(acc) + minTerm;
    }

    private static int GroupSum(ReadOnlySpan<byte> q8k, int group) =>
        BinaryPrimitives.ReadInt16LittleEndian(q8k[(Q8_KLayout.GroupSums + 2 * group)..]);

    public static float Q6_K(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n)
    {
        Span<float> acc = stackalloc float[Lanes];
        Span<int> lanes = stackalloc int[Lanes];
        for (int block = 0; block < n / 256; block++)
        {
            ReadOnlySpan<byte> x = weights.Slice(block * Q6_KLayout.Bytes, Q6_KLayout.Bytes);
            ReadOnlySpan<byte> y = activations.Slice(block * Q8_KLayout.Bytes, Q8_KLayout.Bytes);
            float d = BinaryPrimitives.ReadSingleLittleEndian(y) * Float16.Read(x, Q6_KLayout.Scale);
            lanes.Clear();
            for (int e = 0; e < 256; e++)
            {
                int half = e / 128, quarter = (e % 128) / 32, l = e % 32;
                byte low = x[Q6_KLayout.LowBits + 64 * half + 32 * (quarter & 1) + l];
                int lowBits = quarter < 2 ? low & 0xF : low >> 4;
                int highBits = (x[Q6_KLayout.HighBits + 32 * half + l] >> (2 * quarter)) & 3;
                int q = (lowBits | (highBits << 4)) - 32;
                lanes[l >> 2] += (sbyte)x[Q6_KLayout.SubScales + e / 16] * q * (sbyte)y[Q8_KLayout.Quants + e];
            }
            for (int lane = 0; lane < Lanes; lane++)
                acc[lane] = MathF.FusedMultiplyAdd(d, lanes[lane], acc[lane]);
        }
        return SumLanes(acc);
    }
}

using System.Buffers.Binary;

namespace Liaoyuan.Operators.Quantization;

/// <summary>
/// The 256-element super-block formats: Q4_K, Q5_K and Q6_K weights (reference quantizers without an
/// importance matrix, bit-identical to ggml's) and the Q8_K activation format.
/// </summary>
/// <remarks>
/// Q6_K stores each 128-element half as ql[64] and qh[32]: ql[l] holds elements l (low nibble) and l + 64
/// (high nibble), ql[l + 32] holds l + 32 and l + 96, and qh[l] holds the top two bits of l, l + 32, l + 64
/// and l + 96 in bit pairs 0, 2, 4 and 6.
/// </remarks>
internal static class KQuants
{
    private const int SuperBlock = 256;

    public static void QuantizeQ4_K(ReadOnlySpan<float> src, Span<byte> dst)
    {
        Span<byte> levels = stackalloc byte[SuperBlock];
        for (int block = 0; block < src.Length / SuperBlock; block++)
        {
            ReadOnlySpan<float> x = src.Slice(block * SuperBlock, SuperBlock);
            Span<byte> y = dst.Slice(block * Q4_KLayout.Bytes, Q4_KLayout.Bytes);
            QuantizeAffineSuperBlock(x, y, maxLevel: 15, rmin: -1f, rdelta: 0.1f, steps: 20, levels);
            Span<byte> qs = y[Q4_KLayout.Quants..];
            for (int chunk = 0; chunk < 4; chunk++)
                for (int l = 0; l < 32; l++)
                    qs[32 * chunk + l] = (byte)(levels[64 * chunk + l] | (levels[64 * chunk + 32 + l] << 4));
        }
    }

    public static void QuantizeQ5_K(ReadOnlySpan<float> src, Span<byte> dst)
    {
        Span<byte> levels = stackalloc byte[SuperBlock];
        for (int block = 0; block < src.Length / SuperBlock; block++)
        {
            ReadOnlySpan<float> x = src.Slice(block * SuperBlock, SuperBlock);
            Span<byte> y = dst.Slice(block * Q5_KLayout.Bytes, Q5_KLayout.Bytes);
            QuantizeAffineSuperBlock(x, y, maxLevel: 31, rmin: -0.5f, rdelta: 0.1f, steps: 15, levels);
            Span<byte> qh = y.Slice(Q5_KLayout.HighBits, 32);
            Span<byte> qs = y.Slice(Q5_KLayout.Quants, 128);
            qh.Clear();
            for (int chunk = 0; chunk < 4; chunk++)
            {
                for (int l = 0; l < 32; l++)
                {
                    int low = levels[64 * chunk + l];
                    int high = levels[64 * chunk + 32 + l];
                    qh[l] |= (byte)(((low >> 4) << (2 * chunk)) | ((high >> 4) << (2 * chunk + 1)));
                    qs[32 * chunk + l] = (byte)((low & 0xF) | ((high & 0xF) << 4));
                }
            }
        }
    }

    /// <summary>
    /// The shared part of Q4_K and Q5_K: per 32-element sub-block an affine scale search weighted by
    /// rms + |x|, then 6-bit quantization of the scales and mins against the super-block maxima, then
    /// the elements re-quantized against the rounded scales. Writes d, dmin and the packed scales.
    /// </summary>
    private static void QuantizeAffineSuperBlock(ReadOnlySpan<float> x, Span<byte> y, int maxLevel,
        float rmin, float rdelta, int steps, Span<byte> levels)
    {
        Span<float> weights = stackalloc float[32];
        Span<byte> scratch = stackalloc byte[32];
        Span<float> scales = stackalloc float[8];
        Span<float> mins = stackalloc float[8];
        float maxScale = 0, maxMin = 0;
        for (int j = 0; j < 8; j++)
        {
            ReadOnlySpan<float> sub = x.Slice(32 * j, 32);
            float sumSquares = 0;
            foreach (float v in sub)
                sumSquares += v * v;
            float rms = MathF.Sqrt(sumSquares / 32);
            for (int l = 0; l < 32; l++)
                weights[l] = rms + MathF.Abs(sub[l]);
            scales[j] = KQuantSearch.AffineScale(sub, weights, maxLevel, levels.Slice(32 * j, 32), scratch,
                out mins[j], rmin, rdelta, steps);
            if (scales[j] > maxScale) maxScale = scales[j];
            if (mins[j] > maxMin) maxMin = mins[j];
        }

        float inverseScale = maxScale > 0 ? 63f / maxScale : 0f;
        float inverseMin = maxMin > 0 ? 63f / maxMin : 0f;
        Span<byte> quantizedScales = stackalloc byte[8];
        Span<byte> quantizedMins = stackalloc byte[8];
        for (int j = 0; j < 8; j++)
        {
            // ggml stores the rounded value in a byte before clamping, so wrap first, then clamp.
            quantizedScales[j] = Math.Min((byte)63, (byte)KQuantSearch.NearestInt(inverseScale * scales[j]));
            quantizedMins[j] = Math.Min((byte)63, (byte)KQuantSearch.NearestInt(inverseMin * mins[j]));
        }
        Span<byte> packed = y.Slice(Q4_KLayout.SubScales, 12);
        KQuantSearch.PackScalesAndMins(quantizedScales, quantizedMins, packed);
        Float16.Write(y, Q4_KLayout.Scale, maxScale / 63f);
        Float16.Write(y, Q4_KLayout.MinScale, maxMin / 63f);

        float d = Float16.Read(y, Q4_KLayout.Scale);
        float dmin = Float16.Read(y, Q4_KLayout.MinScale);
        for (int j = 0; j < 8; j++)
        {
            (int sc, int m) = KQuantSearch.UnpackScaleAndMin(packed, j);
            float subScale = d * sc;
            if (subScale == 0)
                continue; // keeps the levels the search chose
            float subMin = dmin * m;
            for (int l = 0; l < 32; l++)
            {
                int level = KQuantSearch.NearestInt((x[32 * j + l] + subMin) / subScale);
                levels[32 * j + l] = (byte)Math.Clamp(level, 0, maxLevel);
            }
        }
    }

    public static void QuantizeQ6_K(ReadOnlySpan<float> src, Span<byte> dst)
    {
        Span<sbyte> levels = stackalloc sbyte[SuperBlock];
        Span<float> scales = stackalloc float[16];
        for (int block = 0; block < src.Length / SuperBlock; block++)
        {
            ReadOnlySpan<float> x = src.Slice(block * SuperBlock, SuperBlock);
            Span<byte> y = dst.Slice(block * Q6_KLayout.Bytes, Q6_KLayout.Bytes);

            float maxScale = 0, maxAbsScale = 0;
            for (int j = 0; j < 16; j++)
            {
                scales[j] = KQuantSearch.SymmetricScale(x.Slice(16 * j, 16), 32, levels.Slice(16 * j, 16));
                if (MathF.Abs(scales[j]) > maxAbsScale)
                {
                    maxAbsScale = MathF.Abs(scales[j]);
                    maxScale = scales[j];
                }
            }
            if (maxAbsScale < KQuantSearch.GroupMaxEpsilon)
            {
                y.Clear();
                continue;
            }

            float iscale = -128f / maxScale;
            Float16.Write(y, Q6_KLayout.Scale, 1 / iscale);
            Span<byte> subScales = y.Slice(Q6_KLayout.SubScales, 16);
            for (int j = 0; j < 16; j++)
                subScales[j] = (byte)(sbyte)Math.Min(127, KQuantSearch.NearestInt(iscale * scales[j]));

            float d = Float16.Read(y, Q6_KLayout.Scale);
            for (int j = 0; j < 16; j++)
            {
                float subScale = d * (sbyte)subScales[j];
                if (subScale == 0)
                    continue;
                for (int l = 0; l < 16; l++)
                {
                    int level = KQuantSearch.NearestInt(x[16 * j + l] / subScale);
                    levels[16 * j + l] = (sbyte)(Math.Clamp(level, -32, 31) + 32);
                }
            }

            for (int half = 0; half < 2; half++)
            {
                Span<byte> ql = y.Slice(Q6_KLayout.LowBits + 64 * half, 64);
                Span<byte> qh = y.Slice(Q6_KLayout.HighBits + 32 * half, 32);
                ReadOnlySpan<sbyte> l6 = levels.Slice(128 * half, 128);
                for (int l = 0; l < 32; l++)
                {
                    ql[l] = (byte)((l6[l] & 0xF) | ((l6[l + 64] & 0xF) << 4));
                    ql[l + 32] = (byte)((l6[l + 32] & 0xF) | ((l6[l + 96] & 0xF) << 4));
                    qh[l] = (byte)((l6[l] >> 4) | ((l6[l + 32] >> 4) << 2) | ((l6[l + 64] >> 4) << 4) | ((l6[l + 96] >> 4) << 6));
                }
            }
        }
    }

    /// <summary>
    /// Q8_K as ggml quantizes it on every CPU (x86 included): scale -127 / (signed absmax), round to nearest even,
    /// d stored as the float 1 / iscale, plus the sums of each run of 16 quants.
    /// </summary>
    public static void QuantizeQ8_K(ReadOnlySpan<float> src, Span<byte> dst)
    {
        for (int block = 0; block < src.Length / SuperBlock; block++)
        {
            ReadOnlySpan<float> x = src.Slice(block * SuperBlock, SuperBlock);
            Span<byte> y = dst.Slice(block * Q8_KLayout.Bytes, Q8_KLayout.Bytes);
            float max = LegacyQuants.SignedAbsMax(x);
            if (max == 0)
            {
                y.Clear(); // ggml leaves the sums unwritten here; zeros are what they would be
                continue;
            }
            float iscale = -127f / max;
            Span<byte> qs = y.Slice(Q8_KLayout.Quants, SuperBlock);
            for (int j = 0; j < SuperBlock; j++)
                qs[j] = (byte)(sbyte)Math.Min(127, KQuantSearch.NearestInt(iscale * x[j]));
            for (int group = 0; group < 16; group++)
            {
                int sum = 0;
                for (int l = 0; l < 16; l++)
                    sum += (sbyte)qs[16 * group + l];
                BinaryPrimitives.WriteInt16LittleEndian(y[(Q8_KLayout.GroupSums + 2 * group)..], (short)sum);
            }
            BinaryPrimitives.WriteSingleLittleEndian(y, 1 / iscale);
        }
    }

    public static void DequantizeQ4_K(ReadOnlySpan<byte> src, Span<float> dst)
    {
        for (int block = 0; block < dst.Length / SuperBlock; block++)
        {
            ReadOnlySpan<byte> x = src.Slice(block * Q4_KLayout.Bytes, Q4_KLayout.Bytes);
            Span<float> y = dst.Slice(block * SuperBlock, SuperBlock);
            float d = Float16.Read(x, Q4_KLayout.Scale);
            float min = Float16.Read(x, Q4_KLayout.MinScale);
            ReadOnlySpan<byte> packed = x.Slice(Q4_KLayout.SubScales, 12);
            for (int chunk = 0; chunk < 4; chunk++)
            {
                (int sc0, int m0) = KQuantSearch.UnpackScaleAndMin(packed, 2 * chunk);
                (int sc1, int m1) = KQuantSearch.UnpackScaleAndMin(packed, 2 * chunk + 1);
                float d0 = d * sc0, min0 = min * m0, d1 = d * sc1, min1 = min * m1;
                ReadOnlySpan<byte> qs = x.Slice(Q4_KLayout.Quants + 32 * chunk, 32);
                for (int l = 0; l < 32; l++)
                {
                    y[64 * chunk + l] = d0 * (qs[l] & 0xF) - min0;
                    y[64 * chunk + 32 + l] = d1 * (qs[l] >> 4) - min1;
                }
            }
        }
    }

    public static void DequantizeQ5_K(ReadOnlySpan<byte> src, Span<float> dst)
    {
        for (int block = 0; block < dst.Length / SuperBlock; block++)
        {
            ReadOnlySpan<byte> x = src.Slice(block * Q5_KLayout.Bytes, Q5_KLayout.Bytes);
            Span<float> y = dst.Slice(block * SuperBlock, SuperBlock);
            float d = Float16.Read(x, Q5_KLayout.Scale);
            float min = Float16.Read(x, Q5_KLayout.MinScale);
            ReadOnlySpan<byte> packed = x.Slice(Q5_KLayout.SubScales, 12);
            ReadOnlySpan<byte> qh = x.Slice(Q5_KLayout.HighBits, 32);
            for (int chunk = 0; chunk < 4; chunk++)
            {
                (int sc0, int m0) = KQuantSearch.UnpackScaleAndMin(packed, 2 * chunk);
                (int sc1, int m1) = KQuantSearch.UnpackScaleAndMin(packed, 2 * chunk + 1);
                float d0 = d * sc0, min0 = min * m0, d1 = d * sc1, min1 = min * m1;
                ReadOnlySpan<byte> qs = x.Slice(Q5_KLayout.Quants + 32 * chunk, 32);
                for (int l = 0; l < 32; l++)
                {
                    int low = (qs[l] & 0xF) | (((qh[l] >> (2 * chunk)) & 1) << 4);
                    int high = (qs[l] >> 4) | (((qh[l] >> (2 * chunk + 1)) & 1) << 4);
                    y[64 * chunk + l] = d0 * low - min0;
                    y[64 * chunk + 32 + l] = d1 * high - min1;
                }
            }
        }
    }

    public static void DequantizeQ6_K(ReadOnlySpan<byte> src, Span<float> dst)
    {
        for (int block = 0; block < dst.Length / SuperBlock; block++)
        {
            ReadOnlySpan<byte> x = src.Slice(block * Q6_KLayout.Bytes, Q6_KLayout.Bytes);
            Span<float> y = dst.Slice(block * SuperBlock, SuperBlock);
            float d = Float16.Read(x, Q6_KLayout.Scale);
            for (int half = 0; half < 2; half++)
            {
                ReadOnlySpan<byte> ql = x.Slice(Q6_KLayout.LowBits + 64 * half, 64);
                ReadOnlySpan<byte> qh = x.Slice(Q6_KLayout.HighBits + 32 * half, 32);
                ReadOnlySpan<byte> sc = x.Slice(Q6_KLayout.SubScales + 8 * half, 8);
                Span<float> out128 = y.Slice(128 * half, 128);
                for (int l = 0; l < 32; l++)
                {
                    int group = l / 16;
                    int q0 = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32;
                    int q1 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                    int q2 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                    int q3 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                    out128[l] = d * (sbyte)sc[group] * q0;
                    out128[l + 32] = d * (sbyte)sc[group + 2] * q1;
                    out128[l + 64] = d * (sbyte)sc[group + 4] * q2;
                    out128[l + 96] = d * (sbyte)sc[group + 6] * q3;
                }
            }
        }
    }

    public static void DequantizeQ8_K(ReadOnlySpan<byte> src, Span<float> dst)
    {
        for (int block = 0; block < dst.Length / SuperBlock; block++)
        {
            ReadOnlySpan<byte> x = src.Slice(block * Q8_KLayout.Bytes, Q8_KLayout.Bytes);
            float d = BinaryPrimitives.ReadSingleLittleEndian(x);
            for (int j = 0; j < SuperBlock; j++)
                dst[block * SuperBlock + j] = (sbyte)x[Q8_KLayout.Quants + j] * d;
        }
    }
}

using System.Buffers.Binary;

namespace Liaoyuan.Operators.Quantization;

/// <summary>
/// The 32-element block formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1): weight quantizers that reproduce
/// ggml's reference quantizers bit for bit, and dequantizers that produce ggml's floats exactly.
/// </summary>
/// <remarks>
/// Float expressions keep ggml's evaluation order and never fuse a multiply into an add: ggml-base,
/// where the reference quantizers live, is built for baseline x86-64 without FMA.
/// </remarks>
internal static class LegacyQuants
{
    private const int BlockElements = 32;
    private const int Half = BlockElements / 2;

    public static void QuantizeQ4_0(ReadOnlySpan<float> src, Span<byte> dst)
    {
        for (int block = 0; block < src.Length / BlockElements; block++)
        {
            ReadOnlySpan<float> x = src.Slice(block * BlockElements, BlockElements);
            Span<byte> y = dst.Slice(block * Q4_0Layout.Bytes, Q4_0Layout.Bytes);
            float signedMax = SignedAbsMax(x);
            float d = signedMax / -8;
            float id = d != 0 ? 1.0f / d : 0.0f;
            Float16.Write(y, Q4_0Layout.Scale, d);
            for (int j = 0; j < Half; j++)
            {
                // Truncation toward zero after adding 8.5 rounds half up around the zero point at 8.
                int low = Math.Min(15, (int)(x[j] * id + 8.5f));
                int high = Math.Min(15, (int)(x[j + Half] * id + 8.5f));
                y[Q4_0Layout.Quants + j] = (byte)(low | (high << 4));
            }
        }
    }

    public static void QuantizeQ4_1(ReadOnlySpan<float> src, Span<byte> dst)
    {
        for (int block = 0; block < src.Length / BlockElements; block++)
        {
            ReadOnlySpan<float> x = src.Slice(block * BlockElements, BlockElements);
            Span<byte> y = dst.Slice(block * Q4_1Layout.Bytes, Q4_1Layout.Bytes);
            (float min, float max) = MinMax(x);
            float d = (max - min) / 15;
            float id = d != 0 ? 1.0f / d : 0.0f;
            Float16.Write(y, Q4_1Layout.Scale, d);
            Float16.Write(y, Q4_1Layout.Min, min);
            for (int j = 0; j < Half; j++)
            {
                int low = Math.Min(15, (int)((x[j] - min) * id + 0.5f));
                int high = Math.Min(15, (int)((x[j + Half] - min) * id + 0.5f));
                y[Q4_1Layout.Quants + j] = (byte)(low | (high << 4));
            }
        }
    }

    public static void QuantizeQ5_0(ReadOnlySpan<float> src, Span<byte> dst)
    {
        for (int block = 0; block < src.Length / BlockElements; block++)
        {
            ReadOnlySpan<float> x = src.Slice(block * BlockElements, BlockElements);
            Span<byte> y = dst.Slice(block * Q5_0Layout.Bytes, Q5_0Layout.Bytes);
            float signedMax = SignedAbsMax(x);
            float d = signedMax / -16;
            float id = d != 0 ? 1.0f / d : 0.0f;
            Float16.Write(y, Q5_0Layout.Scale, d);
            uint highBits = 0;
            for (int j = 0; j < Half; j++)
            {
                int low = Math.Min(31, (int)(x[j] * id + 16.5f));
                int high = Math.Min(31, (int)(x[j + Half] * id + 16.5f));
                y[Q5_0Layout.Quants + j] = (byte)((low & 0xF) | ((high & 0xF) << 4));
                highBits |= (uint)(low >> 4) << j;
                highBits |= (uint)(high >> 4) << (j + Half);
            }
            BinaryPrimitives.WriteUInt32LittleEndian(y[Q5_0Layout.HighBits..], highBits);
        }
    }

    public static void QuantizeQ5_1(ReadOnlySpan<float> src, Span<byte> dst)
    {
        for (int block = 0; block < src.Length / BlockElements; block++)
        {
            ReadOnlySpan<float> x = src.Slice(block * BlockElements, BlockElements);
            Span<byte> y = dst.Slice(block * Q5_1Layout.Bytes, Q5_1Layout.Bytes);
            (float min, float max) = MinMax(x);
            float d = (max - min) / 31;
            float id = d != 0 ? 1.0f / d : 0.0f;
            Float16.Write(y, Q5_1Layout.Scale, d);
            Float16.Write(y, Q5_1Layout.Min, min);
            uint highBits = 0;
            for (int j = 0; j < Half; j++)
            {
                // ggml does not clamp here: (x - min) * id never exceeds 31 by more than rounding.
                int low = (byte)(int)((x[j] - min) * id + 0.5f);
                int high = (byte)(int)((x[j + Half] - min) * id + 0.5f);
                y[Q5_1Layout.Quants + j] = (byte)((low & 0xF) | ((high & 0xF) << 4));
                highBits |= (uint)((low >> 4) & 1) << j;
                highBits |= (uint)((high >> 4) & 1) << (j + Half);
            }
            BinaryPrimitives.WriteUInt32LittleEndian(y[Q5_1Layout.HighBits..], highBits);
        }
    }

    /// <summary>The weight (file) quantizer: d = amax / 127, rounding half away from zero.</summary>
    public static void QuantizeQ8_0(ReadOnlySpan<float> src, Span<byte> dst)
    {
        for (int block = 0; block < src.Length / BlockElements; block++)
        {
            ReadOnlySpan<float> x = src.Slice(block * BlockElements, BlockElements);
            Span<byte> y = dst.Slice(block * Q8_0Layout.Bytes, Q8_0Layout.Bytes);
            float amax = 0;
            foreach (float v in x)
                amax = Math.Max(amax, MathF.Abs(v));
            float d = amax / 127;
            float id = d != 0 ? 1.0f / d : 0.0f;
            Float16.Write(y, Q8_0Layout.Scale, d);
            for (int j = 0; j < BlockElements; j++)
                y[Q8_0Layout.Quants + j] = (byte)(sbyte)MathF.Round(x[j] * id, MidpointRounding.AwayFromZero);
        }
    }

    /// <summary>The reference Q8_1 quantizer (ggml's <c>_ref</c>; the engine uses the activation flavour instead).</summary>
    public static void QuantizeQ8_1(ReadOnlySpan<float> src, Span<byte> dst)
    {
        for (int block = 0; block < src.Length / BlockElements; block++)
        {
            ReadOnlySpan<float> x = src.Slice(block * BlockElements, BlockElements);
            Span<byte> y = dst.Slice(block * Q8_1Layout.Bytes, Q8_1Layout.Bytes);
            float amax = 0;
            foreach (float v in x)
                amax = Math.Max(amax, MathF.Abs(v));
            float d = amax / 127;
            float id = d != 0 ? 1.0f / d : 0.0f;
            Float16.Write(y, Q8_1Layout.Scale, d);
            int sum = 0;
            for (int j = 0; j < BlockElements; j++)
            {
                sbyte q = (sbyte)MathF.Round(x[j] * id, MidpointRounding.AwayFromZero);
                y[Q8_1Layout.Quants + j] = (byte)q;
                sum += q;
            }
            Float16.Write(y, Q8_1Layout.ScaledSum, sum * d);
        }
    }

    public static void DequantizeQ4_0(ReadOnlySpan<byte> src, Span<float> dst)
    {
        for (int block = 0; block < dst.Length / BlockElements; block++)
        {
            ReadOnlySpan<byte> x = src.Slice(block * Q4_0Layout.Bytes, Q4_0Layout.Bytes);
            Span<float> y = dst.Slice(block * BlockElements, BlockElements);
            float d = Float16.Read(x, Q4_0Layout.Scale);
            for (int j = 0; j < Half; j++)
            {
                byte packed = x[Q4_0Layout.Quants + j];
                y[j] = ((packed & 0xF) - 8) * d;
                y[j + Half] = ((packed >> 4) - 8) * d;
            }
        }
    }

    public static void DequantizeQ4_1(ReadOnlySpan<byte> src, Span<float> dst)
    {
        for (int block = 0; block < dst.Length / BlockElements; block++)
        {
            ReadOnlySpan<byte> x = src.Slice(block * Q4_1Layout.Bytes, Q4_1Layout.Bytes);
            Span<float> y = dst.Slice(block * BlockElements, BlockElements);
            float d = Float16.Read(x, Q4_1Layout.Scale);
            float m = Float16.Read(x, Q4_1Layout.Min);
            for (int j = 0; j < Half; j++)
            {
                byte packed = x[Q4_1Layout.Quants + j];
                y[j] = (packed & 0xF) * d + m;
                y[j + Half] = (packed >> 4) * d + m;
            }
        }
    }

    public static void DequantizeQ5_0(ReadOnlySpan<byte> src, Span<float> dst)
    {
        for (int block = 0; block < dst.Length / BlockElements; block++)
        {
            ReadOnlySpan<byte> x = src.Slice(block * Q5_0Layout.Bytes, Q5_0Layout.Bytes);
            Span<float> y = dst.Slice(block * BlockElements, BlockElements);
            float d = Float16.Read(x, Q5_0Layout.Scale);
            uint highBits = BinaryPrimitives.ReadUInt32LittleEndian(x[Q5_0Layout.HighBits..]);
            for (int j = 0; j < Half; j++)
            {
                byte packed = x[Q5_0Layout.Quants + j];
                int low = (packed & 0xF) | (int)(((highBits >> j) & 1) << 4);
                int high = (packed >> 4) | (int)(((highBits >> (j + Half)) & 1) << 4);
                y[j] = (low - 16) * d;
                y[j + Half] = (high - 16) * d;
            }
        }
    }

    public static void DequantizeQ5_1(ReadOnlySpan<byte> src, Span<float> dst)
    {
        for (int block = 0; block < dst.Length / BlockElements; block++)
        {
            ReadOnlySpan<byte> x = src.Slice(block * Q5_1Layout.Bytes, Q5_1Layout.Bytes);
            Span<float> y = dst.Slice(block * BlockElements, BlockElements);
            float d = Float16.Read(x, Q5_1Layout.Scale);
            float m = Float16.Read(x, Q5_1Layout.Min);
            uint highBits = BinaryPrimitives.ReadUInt32LittleEndian(x[Q5_1Layout.HighBits..]);
            for (int j = 0; j < Half; j++)
            {
                byte packed = x[Q5_1Layout.Quants + j];
                int low = (packed & 0xF) | (int)(((highBits >> j) & 1) << 4);
                int high = (packed >> 4) | (int)(((highBits >> (j + Half)) & 1) << 4);
                y[j] = low * d + m;
                y[j + Half] = high * d + m;
            }
        }
    }

    /// <summary>Dequantizes Q8_0 (<paramref name="quantsOffset"/> 2, stride 34) or Q8_1 (offset 4, stride 36).</summary>
    public static void DequantizeQ8(ReadOnlySpan<byte> src, Span<float> dst, int blockBytes, int quantsOffset)
    {
        for (int block = 0; block < dst.Length / BlockElements; block++)
        {
            ReadOnlySpan<byte> x = src.Slice(block * blockBytes, blockBytes);
            Span<float> y = dst.Slice(block * BlockElements, BlockElements);
            float d = Float16.Read(x, 0);
            for (int j = 0; j < BlockElements; j++)
                y[j] = (sbyte)x[quantsOffset + j] * d;
        }
    }

    /// <summary>The value with the largest magnitude, keeping its sign; the first one wins ties.</summary>
    internal static float SignedAbsMax(ReadOnlySpan<float> x)
    {
        float amax = 0, max = 0;
        foreach (float v in x)
        {
            if (amax < MathF.Abs(v))
            {
                amax = MathF.Abs(v);
                max = v;
            }
        }
        return max;
    }

    private static (float Min, float Max) MinMax(ReadOnlySpan<float> x)
    {
        float min = float.MaxValue, max = -float.MaxValue;
        foreach (float v in x)
        {
            if (v < min) min = v;
            if (v > max) max = v;
        }
        return (min, max);
    }
}

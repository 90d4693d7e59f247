using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Liaoyuan.Operators.Quantization;

/// <summary>
/// Run-time quantization of activations into Q8_0 / Q8_1 the way llama.cpp's x86 (AVX/AVX2) backend does it:
/// d = amax / 127 but the multiplier is 127 / amax (not 1 / d), and rounding is to nearest even.
/// Both differ from the reference quantizer in the last bit often enough to matter for exact agreement.
/// </summary>
internal static class ActivationQuantizer
{
    private const int BlockElements = 32;

    /// <summary>Q8_0 activations; the vector and scalar paths give identical bytes.</summary>
    public static void QuantizeQ8_0(ReadOnlySpan<float> src, Span<byte> dst, bool allowSimd = true) =>
        QuantizeBlocks(src, dst, Q8_0Layout.Bytes, Q8_0Layout.Quants, storeScaledSum: false, allowSimd);

    /// <summary>Q8_1 activations: Q8_0's quants plus s = d * sum(q), with d the unrounded float scale.</summary>
    public static void QuantizeQ8_1(ReadOnlySpan<float> src, Span<byte> dst, bool allowSimd = true) =>
        QuantizeBlocks(src, dst, Q8_1Layout.Bytes, Q8_1Layout.Quants, storeScaledSum: true, allowSimd);

    private static void QuantizeBlocks(ReadOnlySpan<float> src, Span<byte> dst, int blockBytes, int quantsOffset,
        bool storeScaledSum, bool allowSimd)
    {
        int blocks = src.Length / BlockElements;
        bool simd = allowSimd && Avx.IsSupported;
        for (int block = 0; block < blocks; block++)
        {
            ReadOnlySpan<float> x = src.Slice(block * BlockElements, BlockElements);
            Span<byte> y = dst.Slice(block * blockBytes, blockBytes);
            (float d, int sum) = simd ? QuantizeBlockVector(x, y[quantsOffset..]) : QuantizeBlockScalar(x, y[quantsOffset..]);
            Float16.Write(y, 0, d);
            if (storeScaledSum)
                Float16.Write(y, Q8_1Layout.ScaledSum, d * sum);
        }
    }

    private static (float Scale, int Sum) QuantizeBlockScalar(ReadOnlySpan<float> x, Span<byte> quants)
    {
        float amax = 0;
        foreach (float v in x)
            amax = MathF.Max(amax, MathF.Abs(v));
        float id = amax != 0 ? 127f / amax : 0f;
        int sum = 0;
        for (int j = 0; j < BlockElements; j++)
        {
            int q = (int)MathF.Round(x[j] * id); // MathF.Round rounds half to even, like vroundps
            quants[j] = (byte)(sbyte)q;
            sum += q;
        }
        return (amax / 127f, sum);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (float Scale, int Sum) QuantizeBlockVector(ReadOnlySpan<float> x, Span<byte> quants)
    {
        ref float source = ref MemoryMarshal.GetReference(x);
        Vector256<float> v0 = Vector256.LoadUnsafe(ref source);
        Vector256<float> v1 = Vector256.LoadUnsafe(ref source, 8);
        Vector256<float> v2 = Vector256.LoadUnsafe(ref source, 16);
        Vector256<float> v3 = Vector256.LoadUnsafe(ref source, 24);
        // The magnitudes are never negative, so the order of the max reduction cannot change the result.
        Vector256<float> maxAbs = Avx.Max(Avx.Max(Vector256.Abs(v0), Vector256.Abs(v1)), Avx.Max(Vector256.Abs(v2), Vector256.Abs(v3)));
        Vector128<float> max4 = Sse.Max(maxAbs.GetLower(), maxAbs.GetUpper());
        max4 = Sse.Max(max4, Sse.MoveHighToLow(max4, max4));
        float amax = MathF.Max(max4.ToScalar(), max4.GetElement(1));

        float id = amax != 0 ? 127f / amax : 0f;
        Vector256<float> multiplier = Vector256.Create(id);
        Vector256<int> i0 = Avx.ConvertToVector256Int32(Avx.RoundToNearestInteger(v0 * multiplier));
        Vector256<int> i1 = Avx.ConvertToVector256Int32(Avx.RoundToNearestInteger(v1 * multiplier));
        Vector256<int> i2 = Avx.ConvertToVector256Int32(Avx.RoundToNearestInteger(v2 * multiplier));
        Vector256<int> i3 = Avx.ConvertToVector256Int32(Avx.RoundToNearestInteger(v3 * multiplier));
        int sum = Vector256.Sum((i0 + i1) + (i2 + i3));

        // Values lie in [-127, 127], so plain (truncating, order-keeping) narrowing is exact.
        Vector256<sbyte> bytes = Vector256.Narrow(Vector256.Narrow(i0, i1), Vector256.Narrow(i2, i3));
        bytes.StoreUnsafe(ref Unsafe.As<byte, sbyte>(ref MemoryMarshal.GetReference(quants)));
        return (amax / 127f, sum);
    }
}

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

    /// <summary>Which code quantizes: the scalar reference, the 4-lane vectors (ARM64's path), or the best this CPU has.</summary>
    internal enum Path { Scalar, FourLanes, Best }

    /// <summary>Q8_0 activations; the vector and scalar paths give identical bytes.</summary>
    public static void QuantizeQ8_0(ReadOnlySpan<float> src, Span<byte> dst, bool allowSimd = true) =>
        QuantizeQ8_0(src, dst, allowSimd ? Path.Best : Path.Scalar);

    internal static void QuantizeQ8_0(ReadOnlySpan<float> src, Span<byte> dst, Path path) =>
        QuantizeBlocks(src, dst, Q8_0Layout.Bytes, Q8_0Layout.Quants, storeScaledSum: false, path);

    /// <summary>Q8_1 activations: Q8_0's quants plus s = d * sum(q), with d the unrounded float scale.</summary>
    public static void QuantizeQ8_1(ReadOnlySpan<float> src, Span<byte> dst, bool allowSimd = true) =>
        QuantizeQ8_1(src, dst, allowSimd ? Path.Best : Path.Scalar);

    internal static void QuantizeQ8_1(ReadOnlySpan<float> src, Span<byte> dst, Path path) =>
        QuantizeBlocks(src, dst, Q8_1Layout.Bytes, Q8_1Layout.Quants, storeScaledSum: true, path);

    private static void QuantizeBlocks(ReadOnlySpan<float> src, Span<byte> dst, int blockBytes, int quantsOffset,
        bool storeScaledSum, Path path)
    {
        int blocks = src.Length / BlockElements;
        if (path == Path.Best)
            path = Avx.IsSupported ? Path.Best : Vector128.IsHardwareAccelerated ? Path.FourLanes : Path.Scalar;
        for (int block = 0; block < blocks; block++)
        {
            ReadOnlySpan<float> x = src.Slice(block * BlockElements, BlockElements);
            Span<byte> y = dst.Slice(block * blockBytes, blockBytes);
            (float d, int sum) = path switch
            {
                Path.Best => QuantizeBlockVector(x, y[quantsOffset..]),
                Path.FourLanes => QuantizeBlockFourLanes(x, y[quantsOffset..]),
                _ => QuantizeBlockScalar(x, y[quantsOffset..]),
            };
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

    /// <summary>The scalar block's arithmetic on 4-lane vectors: the same max, products, ties-to-even rounding and sum.</summary>
    private static (float Scale, int Sum) QuantizeBlockFourLanes(ReadOnlySpan<float> x, Span<byte> quants)
    {
        ref float source = ref MemoryMarshal.GetReference(x);
        Vector128<float> maxAbs = Vector128<float>.Zero;
        for (int i = 0; i < BlockElements; i += 4)
            maxAbs = Vector128.Max(maxAbs, Vector128.Abs(Vector128.LoadUnsafe(ref source, (nuint)i)));
        float amax = MathF.Max(MathF.Max(maxAbs[0], maxAbs[1]), MathF.Max(maxAbs[2], maxAbs[3]));
        float id = amax != 0 ? 127f / amax : 0f;
        Vector128<float> multiplier = Vector128.Create(id);
        Vector128<int> sums = Vector128<int>.Zero;
        ref sbyte target = ref Unsafe.As<byte, sbyte>(ref MemoryMarshal.GetReference(quants));
        for (int i = 0; i < BlockElements; i += 16)
        {
            Vector128<int> i0 = Rounded(ref source, i, multiplier), i1 = Rounded(ref source, i + 4, multiplier);
            Vector128<int> i2 = Rounded(ref source, i + 8, multiplier), i3 = Rounded(ref source, i + 12, multiplier);
            sums += (i0 + i1) + (i2 + i3);
            // Values lie in [-127, 127], so plain (truncating, order-keeping) narrowing is exact.
            Vector128.Narrow(Vector128.Narrow(i0, i1), Vector128.Narrow(i2, i3)).StoreUnsafe(ref target, (nuint)i);
        }
        return (amax / 127f, Vector128.Sum(sums));

        static Vector128<int> Rounded(ref float source, int at, Vector128<float> multiplier) =>
            Vector128.ConvertToInt32(Vector128.Round(Vector128.LoadUnsafe(ref source, (nuint)at) * multiplier));
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

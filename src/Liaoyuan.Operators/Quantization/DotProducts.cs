using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Liaoyuan.Operators.Tensors;

namespace Liaoyuan.Operators.Quantization;

/// <summary>
/// Dot product of a weight row with an activation row already converted to the weight type's
/// <see cref="VecDotTypes.For">vec-dot type</see>, dispatched to the best kernel this CPU runs.
/// Every kernel returns the same bits on every path (vector or scalar).
/// </summary>
public static class DotProducts
{
    public static float Dot(GgmlType weightType, ReadOnlySpan<byte> weightRow, ReadOnlySpan<byte> activationRow, int n) =>
        Dot(weightType, weightRow, activationRow, n, allowSimd: true);

    /// <summary>As <see cref="Dot(GgmlType, ReadOnlySpan{byte}, ReadOnlySpan{byte}, int)"/>; with
    /// <paramref name="allowSimd"/> false it always runs the scalar reference kernels.</summary>
    internal static float Dot(GgmlType weightType, ReadOnlySpan<byte> weightRow, ReadOnlySpan<byte> activationRow, int n,
        bool allowSimd)
    {
        GgmlType activationType = VecDotTypes.For(weightType);
        if (weightRow.Length < GgmlTypeInfo.RowBytes(weightType, n))
            throw new ArgumentException($"weight row holds fewer than {n} {weightType} elements", nameof(weightRow));
        if (activationRow.Length < GgmlTypeInfo.RowBytes(activationType, n))
            throw new ArgumentException($"activation row holds fewer than {n} {activationType} elements", nameof(activationRow));
        return Kernel(weightType, weightRow, activationRow, n, allowSimd);
    }

    /// <summary>The kernel for <paramref name="weightType"/> on rows whose lengths the caller has checked.</summary>
    private static float Kernel(GgmlType weightType, ReadOnlySpan<byte> weightRow, ReadOnlySpan<byte> activationRow, int n, bool allowSimd)
    {
        bool avx2 = allowSimd && Avx2DotProducts.IsSupported;
        bool neon = allowSimd && NeonDotProducts.IsSupported;
        bool vectors = allowSimd && Vector256.IsHardwareAccelerated;
        return weightType switch
        {
            GgmlType.F32 => vectors
                ? FloatDotProducts.F32(AsFloats(weightRow, n), AsFloats(activationRow, n))
                : neon ? NeonFloatDotProducts.F32(AsFloats(weightRow, n), AsFloats(activationRow, n))
                : FloatDotProducts.Scalar.F32(AsFloats(weightRow, n), AsFloats(activationRow, n)),
            GgmlType.F16 => vectors
                ? FloatDotProducts.F16(AsShorts(weightRow, n), AsShorts(activationRow, n))
                : neon ? NeonFloatDotProducts.F16(AsShorts(weightRow, n), AsShorts(activationRow, n))
                : FloatDotProducts.Scalar.F16(AsShorts(weightRow, n), AsShorts(activationRow, n)),
            GgmlType.BF16 => vectors
                ? FloatDotProducts.BF16(AsShorts(weightRow, n), AsShorts(activationRow, n))
                : neon ? NeonFloatDotProducts.BF16(AsShorts(weightRow, n), AsShorts(activationRow, n))
                : FloatDotProducts.Scalar.BF16(AsShorts(weightRow, n), AsShorts(activationRow, n)),
            GgmlType.Q4_0 => avx2 ? Avx2DotProducts.Q4_0(weightRow, activationRow, n)
                : neon ? NeonDotProducts.Q4_0(weightRow, activationRow, n) : ScalarDotProducts.Q4_0(weightRow, activationRow, n),
            GgmlType.Q4_1 => avx2 ? Avx2DotProducts.Q4_1(weightRow, activationRow, n)
                : neon ? NeonDotProducts.Q4_1(weightRow, activationRow, n) : ScalarDotProducts.Q4_1(weightRow, activationRow, n),
            GgmlType.Q5_0 => avx2 ? Avx2DotProducts.Q5_0(weightRow, activationRow, n)
                : neon ? NeonDotProducts.Q5_0(weightRow, activationRow, n) : ScalarDotProducts.Q5_0(weightRow, activationRow, n),
            GgmlType.Q5_1 => avx2 ? Avx2DotProducts.Q5_1(weightRow, activationRow, n)
                : neon ? NeonDotProducts.Q5_1(weightRow, activationRow, n) : ScalarDotProducts.Q5_1(weightRow, activationRow, n),
            GgmlType.Q8_0 => avx2 ? Avx2DotProducts.Q8_0(weightRow, activationRow, n)
                : neon ? NeonDotProducts.Q8_0(weightRow, activationRow, n) : ScalarDotProducts.Q8_0(weightRow, activationRow, n),
            GgmlType.Q4_K => avx2 ? Avx2DotProducts.Q4_K(weightRow, activationRow, n)
                : neon ? NeonDotProducts.Q4_K(weightRow, activationRow, n) : ScalarDotProducts.Q4_K(weightRow, activationRow, n),
            GgmlType.Q5_K => avx2 ? Avx2DotProducts.Q5_K(weightRow, activationRow, n)
                : neon ? NeonDotProducts.Q5_K(weightRow, activationRow, n) : ScalarDotProducts.Q5_K(weightRow, activationRow, n),
            GgmlType.Q6_K => avx2 ? Avx2DotProducts.Q6_K(weightRow, activationRow, n)
                : neon ? NeonDotProducts.Q6_K(weightRow, activationRow, n) : ScalarDotProducts.Q6_K(weightRow, activationRow, n),
            _ => throw new NotSupportedException($"no dot product kernel for {weightType} weights"),
        };
    }

    /// <summary>
    /// <paramref name="count"/> weight rows, <paramref name="rowBytes"/> apart, against one activation row:
    /// output[i · outputStride] = Dot(row i). The same bits as <see cref="Dot(GgmlType, ReadOnlySpan{byte}, ReadOnlySpan{byte}, int)"/>
    /// row by row; the type is dispatched once per call instead of once per row, which for short rows (896
    /// columns: 28 blocks) was a tenth of a decode step.
    /// </summary>
    internal static unsafe void Rows(GgmlType weightType, byte* weights, long rowBytes, int count, byte* activation, int n,
        float* output, long outputStride)
    {
        int weightBytes = checked((int)GgmlTypeInfo.RowBytes(weightType, n));
        int activationBytes = checked((int)GgmlTypeInfo.RowBytes(VecDotTypes.For(weightType), n));
        if (rowBytes < weightBytes) throw new ArgumentException($"row stride {rowBytes} is below one row of {n} {weightType} elements", nameof(rowBytes));
        var a = new ReadOnlySpan<byte>(activation, activationBytes);
        if (Avx2DotProducts.IsSupported)
        {
            switch (weightType)
            {
                case GgmlType.Q8_0: Avx2DotProducts.Q8_0Rows(weights, rowBytes, count, activation, n / 32, output, outputStride); return;
                case GgmlType.Q4_K: Avx2DotProducts.Q4_KRows(weights, rowBytes, count, activation, n / 256, output, outputStride); return;
                case GgmlType.Q6_K: Avx2DotProducts.Q6_KRows(weights, rowBytes, count, activation, n / 256, output, outputStride); return;
            }
        }
        for (int i = 0; i < count; i++)
        {
            // Two rows ahead is fetched while this one is summed: the hardware's stream prefetcher stops at each
            // 4 KiB page, and a matrix-vector product is a stream of pages.
            if (Sse.IsSupported)
            {
                byte* ahead = weights + (i + 2) * rowBytes;
                for (int line = 0; line < weightBytes; line += 64) Sse.Prefetch0(ahead + line);
            }
            output[i * outputStride] = Kernel(weightType, new ReadOnlySpan<byte>(weights + i * rowBytes, weightBytes), a, n, allowSimd: true);
        }
    }

    private static ReadOnlySpan<float> AsFloats(ReadOnlySpan<byte> row, int n) => MemoryMarshal.Cast<byte, float>(row)[..n];

    private static ReadOnlySpan<ushort> AsShorts(ReadOnlySpan<byte> row, int n) => MemoryMarshal.Cast<byte, ushort>(row)[..n];
}

using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Liaoyuan.Operators.Quantization;

/// <summary>
/// One weight row against four activation rows at once, for prompt processing. The weight block is decoded once
/// and reused for the four tokens, and the four accumulators are independent, which hides the FMA latency that
/// bounds a single dot product. Each output accumulates its blocks in the same order, with the same FMA and the
/// same final lane sum, as <see cref="Avx2DotProducts"/>, so batched and one-token results are bit-identical.
/// </summary>
internal static unsafe class Avx2TileKernels
{
    public static bool IsSupported => Avx2DotProducts.IsSupported;

    /// <summary>Q8_0 weights × four Q8_0 activation rows <paramref name="activationStride"/> bytes apart.</summary>
    public static void Q8_0x4(byte* weights, byte* activations, int activationStride, int blocks, float* output, int outputStride)
    {
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        byte* a0 = activations, a1 = a0 + activationStride, a2 = a1 + activationStride, a3 = a2 + activationStride;
        for (int b = 0; b < blocks; b++, weights += Q8_0Layout.Bytes, a0 += Q8_0Layout.Bytes, a1 += Q8_0Layout.Bytes,
             a2 += Q8_0Layout.Bytes, a3 += Q8_0Layout.Bytes)
        {
            float dw = Float16.ToSingle(*(ushort*)weights);
            Vector256<sbyte> w = Avx.LoadVector256((sbyte*)(weights + Q8_0Layout.Quants));
            Vector256<byte> magnitude = Avx2.Sign(w, w).AsByte();
            acc0 = Fma.MultiplyAdd(Vector256.Create(dw * Float16.ToSingle(*(ushort*)a0)), MulSum(magnitude, w, a0), acc0);
            acc1 = Fma.MultiplyAdd(Vector256.Create(dw * Float16.ToSingle(*(ushort*)a1)), MulSum(magnitude, w, a1), acc1);
            acc2 = Fma.MultiplyAdd(Vector256.Create(dw * Float16.ToSingle(*(ushort*)a2)), MulSum(magnitude, w, a2), acc2);
            acc3 = Fma.MultiplyAdd(Vector256.Create(dw * Float16.ToSingle(*(ushort*)a3)), MulSum(magnitude, w, a3), acc3);
        }
        output[0] = SumLanes(acc0);
        output[outputStride] = SumLanes(acc1);
        output[2 * outputStride] = SumLanes(acc2);
        output[3 * outputStride] = SumLanes(acc3);
    }

    /// <summary>Q4_0 weights × four Q8_0 activation rows.</summary>
    public static void Q4_0x4(byte* weights, byte* activations, int activationStride, int blocks, float* output, int outputStride)
    {
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        byte* a0 = activations, a1 = a0 + activationStride, a2 = a1 + activationStride, a3 = a2 + activationStride;
        for (int b = 0; b < blocks; b++, weights += Q4_0Layout.Bytes, a0 += Q8_0Layout.Bytes, a1 += Q8_0Layout.Bytes,
             a2 += Q8_0Layout.Bytes, a3 += Q8_0Layout.Bytes)
        {
            float dw = Float16.ToSingle(*(ushort*)weights);
            Vector256<sbyte> w = Avx2DotProducts.SignedQ4_0Quants(ref *(weights + Q4_0Layout.Quants));
            Vector256<byte> magnitude = Avx2.Sign(w, w).AsByte();
            acc0 = Fma.MultiplyAdd(Vector256.Create(dw * Float16.ToSingle(*(ushort*)a0)), MulSum(magnitude, w, a0), acc0);
            acc1 = Fma.MultiplyAdd(Vector256.Create(dw * Float16.ToSingle(*(ushort*)a1)), MulSum(magnitude, w, a1), acc1);
            acc2 = Fma.MultiplyAdd(Vector256.Create(dw * Float16.ToSingle(*(ushort*)a2)), MulSum(magnitude, w, a2), acc2);
            acc3 = Fma.MultiplyAdd(Vector256.Create(dw * Float16.ToSingle(*(ushort*)a3)), MulSum(magnitude, w, a3), acc3);
        }
        output[0] = SumLanes(acc0);
        output[outputStride] = SumLanes(acc1);
        output[2 * outputStride] = SumLanes(acc2);
        output[3 * outputStride] = SumLanes(acc3);
    }

    /// <summary>|w| × sign(a, w), summed in groups of four into eight float lanes (pmaddubsw + pmaddwd).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> MulSum(Vector256<byte> magnitude, Vector256<sbyte> w, byte* activationBlock) =>
        Avx2DotProducts.MulSumMagnitude(magnitude, w, Avx.LoadVector256((sbyte*)(activationBlock + Q8_0Layout.Quants)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float SumLanes(Vector256<float> v) => Avx2DotProducts.SumLanes(v);
}

/// <summary>Float tiles for F16/BF16/F32 weights that were widened to float once per row block.</summary>
internal static unsafe class FloatTileKernels
{
    /// <summary>
    /// Four float weight rows × four float activation rows: sixteen independent accumulators, and each loaded
    /// vector feeds four FMAs, so the loop is bound by FMA throughput rather than by loads.
    /// </summary>
    public static void F32x4x4(float* weights, int weightStride, float* activations, int activationStride, int n, float* output, int outputStride)
    {
        float* w0 = weights, w1 = w0 + weightStride, w2 = w1 + weightStride, w3 = w2 + weightStride;
        float* a0 = activations, a1 = a0 + activationStride, a2 = a1 + activationStride, a3 = a2 + activationStride;
        Vector256<float> c00 = default, c01 = default, c02 = default, c03 = default;
        Vector256<float> c10 = default, c11 = default, c12 = default, c13 = default;
        Vector256<float> c20 = default, c21 = default, c22 = default, c23 = default;
        Vector256<float> c30 = default, c31 = default, c32 = default, c33 = default;
        int i = 0;
        for (; i + 8 <= n; i += 8)
        {
            Vector256<float> x0 = Vector256.Load(a0 + i), x1 = Vector256.Load(a1 + i), x2 = Vector256.Load(a2 + i), x3 = Vector256.Load(a3 + i);
            Vector256<float> w = Vector256.Load(w0 + i);
            c00 = Vector256.FusedMultiplyAdd(w, x0, c00); c01 = Vector256.FusedMultiplyAdd(w, x1, c01);
            c02 = Vector256.FusedMultiplyAdd(w, x2, c02); c03 = Vector256.FusedMultiplyAdd(w, x3, c03);
            w = Vector256.Load(w1 + i);
            c10 = Vector256.FusedMultiplyAdd(w, x0, c10); c11 = Vector256.FusedMultiplyAdd(w, x1, c11);
            c12 = Vector256.FusedMultiplyAdd(w, x2, c12); c13 = Vector256.FusedMultiplyAdd(w, x3, c13);
            w = Vector256.Load(w2 + i);
            c20 = Vector256.FusedMultiplyAdd(w, x0, c20); c21 = Vector256.FusedMultiplyAdd(w, x1, c21);
            c22 = Vector256.FusedMultiplyAdd(w, x2, c22); c23 = Vector256.FusedMultiplyAdd(w, x3, c23);
            w = Vector256.Load(w3 + i);
            c30 = Vector256.FusedMultiplyAdd(w, x0, c30); c31 = Vector256.FusedMultiplyAdd(w, x1, c31);
            c32 = Vector256.FusedMultiplyAdd(w, x2, c32); c33 = Vector256.FusedMultiplyAdd(w, x3, c33);
        }
        StoreSums(output, outputStride, 0, w0 + i, a0 + i, a1 + i, a2 + i, a3 + i, n - i, c00, c01, c02, c03);
        StoreSums(output, outputStride, 1, w1 + i, a0 + i, a1 + i, a2 + i, a3 + i, n - i, c10, c11, c12, c13);
        StoreSums(output, outputStride, 2, w2 + i, a0 + i, a1 + i, a2 + i, a3 + i, n - i, c20, c21, c22, c23);
        StoreSums(output, outputStride, 3, w3 + i, a0 + i, a1 + i, a2 + i, a3 + i, n - i, c30, c31, c32, c33);
    }

    /// <summary>Finishes one weight row of a 4×4 tile: lane sums plus the scalar tail of each token.</summary>
    private static void StoreSums(float* output, int stride, int row, float* wTail, float* a0, float* a1, float* a2, float* a3, int tail,
        Vector256<float> c0, Vector256<float> c1, Vector256<float> c2, Vector256<float> c3)
    {
        float r0 = Vector256.Sum(c0), r1 = Vector256.Sum(c1), r2 = Vector256.Sum(c2), r3 = Vector256.Sum(c3);
        for (int k = 0; k < tail; k++)
        {
            r0 = MathF.FusedMultiplyAdd(wTail[k], a0[k], r0);
            r1 = MathF.FusedMultiplyAdd(wTail[k], a1[k], r1);
            r2 = MathF.FusedMultiplyAdd(wTail[k], a2[k], r2);
            r3 = MathF.FusedMultiplyAdd(wTail[k], a3[k], r3);
        }
        output[row] = r0;
        output[stride + row] = r1;
        output[2 * stride + row] = r2;
        output[3 * stride + row] = r3;
    }

    /// <summary>One float weight row × four float activation rows; two accumulators per output hide FMA latency.</summary>
    public static void F32x4(float* weights, float* activations, int activationStride, int n, float* output, int outputStride)
    {
        float* a0 = activations, a1 = a0 + activationStride, a2 = a1 + activationStride, a3 = a2 + activationStride;
        Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default;
        Vector256<float> t0 = default, t1 = default, t2 = default, t3 = default;
        int i = 0;
        for (; i + 16 <= n; i += 16)
        {
            Vector256<float> w = Vector256.Load(weights + i), v = Vector256.Load(weights + i + 8);
            s0 = Vector256.FusedMultiplyAdd(w, Vector256.Load(a0 + i), s0);
            s1 = Vector256.FusedMultiplyAdd(w, Vector256.Load(a1 + i), s1);
            s2 = Vector256.FusedMultiplyAdd(w, Vector256.Load(a2 + i), s2);
            s3 = Vector256.FusedMultiplyAdd(w, Vector256.Load(a3 + i), s3);
            t0 = Vector256.FusedMultiplyAdd(v, Vector256.Load(a0 + i + 8), t0);
            t1 = Vector256.FusedMultiplyAdd(v, Vector256.Load(a1 + i + 8), t1);
            t2 = Vector256.FusedMultiplyAdd(v, Vector256.Load(a2 + i + 8), t2);
            t3 = Vector256.FusedMultiplyAdd(v, Vector256.Load(a3 + i + 8), t3);
        }
        float r0 = Vector256.Sum(s0 + t0), r1 = Vector256.Sum(s1 + t1), r2 = Vector256.Sum(s2 + t2), r3 = Vector256.Sum(s3 + t3);
        for (; i < n; i++)
        {
            r0 = MathF.FusedMultiplyAdd(weights[i], a0[i], r0);
            r1 = MathF.FusedMultiplyAdd(weights[i], a1[i], r1);
            r2 = MathF.FusedMultiplyAdd(weights[i], a2[i], r2);
            r3 = MathF.FusedMultiplyAdd(weights[i], a3[i], r3);
        }
        output[0] = r0;
        output[outputStride] = r1;
        output[2 * outputStride] = r2;
        output[3 * outputStride] = r3;
    }
}

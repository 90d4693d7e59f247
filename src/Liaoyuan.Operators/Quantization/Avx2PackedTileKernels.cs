using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Liaoyuan.Operators.Quantization;

/// <summary>
/// Prompt tiles for Q8_0 / Q4_0 / Q5_0 weights on AVX2 without VNNI: two weight rows × four tokens of activations
/// packed by <see cref="VnniTileKernels.PackActivations"/> (quants on cache lines, scales already floats), so the
/// loop reads no half-float scale and splits no activation load across two lines. Each weight block is decoded to
/// signed bytes and its magnitude taken once for four tokens. Per output the arithmetic is exactly
/// <see cref="Avx2DotProducts"/>'s (pmaddubsw on |w| and sign(a, w), pmaddwd, one FMA of d_w·d_a per block, the
/// same lane sum), so a token's result has the same bits alone or in a batch.
/// </summary>
internal static unsafe class Avx2PackedTileKernels
{
    public const int Rows = 2;

    public static bool IsSupported => Avx2DotProducts.IsSupported;

    /// <summary>Two weight rows <paramref name="rowBytes"/> apart × four packed tokens; writes output[t · stride + r].</summary>
    public static void Tile<TBlocks>(byte* weights, int rowBytes, sbyte* quants, float* scales, int blocks, float* output, int outputStride)
        where TBlocks : struct, ISignedBlocks
    {
        Vector256<float> c00 = default, c01 = default, c02 = default, c03 = default;
        Vector256<float> c10 = default, c11 = default, c12 = default, c13 = default;
        long tokenStride = (long)blocks * 32;
        for (int b = 0; b < blocks; b++, weights += TBlocks.Bytes, quants += 32, scales++)
        {
            byte* row = weights;
            var w = TBlocks.Signed(row);
            var magnitude = Avx2.Sign(w, w).AsByte();
            var d = Vector256.Create(Float16.ToSingle(*(ushort*)row));
            c00 = Fma.MultiplyAdd(d * Vector256.Create(scales[0]), MulSum(magnitude, w, quants), c00);
            c01 = Fma.MultiplyAdd(d * Vector256.Create(scales[blocks]), MulSum(magnitude, w, quants + tokenStride), c01);
            c02 = Fma.MultiplyAdd(d * Vector256.Create(scales[2 * blocks]), MulSum(magnitude, w, quants + 2 * tokenStride), c02);
            c03 = Fma.MultiplyAdd(d * Vector256.Create(scales[3 * blocks]), MulSum(magnitude, w, quants + 3 * tokenStride), c03);
            row += rowBytes;
            w = TBlocks.Signed(row);
            magnitude = Avx2.Sign(w, w).AsByte();
            d = Vector256.Create(Float16.ToSingle(*(ushort*)row));
            c10 = Fma.MultiplyAdd(d * Vector256.Create(scales[0]), MulSum(magnitude, w, quants), c10);
            c11 = Fma.MultiplyAdd(d * Vector256.Create(scales[blocks]), MulSum(magnitude, w, quants + tokenStride), c11);
            c12 = Fma.MultiplyAdd(d * Vector256.Create(scales[2 * blocks]), MulSum(magnitude, w, quants + 2 * tokenStride), c12);
            c13 = Fma.MultiplyAdd(d * Vector256.Create(scales[3 * blocks]), MulSum(magnitude, w, quants + 3 * tokenStride), c13);
        }
        output[0] = Avx2DotProducts.SumLanes(c00);
        output[outputStride] = Avx2DotProducts.SumLanes(c01);
        output[2 * outputStride] = Avx2DotProducts.SumLanes(c02);
        output[3 * outputStride] = Avx2DotProducts.SumLanes(c03);
        output[1] = Avx2DotProducts.SumLanes(c10);
        output[outputStride + 1] = Avx2DotProducts.SumLanes(c11);
        output[2 * outputStride + 1] = Avx2DotProducts.SumLanes(c12);
        output[3 * outputStride + 1] = Avx2DotProducts.SumLanes(c13);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> MulSum(Vector256<byte> magnitude, Vector256<sbyte> w, sbyte* packedQuants) =>
        Avx2DotProducts.MulSumMagnitude(magnitude, w, Vector256.Load(packedQuants));
}

/// <summary>A 32-weight block layout decoded to its signed quants (the values the scale multiplies).</summary>
internal unsafe interface ISignedBlocks
{
    static abstract int Bytes { get; }

    static abstract Vector256<sbyte> Signed(byte* block);
}

internal readonly unsafe struct SignedQ8_0 : ISignedBlocks
{
    public static int Bytes => Q8_0Layout.Bytes;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<sbyte> Signed(byte* block) => Avx.LoadVector256((sbyte*)(block + Q8_0Layout.Quants));
}

internal readonly unsafe struct SignedQ4_0 : ISignedBlocks
{
    public static int Bytes => Q4_0Layout.Bytes;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<sbyte> Signed(byte* block) => Avx2DotProducts.SignedQ4_0Quants(ref *(block + Q4_0Layout.Quants));
}

internal readonly unsafe struct SignedQ5_0 : ISignedBlocks
{
    public static int Bytes => Q5_0Layout.Bytes;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<sbyte> Signed(byte* block) => Avx2DotProducts.SignedQ5_0Quants(ref *block);
}

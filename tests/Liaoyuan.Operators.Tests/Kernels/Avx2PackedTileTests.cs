using Liaoyuan.Operators.Quantization;
using Liaoyuan.Operators.Tensors;
using Liaoyuan.Operators.Tests.Quantization;

namespace Liaoyuan.Operators.Tests.Kernels;

/// <summary>
/// The AVX2 prompt tiles (two rows × four packed tokens) called directly, so they are checked on VNNI machines
/// too, where the matrix product takes the VNNI tiles instead: every output has the scalar dot product's bits.
/// </summary>
public sealed class Avx2PackedTileTests
{
    [Theory]
    [InlineData(GgmlType.Q8_0, 1)]
    [InlineData(GgmlType.Q8_0, 7)]
    [InlineData(GgmlType.Q4_0, 3)]
    [InlineData(GgmlType.Q5_0, 5)]
    public unsafe void Tiles_give_each_output_the_scalar_dot_product(GgmlType type, int blocks)
    {
        if (!Avx2PackedTileKernels.IsSupported) return; // no AVX2: the kernel cannot run and is never chosen
        int columns = 32 * blocks, rowBytes = (int)GgmlTypeInfo.RowBytes(type, columns), activationBytes = 34 * blocks;
        const int rows = 2, tokens = 4, stride = 5;
        var weights = new byte[rows * rowBytes];
        for (int r = 0; r < rows; r++)
            TestRows.Quantize(type, TestRows.Random(columns, seed: 40 + r, scale: 0.05f)).CopyTo(weights, r * rowBytes);
        var activations = new byte[tokens * activationBytes];
        for (int t = 0; t < tokens; t++)
            TestRows.QuantizeActivations(GgmlType.Q8_0, TestRows.Random(columns, seed: 60 + t, scale: 3f)).CopyTo(activations, t * activationBytes);
        var quants = new sbyte[tokens * columns];
        var scales = new float[tokens * blocks];
        var output = new float[tokens * stride];
        fixed (byte* w = weights)
        fixed (byte* a = activations)
        fixed (sbyte* q = quants)
        fixed (float* s = scales)
        fixed (float* o = output)
        {
            VnniTileKernels.PackActivations(a, activationBytes, tokens, blocks, q, s);
            switch (type)
            {
                case GgmlType.Q8_0: Avx2PackedTileKernels.Tile<SignedQ8_0>(w, rowBytes, q, s, blocks, o, stride); break;
                case GgmlType.Q4_0: Avx2PackedTileKernels.Tile<SignedQ4_0>(w, rowBytes, q, s, blocks, o, stride); break;
                default: Avx2PackedTileKernels.Tile<SignedQ5_0>(w, rowBytes, q, s, blocks, o, stride); break;
            }
        }
        for (int t = 0; t < tokens; t++)
            for (int r = 0; r < rows; r++)
            {
                float expected = DotProducts.Dot(type, weights.AsSpan(r * rowBytes, rowBytes), activations.AsSpan(t * activationBytes, activationBytes),
                    columns, allowSimd: false);
                Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(output[t * stride + r]));
            }
    }
}

using Liaoyuan.Operators.Kernels;
using Liaoyuan.Operators.Quantization;
using Liaoyuan.Operators.Tensors;
using Liaoyuan.Operators.Tests.Quantization;

namespace Liaoyuan.Operators.Tests.Kernels;

/// <summary>
/// The matrix product's strategies (per-row dots, four-row decode kernels, 4×4 and 1×4 tiles for batches) must
/// give every output exactly the value of the one-token dot product: batched and one-at-a-time inference then
/// agree to the bit, and the dot kernels are the ones checked against llama.cpp's arithmetic.
/// </summary>
public sealed class MatMulTests
{
    public static TheoryData<GgmlType, int, int, int> Cases()
    {
        var data = new TheoryData<GgmlType, int, int, int>();
        foreach (var type in new[] { GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q5_0, GgmlType.Q4_K, GgmlType.Q6_K })
        {
            // Row counts that leave 0, 1 and 3 rows after the four-row groups; token counts with and without tails.
            foreach (int rows in new[] { 8, 37, 67 })
                foreach (int tokens in new[] { 1, 4, 7, 13 })
                    foreach (int columns in new[] { 256, 512 }) // one k-quant super-block, and two
                        data.Add(type, rows, tokens, columns);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public unsafe void QuantizedProductsEqualTheOneTokenDotProducts(GgmlType type, int rows, int tokens, int columns)
    {
        var weights = new byte[GgmlTypeInfo.RowBytes(type, columns) * rows];
        int rowBytes = (int)GgmlTypeInfo.RowBytes(type, columns);
        for (int r = 0; r < rows; r++)
            TestRows.Quantize(type, TestRows.Random(columns, seed: 100 + r)).CopyTo(weights, r * rowBytes);
        var x = new float[tokens * columns];
        for (int t = 0; t < tokens; t++)
            TestRows.Random(columns, seed: 900 + t).CopyTo(x, t * columns);

        var y = new float[tokens * rows];
        using var kernels = new CpuKernels(threads: 2);
        fixed (byte* data = weights)
        {
            var matrix = new WeightMatrix(data, type, rows, columns);
            kernels.MatMul(matrix, x, y, tokens);
            GgmlType dotType = VecDotTypes.For(type);
            for (int t = 0; t < tokens; t++)
            {
                byte[] activations = TestRows.QuantizeActivations(dotType, x[(t * columns)..((t + 1) * columns)]);
                for (int r = 0; r < rows; r++)
                {
                    float expected = DotProducts.Dot(type, matrix.Row(r), activations, columns);
                    Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(y[t * rows + r]),
                        $"token {t}, row {r}: {y[t * rows + r]:R} vs dot {expected:R}");
                }
            }
        }
    }

    [Theory]
    [InlineData(GgmlType.F16, 37, 9)]
    [InlineData(GgmlType.F16, 37, 1)]
    [InlineData(GgmlType.F32, 8, 4)]
    [InlineData(GgmlType.BF16, 13, 5)]
    public unsafe void FloatProductsAgreeWithDoublePrecisionSums(GgmlType type, int rows, int tokens)
    {
        const int columns = 200;
        int rowBytes = (int)GgmlTypeInfo.RowBytes(type, columns);
        var weights = new byte[rowBytes * rows];
        var dequantized = new float[rows * columns];
        for (int r = 0; r < rows; r++)
        {
            TestRows.Quantize(type, TestRows.Random(columns, seed: 300 + r, withOutliers: false)).CopyTo(weights, r * rowBytes);
            Quantizer.DequantizeRow(type, weights.AsSpan(r * rowBytes, rowBytes), dequantized.AsSpan(r * columns, columns));
        }
        var x = new float[tokens * columns];
        for (int t = 0; t < tokens; t++)
            TestRows.Random(columns, seed: 700 + t, withOutliers: false).CopyTo(x, t * columns);

        var y = new float[tokens * rows];
        using var kernels = new CpuKernels(threads: 2);
        fixed (byte* data = weights)
            kernels.MatMul(new WeightMatrix(data, type, rows, columns), x, y, tokens);
        for (int t = 0; t < tokens; t++)
        {
            for (int r = 0; r < rows; r++)
            {
                double expected = 0, magnitude = 0;
                for (int c = 0; c < columns; c++)
                {
                    // The activations are rounded to the weight type first, as llama.cpp's kernels do.
                    float a = type == GgmlType.F16 ? (float)(Half)x[t * columns + c]
                        : type == GgmlType.BF16 ? BFloat16.ToSingle(BFloat16.FromSingle(x[t * columns + c])) : x[t * columns + c];
                    expected += (double)dequantized[r * columns + c] * a;
                    magnitude += Math.Abs((double)dequantized[r * columns + c] * a);
                }
                Assert.True(Math.Abs(y[t * rows + r] - expected) <= 1e-5 * magnitude + 1e-6,
                    $"token {t}, row {r}: {y[t * rows + r]} vs {expected}");
            }
        }
    }
}

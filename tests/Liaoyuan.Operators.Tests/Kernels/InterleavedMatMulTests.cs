using Liaoyuan.Operators.Kernels;
using Liaoyuan.Operators.Quantization;
using Liaoyuan.Operators.Tensors;
using Liaoyuan.Operators.Tests.Quantization;

namespace Liaoyuan.Operators.Tests.Kernels;

/// <summary>
/// Matrices prepared into sixteen-row interleaved blocks: every output must be the exact quantized product up to
/// float rounding of the per-block accumulation, and a token must give the same bits alone as in any batch (the
/// server batches sequences of different requests; their outputs must not depend on who else is in the step).
/// </summary>
public sealed class InterleavedMatMulTests
{
    public static TheoryData<GgmlType, int, int> Cases()
    {
        var data = new TheoryData<GgmlType, int, int>();
        foreach (var type in new[] { GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q5_0 })
        {
            // 16 and 48: whole groups; 37 and 67: groups plus rows left in the file's layout.
            foreach (int rows in new[] { 16, 37, 48, 67 })
                foreach (int tokens in new[] { 1, 2, 4, 7, 13 })
                    data.Add(type, rows, tokens);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public unsafe void InterleavedProductsAreExactAndBatchInvariant(GgmlType type, int rows, int tokens)
    {
        const int columns = 512;
        int rowBytes = (int)GgmlTypeInfo.RowBytes(type, columns);
        var weights = new byte[rowBytes * rows];
        var dequantized = new float[rows * columns];
        for (int r = 0; r < rows; r++)
        {
            TestRows.Quantize(type, TestRows.Random(columns, seed: 100 + r)).CopyTo(weights, r * rowBytes);
            Quantizer.DequantizeRow(type, weights.AsSpan(r * rowBytes, rowBytes), dequantized.AsSpan(r * columns, columns));
        }
        var x = new float[tokens * columns];
        for (int t = 0; t < tokens; t++)
            TestRows.Random(columns, seed: 900 + t).CopyTo(x, t * columns);

        using var kernels = new CpuKernels(threads: 2);
        fixed (byte* data = weights)
        {
            var prepared = kernels.Prepare(new WeightMatrix(data, type, rows, columns));
            Assert.Equal(InterleavedKernels.Supports(type), prepared.Interleaved != null);
            if (prepared.Interleaved != null) Assert.Equal(rows / 16 * 16, prepared.InterleavedRows);

            var batch = new float[tokens * rows];
            kernels.MatMul(prepared, x, batch, tokens);
            var single = new float[rows];
            GgmlType dotType = VecDotTypes.For(type);
            var activations = new float[columns];
            for (int t = 0; t < tokens; t++)
            {
                var token = x.AsSpan(t * columns, columns);
                kernels.MatMul(prepared, token, single, 1);
                Quantizer.DequantizeRow(dotType, TestRows.QuantizeActivations(dotType, token.ToArray()), activations);
                for (int r = 0; r < rows; r++)
                {
                    float got = batch[t * rows + r];
                    Assert.True(BitConverter.SingleToInt32Bits(got) == BitConverter.SingleToInt32Bits(single[r]),
                        $"token {t}, row {r}: batch {got:R} vs alone {single[r]:R}");
                    double exact = 0, magnitude = 0;
                    for (int c = 0; c < columns; c++)
                    {
                        exact += (double)dequantized[r * columns + c] * activations[c];
                        magnitude += Math.Abs((double)dequantized[r * columns + c] * activations[c]);
                    }
                    Assert.True(Math.Abs(got - exact) <= 1e-6 * magnitude + 1e-7, $"token {t}, row {r}: {got:R} vs exact {exact:R}");
                }
            }
        }
    }

    [Theory]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.Q5_0)]
    public unsafe void RowsReadFromTheCopyEqualTheFilesRows(GgmlType type)
    {
        const int rows = 37, columns = 96;
        int rowBytes = (int)GgmlTypeInfo.RowBytes(type, columns);
        var weights = new byte[rowBytes * rows];
        for (int r = 0; r < rows; r++)
            TestRows.Quantize(type, TestRows.Random(columns, seed: 40 + r)).CopyTo(weights, r * rowBytes);
        using var kernels = new CpuKernels(threads: 1);
        fixed (byte* data = weights)
        {
            var plain = new WeightMatrix(data, type, rows, columns);
            var prepared = kernels.Prepare(plain);
            var expected = new float[columns];
            var got = new float[columns];
            for (int r = 0; r < rows; r++)
            {
                kernels.GetRow(plain, r, expected);
                kernels.GetRow(prepared, r, got);
                Assert.Equal(expected, got);
            }
        }
    }

    [Theory]
    [InlineData(GgmlType.Q8_0, GgmlType.Q5_0, GgmlType.Q4_0, 1)]
    [InlineData(GgmlType.Q8_0, GgmlType.Q5_0, GgmlType.Q4_0, 6)]
    [InlineData(GgmlType.Q5_0, GgmlType.Q4_K, GgmlType.Q8_0, 5)]
    [InlineData(GgmlType.Q4_0, GgmlType.Q4_0, GgmlType.F32, 3)]
    public unsafe void SharedProductsEqualSeparateProducts(GgmlType type0, GgmlType type1, GgmlType type2, int tokens)
    {
        const int columns = 256;
        int[] rows = [48, 21, 37];
        GgmlType[] types = [type0, type1, type2];
        var data = new byte[3][];
        for (int m = 0; m < 3; m++)
        {
            int rowBytes = (int)GgmlTypeInfo.RowBytes(types[m], columns);
            data[m] = new byte[rowBytes * rows[m]];
            for (int r = 0; r < rows[m]; r++)
                TestRows.Quantize(types[m], TestRows.Random(columns, seed: 1000 * m + r)).CopyTo(data[m], r * rowBytes);
        }
        var x = TestRows.Random(tokens * columns, seed: 5);
        using var kernels = new CpuKernels(threads: 2);
        fixed (byte* d0 = data[0])
        fixed (byte* d1 = data[1])
        fixed (byte* d2 = data[2])
        {
            var w0 = kernels.Prepare(new WeightMatrix(d0, types[0], rows[0], columns));
            var w1 = kernels.Prepare(new WeightMatrix(d1, types[1], rows[1], columns));
            var w2 = kernels.Prepare(new WeightMatrix(d2, types[2], rows[2], columns));
            float[] shared0 = new float[tokens * rows[0]], shared1 = new float[tokens * rows[1]], shared2 = new float[tokens * rows[2]];
            kernels.MatMulShared(x, tokens, w0, shared0, w1, shared1, w2, shared2);
            float[] alone0 = new float[tokens * rows[0]], alone1 = new float[tokens * rows[1]], alone2 = new float[tokens * rows[2]];
            kernels.MatMul(w0, x, alone0, tokens);
            kernels.MatMul(w1, x, alone1, tokens);
            kernels.MatMul(w2, x, alone2, tokens);
            Assert.Equal(alone0, shared0);
            Assert.Equal(alone1, shared1);
            Assert.Equal(alone2, shared2);
            Assert.Contains(alone1, v => v != 0);

            // Two matrices: the third slot empty.
            Array.Clear(shared0);
            kernels.MatMulShared(x, tokens, w0, shared0, w1, shared1, default, default);
            Assert.Equal(alone0, shared0);
        }
    }

    [Fact]
    public unsafe void ScalesThatAreNotFiniteKeepTheFileLayout()
    {
        const int rows = 16, columns = 64;
        int rowBytes = (int)GgmlTypeInfo.RowBytes(GgmlType.Q8_0, columns);
        var weights = new byte[rowBytes * rows];
        for (int r = 0; r < rows; r++)
            TestRows.Quantize(GgmlType.Q8_0, TestRows.Random(columns, seed: r)).CopyTo(weights, r * rowBytes);
        BitConverter.TryWriteBytes(weights.AsSpan(5 * rowBytes + Q8_0Layout.Bytes), (ushort)0x7C00); // +inf scale
        using var kernels = new CpuKernels(threads: 2);
        fixed (byte* data = weights)
        {
            var prepared = kernels.Prepare(new WeightMatrix(data, GgmlType.Q8_0, rows, columns));
            Assert.True(prepared.Interleaved == null);
        }
    }
}

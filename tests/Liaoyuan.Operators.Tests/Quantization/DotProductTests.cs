using System.Buffers.Binary;
using Liaoyuan.Operators.Quantization;
using Liaoyuan.Operators.Tensors;

namespace Liaoyuan.Operators.Tests.Quantization;

public class DotProductTests
{
    private static readonly GgmlType[] WeightTypes =
    [
        GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1,
        GgmlType.Q8_0, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K,
    ];

    public static TheoryData<GgmlType, int> TypesAndBlockCounts()
    {
        var data = new TheoryData<GgmlType, int>();
        foreach (GgmlType type in WeightTypes)
            foreach (int blocks in TestRows.BlockCounts)
                data.Add(type, blocks);
        return data;
    }

    /// <summary>Element count: whole blocks for quantized types; odd lengths (with a tail) for float types.</summary>
    private static int Length(GgmlType type, int blocks) =>
        GgmlTypeInfo.BlockSize(type) == 1 ? 32 * blocks + blocks % 7 + 3 : GgmlTypeInfo.BlockSize(type) * blocks;

    [Theory]
    [MemberData(nameof(TypesAndBlockCounts))]
    public void Simd_and_scalar_kernels_agree_bit_for_bit(GgmlType type, int blocks)
    {
        int n = Length(type, blocks);
        GgmlType activationType = VecDotTypes.For(type);
        for (int seed = 0; seed < 3; seed++)
        {
            byte[] w = TestRows.Quantize(type, TestRows.Random(n, seed: 300 + seed, scale: 0.05f));
            byte[] a = TestRows.QuantizeActivations(activationType, TestRows.Random(n, seed: 400 + seed, scale: 3f));
            float simd = DotProducts.Dot(type, w, a, n, allowSimd: true);
            float scalar = DotProducts.Dot(type, w, a, n, allowSimd: false);
            Assert.Equal(BitConverter.SingleToInt32Bits(scalar), BitConverter.SingleToInt32Bits(simd));
        }
    }

    [Theory]
    [MemberData(nameof(TypesAndBlockCounts))]
    public void Simd_and_scalar_kernels_agree_on_random_bytes(GgmlType type, int blocks)
    {
        // Arbitrary bit patterns reach lanes and saturation cases real quantizers never produce
        // (e.g. -128 quants); both paths must still agree. Scales are forced finite and small.
        if (GgmlTypeInfo.BlockSize(type) == 1)
            return;
        int n = Length(type, blocks);
        GgmlType activationType = VecDotTypes.For(type);
        var random = new Random(blocks);
        byte[] w = new byte[GgmlTypeInfo.RowBytes(type, n)];
        byte[] a = new byte[GgmlTypeInfo.RowBytes(activationType, n)];
        random.NextBytes(w);
        random.NextBytes(a);
        SanitizeScales(type, w);
        SanitizeScales(activationType, a);
        KeepActivationQuantsInRange(activationType, a);
        float simd = DotProducts.Dot(type, w, a, n, allowSimd: true);
        float scalar = DotProducts.Dot(type, w, a, n, allowSimd: false);
        Assert.Equal(BitConverter.SingleToInt32Bits(scalar), BitConverter.SingleToInt32Bits(simd));
    }

    /// <summary>
    /// Q8_0 activation quants are never −128 (the quantizer's d is amax / 127; see
    /// <see cref="ActivationQuantizer_never_writes_minus_128"/>). Only there do AVX2's sign trick and an exact
    /// product (the NEON kernels) differ, so random activation rows keep to the range the engine produces.
    /// </summary>
    private static void KeepActivationQuantsInRange(GgmlType activationType, byte[] row)
    {
        if (activationType != GgmlType.Q8_0)
            return;
        for (int block = 0; block < row.Length / Q8_0Bytes; block++)
            for (int j = 2; j < Q8_0Bytes; j++)
                if (row[block * Q8_0Bytes + j] == 0x80)
                    row[block * Q8_0Bytes + j] = 0x81;
    }

    private const int Q8_0Bytes = 34;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ActivationQuantizer_never_writes_minus_128(bool allowSimd)
    {
        // Extremes of every kind: exact ties with the block maximum of either sign, huge, tiny and subnormal values.
        float[] x = TestRows.Random(32 * 64, seed: 12, scale: 4f);
        for (int block = 0; block < 64; block++)
        {
            float magnitude = MathF.Pow(2, block - 32) * (1 + block / 64f);
            x[32 * block + block % 32] = -magnitude;
            x[32 * block + (block + 5) % 32] = block % 2 == 0 ? magnitude : -magnitude * 0.99999994f;
        }
        x[7] = float.Epsilon;
        x[8] = -float.MaxValue;
        byte[] q8 = new byte[64 * Q8_0Bytes];
        ActivationQuantizer.QuantizeQ8_0(x, q8, allowSimd);
        for (int block = 0; block < 64; block++)
            for (int j = 2; j < Q8_0Bytes; j++)
                Assert.NotEqual(0x80, q8[block * Q8_0Bytes + j]);
    }

    /// <summary>Overwrites every half/float scale field with a small finite value.</summary>
    private static void SanitizeScales(GgmlType type, byte[] row)
    {
        int blockBytes = GgmlTypeInfo.TypeSize(type);
        int[] halfOffsets = type switch
        {
            GgmlType.Q4_0 or GgmlType.Q5_0 or GgmlType.Q8_0 => [0],
            GgmlType.Q4_1 or GgmlType.Q5_1 or GgmlType.Q8_1 or GgmlType.Q4_K or GgmlType.Q5_K => [0, 2],
            GgmlType.Q6_K => [208],
            _ => [],
        };
        for (int block = 0; block < row.Length / blockBytes; block++)
        {
            int start = block * blockBytes;
            foreach (int offset in halfOffsets)
                BinaryPrimitives.WriteUInt16LittleEndian(row.AsSpan(start + offset), (ushort)(0x2000 + row[start + offset + 1] % 0x1000));
            if (type == GgmlType.Q8_K)
                BinaryPrimitives.WriteSingleLittleEndian(row.AsSpan(start), 0.01f + row[start] / 1000f);
        }
    }

    [Theory]
    [MemberData(nameof(TypesAndBlockCounts))]
    public void Dot_equals_the_float_dot_of_the_dequantized_rows(GgmlType type, int blocks)
    {
        int n = Length(type, blocks);
        GgmlType activationType = VecDotTypes.For(type);
        byte[] w = TestRows.Quantize(type, TestRows.Random(n, seed: 500 + blocks, scale: 0.05f));
        byte[] a = TestRows.QuantizeActivations(activationType, TestRows.Random(n, seed: 600 + blocks, scale: 3f));
        float[] wf = TestRows.Dequantize(type, w, n);
        float[] af = TestRows.Dequantize(activationType, a, n);
        double expected = 0, magnitude = 0;
        for (int i = 0; i < n; i++)
        {
            expected += (double)wf[i] * af[i];
            magnitude += Math.Abs((double)wf[i] * af[i]);
        }
        if (activationType == GgmlType.Q8_1)
            expected += MinTermCorrection(type, w, a, n);

        float actual = DotProducts.Dot(type, w, a, n);
        Assert.True(Math.Abs(actual - expected) <= 1e-5 * magnitude + 1e-6,
            $"{type} n={n}: got {actual}, expected {expected} (magnitude {magnitude})");
    }

    /// <summary>
    /// The Q4_1/Q5_1 kernels take the minimum's contribution as m * s with Q8_1's half-precision s, not from
    /// the dequantized activations; this is the difference between the two.
    /// </summary>
    private static double MinTermCorrection(GgmlType type, byte[] w, byte[] a, int n)
    {
        int weightBytes = GgmlTypeInfo.TypeSize(type);
        double correction = 0;
        for (int block = 0; block < n / 32; block++)
        {
            float m = (float)BitConverter.ToHalf(w, block * weightBytes + 2);
            float d = (float)BitConverter.ToHalf(a, block * 36);
            float s = (float)BitConverter.ToHalf(a, block * 36 + 2);
            double quantSum = 0;
            for (int j = 0; j < 32; j++)
                quantSum += (sbyte)a[block * 36 + 4 + j];
            correction += m * (s - d * quantSum);
        }
        return correction;
    }

    [Fact]
    public void Quantized_dot_tracks_the_exact_float_dot()
    {
        // End to end: quantization error of a 4096-long product stays small for every format.
        const int n = 4096;
        float[] wx = TestRows.Random(n, seed: 1, scale: 0.05f);
        float[] ax = TestRows.Random(n, seed: 2, scale: 3f);
        double exact = 0, norm = 0;
        for (int i = 0; i < n; i++)
        {
            exact += (double)wx[i] * ax[i];
            norm += Math.Abs((double)wx[i] * ax[i]);
        }
        foreach (GgmlType type in WeightTypes)
        {
            GgmlType activationType = VecDotTypes.For(type);
            float dot = DotProducts.Dot(type, TestRows.Quantize(type, wx), TestRows.QuantizeActivations(activationType, ax), n);
            Assert.True(Math.Abs(dot - exact) <= 0.05 * norm, $"{type}: {dot} vs {exact}");
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Activation_quantizers_give_the_scalar_bytes_on_every_path(bool fourLanes)
    {
        var path = fourLanes ? ActivationQuantizer.Path.FourLanes : ActivationQuantizer.Path.Best;
        float[] x = TestRows.Random(32 * 33, seed: 9, scale: 2f);
        Array.Fill(x, 0f, 64, 32); // an all-zero block
        // A block whose multiplier is exactly 1, with products on halves: ties must round to even on every path.
        x[96] = 127f;
        x[97] = 2.5f;
        x[98] = -3.5f;
        x[99] = 0.5f;
        foreach (bool q81 in new[] { false, true })
        {
            int bytes = (int)GgmlTypeInfo.RowBytes(q81 ? GgmlType.Q8_1 : GgmlType.Q8_0, x.Length);
            byte[] simd = new byte[bytes], scalar = new byte[bytes];
            if (q81)
            {
                ActivationQuantizer.QuantizeQ8_1(x, simd, path);
                ActivationQuantizer.QuantizeQ8_1(x, scalar, ActivationQuantizer.Path.Scalar);
            }
            else
            {
                ActivationQuantizer.QuantizeQ8_0(x, simd, path);
                ActivationQuantizer.QuantizeQ8_0(x, scalar, ActivationQuantizer.Path.Scalar);
            }
            Assert.Equal(scalar, simd);
        }
    }

    [Theory]
    [InlineData(GgmlType.F32, GgmlType.F32)]
    [InlineData(GgmlType.F16, GgmlType.F16)]
    [InlineData(GgmlType.BF16, GgmlType.BF16)]
    [InlineData(GgmlType.Q4_0, GgmlType.Q8_0)]
    [InlineData(GgmlType.Q5_0, GgmlType.Q8_0)]
    [InlineData(GgmlType.Q8_0, GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_1, GgmlType.Q8_1)]
    [InlineData(GgmlType.Q5_1, GgmlType.Q8_1)]
    [InlineData(GgmlType.Q2_K, GgmlType.Q8_K)]
    [InlineData(GgmlType.Q3_K, GgmlType.Q8_K)]
    [InlineData(GgmlType.Q4_K, GgmlType.Q8_K)]
    [InlineData(GgmlType.Q5_K, GgmlType.Q8_K)]
    [InlineData(GgmlType.Q6_K, GgmlType.Q8_K)]
    public void Vec_dot_types_follow_llama_cpp(GgmlType weight, GgmlType activation) =>
        Assert.Equal(activation, VecDotTypes.For(weight));

    [Theory]
    [MemberData(nameof(TypesAndBlockCounts))]
    public unsafe void Many_rows_at_once_give_each_row_the_scalar_bits(GgmlType type, int blocks)
    {
        int n = Length(type, blocks), rowBytes = (int)GgmlTypeInfo.RowBytes(type, n);
        byte[] a = TestRows.QuantizeActivations(VecDotTypes.For(type), TestRows.Random(n, seed: 410, scale: 3f));
        foreach (int count in new[] { 1, 2, 3, 5 })
        {
            byte[] matrix = new byte[count * rowBytes];
            for (int r = 0; r < count; r++)
                TestRows.Quantize(type, TestRows.Random(n, seed: 310 + r, scale: 0.05f)).CopyTo(matrix, r * rowBytes);
            const int stride = 3; // a strided output, as a batch's token-major layout writes it
            float[] output = new float[count * stride];
            fixed (byte* weights = matrix)
            fixed (byte* activation = a)
            fixed (float* o = output)
                DotProducts.Rows(type, weights, rowBytes, count, activation, n, o, stride);
            for (int r = 0; r < count; r++)
            {
                float scalar = DotProducts.Dot(type, matrix.AsSpan(r * rowBytes, rowBytes), a, n, allowSimd: false);
                Assert.Equal(BitConverter.SingleToInt32Bits(scalar), BitConverter.SingleToInt32Bits(output[r * stride]));
            }
        }
    }

    [Theory]
    [MemberData(nameof(TypesAndBlockCounts))]
    public unsafe void Many_rows_of_random_bytes_give_each_row_the_scalar_bits(GgmlType type, int blocks)
    {
        // The multi-row kernels share work across rows (Q6_K's offset products, k-quant scale words): arbitrary
        // bit patterns in every row, with rows padded apart, must still give each row the scalar kernel's bits.
        if (GgmlTypeInfo.BlockSize(type) == 1)
            return;
        int n = Length(type, blocks), rowBytes = (int)GgmlTypeInfo.RowBytes(type, n), stride = rowBytes + 7;
        var random = new Random(700 + blocks);
        byte[] a = new byte[GgmlTypeInfo.RowBytes(VecDotTypes.For(type), n)];
        random.NextBytes(a);
        SanitizeScales(VecDotTypes.For(type), a);
        KeepActivationQuantsInRange(VecDotTypes.For(type), a);
        const int count = 3;
        byte[] matrix = new byte[count * stride];
        for (int r = 0; r < count; r++)
        {
            byte[] row = new byte[rowBytes];
            random.NextBytes(row);
            SanitizeScales(type, row);
            row.CopyTo(matrix, r * stride);
        }
        float[] output = new float[count];
        fixed (byte* weights = matrix)
        fixed (byte* activation = a)
        fixed (float* o = output)
            DotProducts.Rows(type, weights, stride, count, activation, n, o, 1);
        for (int r = 0; r < count; r++)
        {
            float scalar = DotProducts.Dot(type, matrix.AsSpan(r * stride, rowBytes), a, n, allowSimd: false);
            Assert.Equal(BitConverter.SingleToInt32Bits(scalar), BitConverter.SingleToInt32Bits(output[r]));
        }
    }

    [Fact]
    public void Arm64_runs_the_AdvSimd_kernels()
    {
        // scripts/test-arm64.sh runs these tests as arm64 code: there the SIMD side of every comparison is NEON.
        bool arm64 = System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture == System.Runtime.InteropServices.Architecture.Arm64;
        Assert.Equal(arm64, NeonDotProducts.IsSupported);
        Assert.Equal(arm64, NeonFloatDotProducts.IsSupported);
    }

    [Fact]
    public void Short_rows_are_rejected()
    {
        byte[] w = new byte[18], a = new byte[33];
        Assert.Throws<ArgumentException>(() => DotProducts.Dot(GgmlType.Q4_0, w, a, 32));
    }
}

public class Q8KActivationTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(7)]
    [InlineData(33)]
    public void Vector_Q8_K_quantizer_matches_the_reference_byte_for_byte(int blocks)
    {
        float[] x = TestRows.Random(256 * blocks, seed: 700 + blocks, scale: 2f);
        x[5] = -x.Max(MathF.Abs); // a tie in magnitude between signs: the first one must win
        x[9] = -x[5];
        if (blocks >= 3)
        {
            // Block 1's multiplier is exactly 1, with products on halves (ties round to even); block 2 is all zero.
            x[256] = -127f;
            x[257] = 2.5f;
            x[258] = -3.5f;
            Array.Fill(x, 0f, 512, 256);
        }
        var reference = new byte[292 * blocks];
        var vector = new byte[292 * blocks];
        KQuants.QuantizeQ8_K(x, reference);
        Q8KActivationQuantizer.Quantize(x, vector);
        Assert.Equal(reference, vector);
        var fourLanes = new byte[292 * blocks];
        Q8KActivationQuantizer.QuantizeFourLanes(x, fourLanes);
        Assert.Equal(reference, fourLanes);
    }
}

using Liaoyuan.Operators.Tensors;

namespace Liaoyuan.Operators.Tests.Quantization;

/// <summary>dequantize(quantize(x)) stays within each format's error budget.</summary>
public class RoundTripTests
{
    public static TheoryData<GgmlType, int> TypesAndBlockCounts()
    {
        var data = new TheoryData<GgmlType, int>();
        foreach (GgmlType type in new[] { GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q8_0,
                     GgmlType.Q8_1, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.Q8_K })
            foreach (int blocks in TestRows.BlockCounts)
                data.Add(type, blocks);
        return data;
    }

    [Theory]
    [MemberData(nameof(TypesAndBlockCounts))]
    public void Relative_rms_error_is_within_the_format_budget(GgmlType type, int blocks)
    {
        // Without outliers: one 40-sigma value coarsens its whole block, which is the format working as designed.
        float[] x = TestRows.Random(GgmlTypeInfo.BlockSize(type) * blocks, seed: 100 + blocks, withOutliers: false);
        float[] back = TestRows.Dequantize(type, TestRows.Quantize(type, x), x.Length);
        double error = 0, energy = 0;
        for (int i = 0; i < x.Length; i++)
        {
            error += (x[i] - back[i]) * (double)(x[i] - back[i]);
            energy += x[i] * (double)x[i];
        }
        double budget = type switch
        {
            GgmlType.Q4_0 => 0.20,
            GgmlType.Q4_1 => 0.15,
            GgmlType.Q5_0 => 0.10,
            GgmlType.Q5_1 => 0.08,
            GgmlType.Q4_K => 0.12,
            GgmlType.Q5_K => 0.06,
            GgmlType.Q6_K => 0.03,
            _ => 0.01, // the 8-bit formats
        };
        Assert.InRange(Math.Sqrt(error / energy), 0, budget);
    }

    [Theory]
    [MemberData(nameof(TypesAndBlockCounts))]
    public void Legacy_formats_keep_every_element_within_one_step(GgmlType type, int blocks)
    {
        if (GgmlTypeInfo.BlockSize(type) != 32)
            return;
        float[] x = TestRows.Random(32 * blocks, seed: 200 + blocks);
        float[] back = TestRows.Dequantize(type, TestRows.Quantize(type, x), x.Length);
        for (int block = 0; block < blocks; block++)
        {
            ArraySegment<float> xs = new(x, 32 * block, 32);
            float amax = xs.Max(MathF.Abs), min = xs.Min(), range = xs.Max() - min;
            // Half a step of rounding, plus the half-precision rounding of d (and m) on the largest level;
            // the symmetric 4/5-bit formats lose up to a whole step at the clamped end.
            double bound = type switch
            {
                GgmlType.Q4_0 => amax / 8 * 1.01,
                GgmlType.Q5_0 => amax / 16 * 1.01,
                GgmlType.Q4_1 => range / 15 * 0.51 + Math.Abs(min) / 1024,
                GgmlType.Q5_1 => range / 31 * 0.52 + Math.Abs(min) / 1024,
                _ => amax / 127 * 0.57,
            };
            for (int i = 0; i < 32; i++)
                Assert.True(Math.Abs(xs[i] - back[32 * block + i]) <= bound + 1e-6,
                    $"{type} block {block} element {i}: {xs[i]} -> {back[32 * block + i]} (bound {bound})");
        }
    }

    [Fact]
    public void Partial_blocks_are_rejected()
    {
        var x = new float[33];
        Assert.Throws<ArgumentException>(() =>
            Liaoyuan.Operators.Quantization.Quantizer.QuantizeRow(GgmlType.Q8_0, x, new byte[100]));
    }
}

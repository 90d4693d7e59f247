using Liaoyuan.Operators.Quantization;
using Liaoyuan.Operators.Tests.Quantization;
using Liaoyuan.Operators.Vectors;

namespace Liaoyuan.Operators.Tests.Vectors;

public class VectorMathTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(5)]
    [InlineData(32)]
    [InlineData(77)]
    [InlineData(1000)]
    public void Dot_matches_the_scalar_twin_and_the_exact_value(int n)
    {
        float[] x = TestRows.Random(n, seed: n), y = TestRows.Random(n, seed: n + 1);
        float dot = VectorMath.Dot(x, y);
        Assert.Equal(BitConverter.SingleToInt32Bits(FloatDotProducts.Scalar.F32(x, y)), BitConverter.SingleToInt32Bits(dot));
        double exact = 0, magnitude = 0;
        for (int i = 0; i < n; i++)
        {
            exact += (double)x[i] * y[i];
            magnitude += Math.Abs((double)x[i] * y[i]);
        }
        Assert.True(Math.Abs(dot - exact) <= 1e-6 * magnitude + 1e-30);
    }

    [Fact]
    public void Dot_sums_in_ggml_order_not_left_to_right()
    {
        // 1e8 followed by 31 ones: left to right every 1 vanishes (float spacing at 1e8 is 8). ggml keeps 32 lanes,
        // folds lanes l, l+8, l+16, l+24 (lane 0: 1e8 + 1 + 1 + 1 -> 1e8), then l and l+4 (1e8 + 4 ties to 1e8,
        // the others give 8), then (1e8 + 8) + (8 + 8) = 100000024, exactly representable.
        float[] x = Enumerable.Repeat(1f, 32).ToArray(), y = Enumerable.Repeat(1f, 32).ToArray();
        x[0] = 1e8f;
        Assert.Equal(100000024f, VectorMath.Dot(x, y));
    }

    [Fact]
    public void Axpy_scale_add_multiply_work_element_wise()
    {
        float[] x = TestRows.Random(37, seed: 3), y = TestRows.Random(37, seed: 4);
        float[] axpy = (float[])y.Clone();
        VectorMath.Axpy(0.5f, x, axpy);
        float[] scaled = (float[])x.Clone();
        VectorMath.Scale(scaled, -2f);
        float[] sum = new float[37], product = new float[37];
        VectorMath.Add(x, y, sum);
        VectorMath.Multiply(x, y, product);
        for (int i = 0; i < x.Length; i++)
        {
            Assert.Equal(MathF.FusedMultiplyAdd(x[i], 0.5f, y[i]), axpy[i]);
            Assert.Equal(x[i] * -2f, scaled[i]);
            Assert.Equal(x[i] + y[i], sum[i]);
            Assert.Equal(x[i] * y[i], product[i]);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(8)]
    [InlineData(29)]
    public void Max_finds_the_largest_element_anywhere(int n)
    {
        for (int position = 0; position < n; position++)
        {
            float[] x = Enumerable.Range(0, n).Select(i => -1f - i).ToArray();
            x[position] = 3f;
            Assert.Equal(3f, VectorMath.Max(x));
        }
    }

    [Fact]
    public void ExpAndSum_returns_the_softmax_denominator()
    {
        float[] x = [1f, 2f, 3f];
        float[] e = new float[3];
        double sum = VectorMath.ExpAndSum(x, 3f, e);
        Assert.Equal(MathF.Exp(-2f), e[0]);
        Assert.Equal(1f, e[2]);
        Assert.Equal((double)MathF.Exp(-2f) + MathF.Exp(-1f) + 1f, sum, 12);
    }

    [Fact]
    public void SumOfSquares_accumulates_in_double()
    {
        float[] x = [3f, 4f, 1e-4f];
        Assert.Equal(25.0 + (double)(1e-4f * 1e-4f), VectorMath.SumOfSquares(x));
    }

    [Fact]
    public void Mismatched_lengths_are_rejected()
    {
        Assert.Throws<ArgumentException>(() => VectorMath.Dot(new float[3], new float[4]));
        Assert.Throws<ArgumentException>(() => VectorMath.Axpy(1f, new float[3], new float[4]));
    }
}

using System.Runtime.Intrinsics;
using Liaoyuan.Operators.Vectors;

namespace Liaoyuan.Operators.Tests.Vectors;

public sealed class VectorExpTests
{
    [Fact]
    public void StaysWithinTwoUlpOfTheTrueValue()
    {
        var random = new Random(3);
        double worst = 0;
        for (int i = 0; i < 200_000; i++)
        {
            float x = (float)(random.NextDouble() * 175 - 87);
            float got = VectorExp.Exp(Vector256.Create(x)).ToScalar();
            double exact = Math.Exp(x);
            double ulp = MathF.BitIncrement((float)exact) - (float)exact;
            worst = Math.Max(worst, Math.Abs(got - exact) / ulp);
        }
        Assert.True(worst <= 2.0, $"worst error {worst} ulp");
    }

    [Fact]
    public void HandlesTheEnds()
    {
        var x = Vector256.Create(0f, float.NegativeInfinity, -100f, float.NaN, 1f, 89f, 88f, -87f);
        var e = VectorExp.Exp(x);
        Assert.Equal(1f, e[0]);
        Assert.Equal(0f, e[1]);
        Assert.Equal(0f, e[2]);
        Assert.True(float.IsNaN(e[3]));
        Assert.Equal(Math.E, e[4], 6);
        Assert.Equal(float.PositiveInfinity, e[5]);
        Assert.True(float.IsFinite(e[6]) && e[6] > 1e38f);
        Assert.True(e[7] > 0);
    }

    [Fact]
    public void ExpAndSumCoversTailsAndMatchesTheElements()
    {
        var values = Enumerable.Range(0, 19).Select(i => (float)(-0.37 * i)).ToArray();
        float[] original = (float[])values.Clone();
        double sum = VectorExp.ExpAndSum(values, 0.5f);
        double expected = 0;
        for (int i = 0; i < values.Length; i++)
        {
            Assert.Equal(Math.Exp(original[i] - 0.5f), values[i], 1e-6 * Math.Exp(original[i] - 0.5f));
            expected += values[i];
        }
        Assert.Equal(expected, sum, 12);
    }
}

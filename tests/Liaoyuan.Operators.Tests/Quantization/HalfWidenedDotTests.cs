using Liaoyuan.Operators.Quantization;

namespace Liaoyuan.Operators.Tests.Quantization;

public sealed class HalfWidenedDotTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(31)]
    [InlineData(32)]
    [InlineData(77)]
    [InlineData(896)]
    [InlineData(4864)]
    public void WideningTheActivationOnceGivesTheSameBitsAsTheHalfDot(int n)
    {
        float[] weights = TestRows.Random(n, seed: n), activations = TestRows.Random(n, seed: n + 7);
        var w16 = weights.Select(Float16.FromSingle).ToArray();
        var a16 = activations.Select(Float16.FromSingle).ToArray();
        var aWidened = a16.Select(Float16.ToSingle).ToArray();

        float expected = FloatDotProducts.F16(w16, a16);
        float actual = FloatDotProducts.F16ByWidened(w16, aWidened);

        Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(actual));
        double exact = 0;
        for (int i = 0; i < n; i++) exact += (double)Float16.ToSingle(w16[i]) * aWidened[i];
        Assert.True(Math.Abs(actual - exact) <= 1e-4 * Math.Max(1, Math.Abs(exact)), $"{actual} vs exact {exact}");
    }
}

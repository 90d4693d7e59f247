using System.Runtime.Intrinsics;
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

public sealed class HalfScaledDotTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(31)]
    [InlineData(64)]
    [InlineData(77)]
    [InlineData(4864)]
    public void ReadingHalfBitsAgainstScaledActivationsGivesTheSameBitsAsTheHalfDot(int n)
    {
        float[] weights = TestRows.Random(n, seed: n), activations = TestRows.Random(n, seed: n + 11, scale: 300f);
        var w16 = weights.Select(Float16.FromSingle).ToArray();
        // Every kind of half the weights may hold: subnormals of both signs, signed zeros, the largest finite.
        ushort[] awkward = [0x0001, 0x8001, 0x03FF, 0x83FF, 0x0000, 0x8000, 0x7BFF, 0xFBFF, 0x0400, 0x8400];
        for (int i = 0; i < Math.Min(n, awkward.Length); i++) w16[(i * 7) % n] = awkward[i];
        var a16 = activations.Select(Float16.FromSingle).ToArray();
        var scaled = a16.Select(h => Float16.ToSingle(h) * FloatDotProducts.HalfBitsScale).ToArray();

        float expected = FloatDotProducts.F16(w16, a16);
        float actual = FloatDotProducts.F16ByScaled(w16, scaled);

        Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(actual));
    }
}

public sealed class HalfRoundingTests
{
    [Fact]
    public void VectorRoundingOfNonNegativeValuesMatchesTheHalfConversion()
    {
        var random = new Random(5);
        var values = new List<float> { 0f, 1f, 65504f, 6.10351562e-05f, 6.09755516e-05f, 5.96046448e-08f, 2.98023224e-08f, 2.98023259e-08f, 1e-10f, float.PositiveInfinity };
        for (int i = 0; i < 20000; i++)
        {
            // Uniform in [0, 1], and log-uniform down to 2^-30 so subnormal halves and the boundary get their share.
            values.Add((float)random.NextDouble());
            values.Add(MathF.Pow(2, -30 * (float)random.NextDouble()));
            values.Add(BitConverter.Int32BitsToSingle(random.Next(0, 0x477FE000)));
        }
        for (int i = 0; i + 8 <= values.Count; i += 8)
        {
            var rounded = Float16.RoundNonNegative(Vector256.Create(values.ToArray(), i));
            for (int k = 0; k < 8; k++)
            {
                float expected = (float)(Half)values[i + k];
                Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(rounded[k]),
                    $"{values[i + k]:R}: {rounded[k]:R} vs (Half) {expected:R}");
            }
        }
        Assert.True(float.IsNaN(Float16.RoundNonNegative(Vector256.Create(float.NaN))[0]));
    }

    [Fact]
    public void VectorRoundingOfAnyFloatMatchesTheHalfConversion()
    {
        var random = new Random(6);
        var values = new List<float> { -0f, 65504f, -65504f, 65519.99f, 65520f, -65520f, 1e10f, float.NegativeInfinity, float.MaxValue, -5.96046448e-08f, -2.98023224e-08f };
        for (int i = 0; i < 30000; i++)
            values.Add(BitConverter.Int32BitsToSingle(random.Next(int.MinValue, int.MaxValue) & ~0x7F800000 | (random.Next(90, 160) << 23)));
        while (values.Count % 8 != 0) values.Add(1f);
        for (int i = 0; i < values.Count; i += 8)
        {
            var rounded = Float16.Round(Vector256.Create(values.ToArray(), i));
            for (int k = 0; k < 8; k++)
            {
                float expected = (float)(Half)values[i + k];
                Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(rounded[k]),
                    $"{values[i + k]:R}: {rounded[k]:R} vs (Half) {expected:R}");
            }
        }
    }
}

public sealed class FourKeyDotTests
{
    [Theory]
    [InlineData(32, 32)]
    [InlineData(64, 128)]
    [InlineData(128, 160)]
    public unsafe void FourKeysAtOnceGiveEachKeysBits(int dim, int stride)
    {
        float[] query = TestRows.Random(dim, seed: 1).Select(v => (float)(Half)v).ToArray();
        float[] keys = TestRows.Random(4 * stride, seed: 2).Select(v => (float)(Half)v).ToArray();
        fixed (float* q = query)
        fixed (float* k = keys)
        {
            var four = FloatDotProducts.WidenedF16x4(q, k, stride, dim);
            for (int j = 0; j < 4; j++)
            {
                float expected = FloatDotProducts.WidenedF16(query, keys.AsSpan(j * stride, dim));
                Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(four[j]));
            }
        }
    }
}

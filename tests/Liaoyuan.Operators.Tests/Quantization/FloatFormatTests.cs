using System.Runtime.Intrinsics;
using Liaoyuan.Operators.Quantization;
using Liaoyuan.Operators.Tensors;

namespace Liaoyuan.Operators.Tests.Quantization;

public class FloatFormatTests
{
    [Theory]
    [InlineData(1.0f, (ushort)0x3C00)]
    [InlineData(-2.0f, (ushort)0xC000)]
    [InlineData(65504f, (ushort)0x7BFF)]
    [InlineData(1e6f, (ushort)0x7C00)]            // overflow to infinity
    [InlineData(5.9604645e-8f, (ushort)0x0001)]   // smallest subnormal
    [InlineData(1.00048828125f, (ushort)0x3C00)]  // 1 + 2^-11: tie, rounds to even (down)
    [InlineData(1.00146484375f, (ushort)0x3C02)]  // 1 + 3 * 2^-11: tie, rounds to even (up)
    public void Float16_narrowing_rounds_to_nearest_even(float value, ushort expected) =>
        Assert.Equal(expected, Float16.FromSingle(value));

    [Fact]
    public void Float16_vector_widening_matches_scalar_for_every_bit_pattern()
    {
        for (int start = 0; start < 1 << 16; start += 8)
        {
            Vector256<uint> bits = Vector256.Create(Enumerable.Range(start, 8).Select(b => (uint)b).ToArray());
            Vector256<float> wide = Float16.Widen(bits);
            for (int lane = 0; lane < 8; lane++)
            {
                float expected = Float16.ToSingle((ushort)(start + lane));
                if (float.IsNaN(expected))
                    Assert.True(float.IsNaN(wide[lane]));
                else
                    Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(wide[lane]));
            }
        }
    }

    [Fact]
    public void Float16_four_lane_widening_matches_scalar_for_every_bit_pattern()
    {
        // The NEON kernels' widening (portable 4-lane code, so it runs and is checked on every machine).
        for (int start = 0; start < 1 << 16; start += 4)
        {
            Vector128<float> wide = NeonFloatDotProducts.WidenHalves(Vector128.Create((uint)start, (uint)start + 1, (uint)start + 2, (uint)start + 3));
            for (int lane = 0; lane < 4; lane++)
            {
                float expected = Float16.ToSingle((ushort)(start + lane));
                if (float.IsNaN(expected))
                    Assert.True(float.IsNaN(wide[lane]));
                else
                    Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(wide[lane]));
            }
        }
    }

    [Theory]
    [InlineData(1.0f, (ushort)0x3F80)]
    [InlineData(1.00390625f, (ushort)0x3F80)]  // 1 + 2^-8: tie, stays on the even mantissa
    [InlineData(1.01171875f, (ushort)0x3F82)]  // 1 + 3 * 2^-8: tie, goes up to the even mantissa
    [InlineData(1.0039064f, (ushort)0x3F81)]   // one float above the tie
    [InlineData(-3.4028235e38f, (ushort)0xFF80)] // rounds up into infinity, as ggml's bit trick does
    public void BFloat16_narrowing_rounds_to_nearest_even(float value, ushort expected) =>
        Assert.Equal(expected, BFloat16.FromSingle(value));

    [Fact]
    public void BFloat16_keeps_NaN_and_makes_it_quiet()
    {
        float signalling = BitConverter.UInt32BitsToSingle(0xFF800001u);
        Assert.Equal((ushort)0xFFC0, BFloat16.FromSingle(signalling));
        Assert.Equal((ushort)0x7FC0, BFloat16.FromSingle(BitConverter.UInt32BitsToSingle(0x7F800001u)));
    }

    [Theory]
    [InlineData(GgmlType.F16)]
    [InlineData(GgmlType.BF16)]
    [InlineData(GgmlType.F32)]
    public void Float_rows_round_trip_within_their_precision(GgmlType type)
    {
        float[] x = TestRows.Random(77, seed: 5);
        float[] back = TestRows.Dequantize(type, TestRows.Quantize(type, x), x.Length);
        double relative = type switch { GgmlType.F32 => 0, GgmlType.F16 => 1.0 / 2048, _ => 1.0 / 256 };
        for (int i = 0; i < x.Length; i++)
            Assert.True(Math.Abs(x[i] - back[i]) <= Math.Abs(x[i]) * relative + 6e-8, $"element {i}: {x[i]} -> {back[i]}");
    }

    [Fact]
    public void Float_rows_of_every_length_widen_like_the_scalar_conversion()
    {
        float[] x = TestRows.Random(45, seed: 6);
        byte[] halves = TestRows.Quantize(GgmlType.F16, x);
        float[] back = TestRows.Dequantize(GgmlType.F16, halves, x.Length);
        for (int i = 0; i < x.Length; i++)
            Assert.Equal(Float16.ToSingle(BitConverter.ToUInt16(halves, 2 * i)), back[i]);
    }
}

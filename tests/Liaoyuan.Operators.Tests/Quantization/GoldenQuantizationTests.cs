using Liaoyuan.Operators.Tensors;

namespace Liaoyuan.Operators.Tests.Quantization;

/// <summary>
/// Bytes worked out by hand from ggml's reference quantizers (ggml-quants.c), for inputs simple enough to
/// follow every rounding step. Each comment gives the derivation.
/// </summary>
public class GoldenQuantizationTests
{
    private static float[] Ramp(int offset) => Enumerable.Range(0, 32).Select(j => (float)(j + offset)).ToArray();

    [Fact]
    public void Q4_0_of_a_ramp()
    {
        // x = j - 16: the first largest magnitude is -16, so d = -16 / -8 = 2, id = 0.5 and
        // q = min(15, trunc((j - 16) * 0.5 + 8.5)) = (j + 1) / 2, clamped at 15.
        byte[] expected = [0x00, 0x40, 0x80, 0x91, 0x91, 0xA2, 0xA2, 0xB3, 0xB3, 0xC4, 0xC4, 0xD5, 0xD5, 0xE6, 0xE6, 0xF7, 0xF7, 0xF8];
        Assert.Equal(expected, TestRows.Quantize(GgmlType.Q4_0, Ramp(-16)));
    }

    [Fact]
    public void Q4_1_of_a_ramp()
    {
        // x = j: min 0, max 31, d = 31 / 15 -> half 0x4022; q = trunc(j * 15 / 31 + 0.5), never near a tie.
        byte[] expected = [0x22, 0x40, 0x00, 0x00, 0x80, 0x80, 0x91, 0x91, 0xA2, 0xA2, 0xB3, 0xB3, 0xC4, 0xC4, 0xD5, 0xD5, 0xE6, 0xE6, 0xF7, 0xF7];
        Assert.Equal(expected, TestRows.Quantize(GgmlType.Q4_1, Ramp(0)));
    }

    [Fact]
    public void Q5_0_of_a_ramp()
    {
        // x = j - 16: d = -16 / -16 = 1, q = j; elements 16..31 carry the fifth bit (qh = 0xFFFF0000).
        byte[] block = TestRows.Quantize(GgmlType.Q5_0, Ramp(-16));
        Assert.Equal(new byte[] { 0x00, 0x3C, 0x00, 0x00, 0xFF, 0xFF }, block[..6]);
        Assert.Equal(Enumerable.Range(0, 16).Select(j => (byte)(j | (j << 4))), block[6..]);
    }

    [Fact]
    public void Q5_1_of_a_ramp()
    {
        // x = j: d = 31 / 31 = 1, m = 0, q = j.
        byte[] block = TestRows.Quantize(GgmlType.Q5_1, Ramp(0));
        Assert.Equal(new byte[] { 0x00, 0x3C, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF }, block[..8]);
        Assert.Equal(Enumerable.Range(0, 16).Select(j => (byte)(j | (j << 4))), block[8..]);
    }

    [Fact]
    public void Q8_0_weights_round_ties_away_from_zero_but_activations_round_them_to_even()
    {
        // amax = 127, so d = 1 and both multipliers are exactly 1: 0.5 and -2.5 are ties.
        var x = new float[32];
        x[0] = 127f; x[1] = 0.5f; x[2] = -2.5f; x[3] = 1.5f;
        byte[] weights = TestRows.Quantize(GgmlType.Q8_0, x);
        byte[] activations = TestRows.QuantizeActivations(GgmlType.Q8_0, x);
        Assert.Equal(new byte[] { 0x00, 0x3C, 127, 1, unchecked((byte)-3), 2 }, weights[..6]);
        Assert.Equal(new byte[] { 0x00, 0x3C, 127, 0, unchecked((byte)-2), 2 }, activations[..6]);
    }

    [Fact]
    public void Q8_1_activations_store_the_scaled_sum_of_the_rounded_quants()
    {
        var x = new float[32];
        x[0] = 127f; x[1] = 0.5f; x[2] = -2.5f;
        byte[] block = TestRows.QuantizeActivations(GgmlType.Q8_1, x);
        // quants 127, 0, -2 -> sum 125, d = 1 -> s = 125 = half 0x57D0.
        Assert.Equal(new byte[] { 0x00, 0x3C, 0xD0, 0x57, 127, 0, unchecked((byte)-2) }, block[..7]);
    }

    [Fact]
    public void Q4_K_of_a_constant_super_block()
    {
        // Every sub-block: min clamps to 0, scale = 1 with all levels 15 and zero error; the search never
        // finds a positive determinant. Scales quantize to 63, mins to 0; d = half(1/63) = 0x2410,
        // the sub-block scale 63 * d = 4095/4096 re-quantizes 15 to 15 again.
        float[] x = Enumerable.Repeat(15f, 256).ToArray();
        byte[] block = TestRows.Quantize(GgmlType.Q4_K, x);
        Assert.Equal(new byte[] { 0x10, 0x24, 0x00, 0x00 }, block[..4]);
        Assert.Equal(new byte[] { 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0x0F, 0x0F, 0x0F, 0x0F }, block[4..16]);
        Assert.All(block[16..], b => Assert.Equal(0xFF, b));
        Assert.All(TestRows.Dequantize(GgmlType.Q4_K, block, 256), v => Assert.Equal(14.996337890625f, v));
    }

    [Fact]
    public void Q5_K_of_a_constant_super_block()
    {
        // As for Q4_K with 31 levels: all levels 31, so every qh bit is set and every nibble is 15.
        float[] x = Enumerable.Repeat(31f, 256).ToArray();
        byte[] block = TestRows.Quantize(GgmlType.Q5_K, x);
        Assert.Equal(new byte[] { 0x10, 0x24, 0x00, 0x00 }, block[..4]);
        Assert.Equal(new byte[] { 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0x0F, 0x0F, 0x0F, 0x0F }, block[4..16]);
        Assert.All(block[16..], b => Assert.Equal(0xFF, b));
    }

    [Fact]
    public void Q6_K_of_a_constant_super_block()
    {
        // Each 16-group: iscale = -32, every level -32 (stored 0), scale -1/32; the 18 alternative scales only
        // tie with it, never beat it. iscale = -128 / (-1/32) = 4096, d = half(2^-12) = 0x0C00,
        // every sub-block scale = -128, and 1 / (2^-12 * -128) re-quantizes to -32 again.
        float[] x = Enumerable.Repeat(1f, 256).ToArray();
        byte[] block = TestRows.Quantize(GgmlType.Q6_K, x);
        Assert.All(block[..192], b => Assert.Equal(0, b));
        Assert.All(block[192..208], b => Assert.Equal(0x80, b));
        Assert.Equal(new byte[] { 0x00, 0x0C }, block[208..]);
        Assert.All(TestRows.Dequantize(GgmlType.Q6_K, block, 256), v => Assert.Equal(1f, v));
    }

    [Fact]
    public void Q8_K_rounds_ties_to_even_and_sums_groups_of_sixteen()
    {
        // max = -2 gives iscale = 63.5: -2 -> -127, 1 -> 63.5 -> 64 (even).
        float[] x = Enumerable.Repeat(1f, 256).ToArray();
        x[0] = -2f;
        byte[] block = TestRows.QuantizeActivations(GgmlType.Q8_K, x);
        Assert.Equal(1f / 63.5f, BitConverter.ToSingle(block, 0));
        Assert.Equal(unchecked((byte)-127), block[4]);
        Assert.All(block[5..260], b => Assert.Equal(64, b));
        Assert.Equal(-127 + 15 * 64, BitConverter.ToInt16(block, 260));
        Assert.Equal(16 * 64, BitConverter.ToInt16(block, 262));
    }

    [Theory]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.Q4_1)]
    [InlineData(GgmlType.Q5_0)]
    [InlineData(GgmlType.Q5_1)]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_K)]
    [InlineData(GgmlType.Q5_K)]
    [InlineData(GgmlType.Q6_K)]
    [InlineData(GgmlType.Q8_K)]
    public void Zeros_quantize_to_zeros(GgmlType type)
    {
        var x = new float[GgmlTypeInfo.BlockSize(type) * 2];
        byte[] bytes = TestRows.Quantize(type, x);
        Assert.All(TestRows.Dequantize(type, bytes, x.Length), v => Assert.Equal(0f, v));
    }
}

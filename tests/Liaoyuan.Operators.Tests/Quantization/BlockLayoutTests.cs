using Liaoyuan.Operators.Quantization;
using Liaoyuan.Operators.Tensors;

namespace Liaoyuan.Operators.Tests.Quantization;

/// <summary>Hand-built blocks with known contents decode to hand-computed floats, pinning each byte layout.</summary>
public class BlockLayoutTests
{
    private static float[] Decode(GgmlType type, byte[] block) =>
        TestRows.Dequantize(type, block, GgmlTypeInfo.BlockSize(type));

    [Fact]
    public void Q4_0_low_nibbles_are_the_first_half_and_high_nibbles_the_second()
    {
        var block = new byte[18];
        block[0] = 0x00; block[1] = 0x38;           // d = 0.5
        block[2] = 0x9F;                            // element 0: 15 - 8 = 7, element 16: 9 - 8 = 1
        block[17] = 0x01;                           // element 15: 1 - 8 = -7, element 31: 0 - 8 = -8
        float[] y = Decode(GgmlType.Q4_0, block);
        Assert.Equal(3.5f, y[0]);
        Assert.Equal(0.5f, y[16]);
        Assert.Equal(-3.5f, y[15]);
        Assert.Equal(-4f, y[31]);
        Assert.Equal(-4f, y[1]);                    // zero byte: 0 - 8
    }

    [Fact]
    public void Q4_1_adds_the_minimum()
    {
        var block = new byte[20];
        block[0] = 0x00; block[1] = 0x40;           // d = 2
        block[2] = 0x00; block[3] = 0xBC;           // m = -1
        block[4] = 0x3F;                            // element 0: 15, element 16: 3
        float[] y = Decode(GgmlType.Q4_1, block);
        Assert.Equal(29f, y[0]);
        Assert.Equal(5f, y[16]);
        Assert.Equal(-1f, y[1]);
    }

    [Fact]
    public void Q5_0_takes_the_fifth_bit_of_element_j_from_bit_j_of_qh()
    {
        var block = new byte[22];
        block[0] = 0x00; block[1] = 0x3C;           // d = 1
        block[2] = 0x01;                            // qh bit 0: element 0 has its fifth bit
        block[5] = 0x80;                            // qh bit 31: element 31 has its fifth bit
        block[6] = 0x02;                            // element 0 low nibble 2, element 16 nibble 0
        block[21] = 0xF0;                           // element 31 nibble 15, element 15 nibble 0
        float[] y = Decode(GgmlType.Q5_0, block);
        Assert.Equal(18f - 16f, y[0]);
        Assert.Equal(-16f, y[16]);
        Assert.Equal(31f - 16f, y[31]);
        Assert.Equal(-16f, y[15]);
    }

    [Fact]
    public void Q5_1_places_qh_after_d_and_m()
    {
        var block = new byte[24];
        block[0] = 0x00; block[1] = 0x3C;           // d = 1
        block[2] = 0x00; block[3] = 0x40;           // m = 2
        block[4] = 0x00; block[5] = 0x00; block[6] = 0x01; // qh bit 16: element 16
        block[8] = 0x50;                            // element 0: 0, element 16: 5 | 16
        float[] y = Decode(GgmlType.Q5_1, block);
        Assert.Equal(2f, y[0]);
        Assert.Equal(21f + 2f, y[16]);
    }

    [Fact]
    public void Q8_0_and_Q8_1_store_signed_bytes_after_their_header()
    {
        var q80 = new byte[34];
        q80[0] = 0x00; q80[1] = 0x34;               // d = 0.25
        q80[2] = 0x80; q80[33] = 0x7F;              // -128 and 127
        float[] y0 = Decode(GgmlType.Q8_0, q80);
        Assert.Equal(-32f, y0[0]);
        Assert.Equal(31.75f, y0[31]);

        var q81 = new byte[36];
        q81[0] = 0x00; q81[1] = 0x34;               // d = 0.25, s ignored by dequantization
        q81[2] = 0xFF; q81[3] = 0x7F;
        q81[4] = 0xFC;                              // -4
        float[] y1 = Decode(GgmlType.Q8_1, q81);
        Assert.Equal(-1f, y1[0]);
    }

    [Fact]
    public void Q4_K_unpacks_six_bit_scales_and_mins_and_orders_nibbles_by_64_element_chunks()
    {
        var block = new byte[144];
        block[0] = 0x00; block[1] = 0x3C;           // d = 1
        block[2] = 0x00; block[3] = 0x38;           // dmin = 0.5
        block[4] = 2;                               // sub-block 0 scale 2
        block[8] = 4;                               // sub-block 0 min 4
        block[5] = 0x40 | 3;                        // sub-block 1 scale 3; top bits (1) of sub-block 5's scale
        block[9] = 0x80 | 1;                        // sub-block 1 min 1; top bits (2) of sub-block 5's min
        block[13] = 0x21;                           // sub-block 5: scale low 1, min low 2 -> scale 17, min 34
        block[16] = 0x57;                           // element 0 = 7, element 32 = 5
        block[16 + 64 + 3] = 0xA0;                  // chunk 2, l = 3: element 131 = 0, element 163 = 10
        float[] y = Decode(GgmlType.Q4_K, block);
        Assert.Equal(2f * 7 - 0.5f * 4, y[0]);
        Assert.Equal(3f * 5 - 0.5f * 1, y[32]);
        Assert.Equal(-0.5f * 4, y[1]);
        Assert.Equal(17f * 10 - 0.5f * 34, y[163]);
        Assert.Equal(0f, y[131]);                   // sub-block 4 has scale 0 and min 0
    }

    [Fact]
    public void Q5_K_takes_bit_2c_and_2c_plus_1_of_qh_for_chunk_c()
    {
        var block = new byte[176];
        block[0] = 0x00; block[1] = 0x3C;           // d = 1, dmin = 0
        for (int j = 0; j < 4; j++) block[4 + j] = 1;   // sub-blocks 0..3 scale 1
        block[12] = 0x01; block[13] = 0x01;         // sub-blocks 4, 5 scale 1
        block[16 + 0] = 0b0000_0010;                // qh[0]: bit 1 -> element 32 gets 16
        block[16 + 7] = 0b0000_0100;                // qh[7]: bit 2 -> element 64 + 7 gets 16
        block[48 + 0] = 0x3F;                       // element 0 = 15, element 32 = 3 + 16
        block[48 + 32 + 7] = 0x01;                  // element 71 = 1 + 16
        float[] y = Decode(GgmlType.Q5_K, block);
        Assert.Equal(15f, y[0]);
        Assert.Equal(19f, y[32]);
        Assert.Equal(17f, y[71]);
        Assert.Equal(0f, y[7]);
    }

    [Fact]
    public void Q6_K_splits_each_half_into_low_nibbles_two_bit_highs_and_signed_scales()
    {
        var block = new byte[210];
        block[208] = 0x00; block[209] = 0x38;       // d = 0.5
        for (int j = 0; j < 16; j++) block[192 + j] = (byte)(j + 1);
        block[192 + 15] = unchecked((byte)-2);      // last sub-block scale -2
        block[0] = 0x21;                            // element 0 low 1, element 64 low 2
        block[32] = 0x43;                           // element 32 low 3, element 96 low 4
        block[128] = 0b11_10_01_00;                 // highs: element 0 -> 0, 32 -> 1, 64 -> 2, 96 -> 3
        block[64 + 32 + 31] = 0xF0;                 // second half, l = 31: element 255 low 15
        block[128 + 32 + 31] = 0b11_00_00_00;       // element 255 high 3 -> 63
        float[] y = Decode(GgmlType.Q6_K, block);
        Assert.Equal(0.5f * 1 * (1 - 32), y[0]);
        Assert.Equal(0.5f * 3 * (3 + 16 - 32), y[32]);
        Assert.Equal(0.5f * 5 * (2 + 32 - 32), y[64]);
        Assert.Equal(0.5f * 7 * (4 + 48 - 32), y[96]);
        Assert.Equal(0.5f * -2 * (63 - 32), y[255]);
    }

    [Fact]
    public void Q8_K_stores_a_float_scale_then_quants_then_group_sums()
    {
        var block = new byte[292];
        BitConverter.GetBytes(0.125f).CopyTo(block, 0);
        block[4] = 0x10; block[259] = 0xF0;         // 16 and -16
        float[] y = Decode(GgmlType.Q8_K, block);
        Assert.Equal(2f, y[0]);
        Assert.Equal(-2f, y[255]);
    }

    [Theory]
    [InlineData(GgmlType.Q4_0, 18)]
    [InlineData(GgmlType.Q4_1, 20)]
    [InlineData(GgmlType.Q5_0, 22)]
    [InlineData(GgmlType.Q5_1, 24)]
    [InlineData(GgmlType.Q8_0, 34)]
    [InlineData(GgmlType.Q8_1, 36)]
    [InlineData(GgmlType.Q4_K, 144)]
    [InlineData(GgmlType.Q5_K, 176)]
    [InlineData(GgmlType.Q6_K, 210)]
    [InlineData(GgmlType.Q8_K, 292)]
    public void Block_sizes_match_ggml(GgmlType type, int bytes) => Assert.Equal(bytes, GgmlTypeInfo.TypeSize(type));
}

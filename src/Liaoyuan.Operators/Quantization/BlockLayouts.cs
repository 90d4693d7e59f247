namespace Liaoyuan.Operators.Quantization;

// Byte layouts of ggml's quantized blocks (ggml-common.h), all little-endian, no padding.
// Halves ("f16") are IEEE binary16. Each class names the offset of every field inside one block.

/// <summary>Q4_0: 32 weights, x = d * (q - 8). qs[j] holds element j in its low nibble and j + 16 in its high nibble.</summary>
internal static class Q4_0Layout
{
    public const int Elements = 32, Bytes = 18, Scale = 0, Quants = 2;
}

/// <summary>Q4_1: 32 weights, x = d * q + m, nibbles as in Q4_0.</summary>
internal static class Q4_1Layout
{
    public const int Elements = 32, Bytes = 20, Scale = 0, Min = 2, Quants = 4;
}

/// <summary>Q5_0: 32 weights, x = d * (q - 16); the fifth bit of element j is bit j of the 32-bit qh.</summary>
internal static class Q5_0Layout
{
    public const int Elements = 32, Bytes = 22, Scale = 0, HighBits = 2, Quants = 6;
}

/// <summary>Q5_1: 32 weights, x = d * q + m, bits as in Q5_0.</summary>
internal static class Q5_1Layout
{
    public const int Elements = 32, Bytes = 24, Scale = 0, Min = 2, HighBits = 4, Quants = 8;
}

/// <summary>Q8_0: 32 values, x = d * q with signed bytes.</summary>
internal static class Q8_0Layout
{
    public const int Elements = 32, Bytes = 34, Scale = 0, Quants = 2;
}

/// <summary>Q8_1: as Q8_0 plus s = d * sum(q), which lets the Q4_1/Q5_1 dot fold in the weight minimum.</summary>
internal static class Q8_1Layout
{
    public const int Elements = 32, Bytes = 36, Scale = 0, ScaledSum = 2, Quants = 4;
}

/// <summary>
/// Q4_K: 256 weights in 8 sub-blocks of 32; x = d * sc[j] * q - dmin * m[j], with 6-bit sc/m packed in 12 bytes.
/// qs holds 4 chunks of 32 bytes; chunk c carries sub-block 2c in low nibbles and 2c + 1 in high nibbles.
/// </summary>
internal static class Q4_KLayout
{
    public const int Elements = 256, Bytes = 144, Scale = 0, MinScale = 2, SubScales = 4, Quants = 16;
}

/// <summary>Q5_K: Q4_K plus qh[32]; bit 2c of qh[l] is the fifth bit of element 64c + l, bit 2c + 1 that of 64c + 32 + l.</summary>
internal static class Q5_KLayout
{
    public const int Elements = 256, Bytes = 176, Scale = 0, MinScale = 2, SubScales = 4, HighBits = 16, Quants = 48;
}

/// <summary>
/// Q6_K: 256 weights in 16 sub-blocks of 16; x = d * sc[j] * (q - 32), signed 8-bit sc.
/// Per half (128 elements): ql[64] low nibbles, qh[32] two-bit high parts, in the order described in <see cref="KQuants"/>.
/// </summary>
internal static class Q6_KLayout
{
    public const int Elements = 256, Bytes = 210, LowBits = 0, HighBits = 128, SubScales = 192, Scale = 208;
}

/// <summary>Q8_K: 256 activations, x = d * q with a float d and the 16 sums of each run of 16 quants.</summary>
internal static class Q8_KLayout
{
    public const int Elements = 256, Bytes = 292, Scale = 0, Quants = 4, GroupSums = 260;
}

using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;

namespace Liaoyuan.Operators.Quantization;

/// <summary>
/// ARM64 AdvSimd (NEON) kernels for the quantized dot products, with the lane arithmetic of
/// <see cref="ScalarDotProducts"/> and so of the AVX2 kernels: ggml's eight float lanes live in two 4-lane
/// registers, and lane = (element mod 32) / 4 is exactly what SDOT computes (four adjacent byte products summed
/// into each 32-bit lane), so each block costs two SDOTs, two conversions and two fused multiply-adds per 32
/// elements, and the result has the scalar kernel's bits. Callers must check <see cref="IsSupported"/>.
/// </summary>
/// <remarks>
/// The byte products here are exact. AVX2's sign trick (|x| · sign(y, x), which the scalar reference mirrors)
/// differs from an exact product only for an activation quant of −128 against a negative weight, and the
/// activation quantizers never write −128 (d = amax / 127), so the paths agree on every row the engine makes.
/// Without the dotprod extension (before Armv8.2) the same lanes come from widening multiplies and pairwise adds.
/// </remarks>
internal static partial class NeonDotProducts
{
    public static bool IsSupported => AdvSimd.Arm64.IsSupported;

    /// <summary>Each int lane of <paramref name="acc"/> plus the sum of its four adjacent byte products.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<int> DotAdd(Vector128<int> acc, Vector128<sbyte> x, Vector128<sbyte> y)
    {
        if (Dp.IsSupported)
            return Dp.DotProduct(acc, x, y);
        Vector128<short> low = AdvSimd.MultiplyWideningLower(x.GetLower(), y.GetLower());
        Vector128<short> high = AdvSimd.MultiplyWideningUpper(x, y);
        return acc + AdvSimd.Arm64.AddPairwise(AdvSimd.AddPairwiseWidening(low), AdvSimd.AddPairwiseWidening(high));
    }

    /// <summary>ggml's hsum_float_8 over lanes 0–3 (<paramref name="low"/>) and 4–7 (<paramref name="high"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float SumLanes(Vector128<float> low, Vector128<float> high)
    {
        Vector128<float> folded = low + high;
        return (folded[0] + folded[2]) + (folded[1] + folded[3]);
    }

    /// <summary>One 32-element block: lanes 0–3 from elements 0–15, lanes 4–7 from 16–31, each scaled by <paramref name="d"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddBlock(ref Vector128<float> low, ref Vector128<float> high, float d,
        Vector128<sbyte> x0, Vector128<sbyte> x1, Vector128<sbyte> y0, Vector128<sbyte> y1)
    {
        Vector128<float> scale = Vector128.Create(d);
        low = Vector128.FusedMultiplyAdd(scale, Vector128.ConvertToSingle(DotAdd(Vector128<int>.Zero, x0, y0)), low);
        high = Vector128.FusedMultiplyAdd(scale, Vector128.ConvertToSingle(DotAdd(Vector128<int>.Zero, x1, y1)), high);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<byte> Load16(ref byte source, int offset) => Vector128.LoadUnsafe(ref source, (nuint)offset);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float Half(ref byte source, int offset) =>
        Float16.ToSingle(Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref source, offset)));

    /// <summary>16 bits to 16 bytes: 0xFF where the bit is set (bit i → byte i).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<byte> BitsToBytes(uint bits)
    {
        Vector128<byte> spread = AdvSimd.Arm64.VectorTableLookup(Vector128.CreateScalar(bits).AsByte(),
            Vector128.Create((byte)0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));
        return AdvSimd.CompareTest(spread, Vector128.Create((byte)1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128));
    }

    public static float Q8_0(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n)
    {
        ref byte x = ref MemoryMarshal.GetReference(weights);
        ref byte y = ref MemoryMarshal.GetReference(activations);
        Vector128<float> low = default, high = default;
        for (int block = 0, o = 0; block < n / 32; block++, o += Q8_0Layout.Bytes)
        {
            int q = o + Q8_0Layout.Quants;
            AddBlock(ref low, ref high, Half(ref x, o) * Half(ref y, o),
                Load16(ref x, q).AsSByte(), Load16(ref x, q + 16).AsSByte(), Load16(ref y, q).AsSByte(), Load16(ref y, q + 16).AsSByte());
        }
        return SumLanes(low, high);
    }

    public static float Q4_0(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n)
    {
        ref byte x = ref MemoryMarshal.GetReference(weights);
        ref byte y = ref MemoryMarshal.GetReference(activations);
        Vector128<float> low = default, high = default;
        Vector128<byte> nibble = Vector128.Create((byte)0x0F), eight = Vector128.Create((byte)8);
        for (int block = 0, xo = 0, yo = 0; block < n / 32; block++, xo += Q4_0Layout.Bytes, yo += Q8_0Layout.Bytes)
        {
            Vector128<byte> packed = Load16(ref x, xo + Q4_0Layout.Quants);
            int q = yo + Q8_0Layout.Quants;
            AddBlock(ref low, ref high, Half(ref x, xo) * Half(ref y, yo),
                ((packed & nibble) - eight).AsSByte(), ((packed >>> 4) - eight).AsSByte(),
                Load16(ref y, q).AsSByte(), Load16(ref y, q + 16).AsSByte());
        }
        return SumLanes(low, high);
    }

    public static float Q5_0(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n)
    {
        ref byte x = ref MemoryMarshal.GetReference(weights);
        ref byte y = ref MemoryMarshal.GetReference(activations);
        Vector128<float> low = default, high = default;
        Vector128<byte> nibble = Vector128.Create((byte)0x0F), topNibble = Vector128.Create((byte)0xF0);
        for (int block = 0, xo = 0, yo = 0; block < n / 32; block++, xo += Q5_0Layout.Bytes, yo += Q8_0Layout.Bytes)
        {
            uint fifth = Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref x, xo + Q5_0Layout.HighBits));
            Vector128<byte> packed = Load16(ref x, xo + Q5_0Layout.Quants);
            // A clear fifth bit means code − 16 < 0: setting the top nibble makes the byte exactly that value.
            Vector128<byte> x0 = (packed & nibble) | Vector128.AndNot(topNibble, BitsToBytes(fifth));
            Vector128<byte> x1 = (packed >>> 4) | Vector128.AndNot(topNibble, BitsToBytes(fifth >> 16));
            int q = yo + Q8_0Layout.Quants;
            AddBlock(ref low, ref high, Half(ref x, xo) * Half(ref y, yo), x0.AsSByte(), x1.AsSByte(),
                Load16(ref y, q).AsSByte(), Load16(ref y, q + 16).AsSByte());
        }
        return SumLanes(low, high);
    }

    public static float Q4_1(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n) =>
        AffineBlocks(weights, activations, n, fiveBits: false);

    public static float Q5_1(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n) =>
        AffineBlocks(weights, activations, n, fiveBits: true);

    /// <summary>Q4_1 and Q5_1 against Q8_1: unsigned codes, and the minimum folded in through Q8_1's s, as in the scalar kernel.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float AffineBlocks(ReadOnlySpan<byte> weights, ReadOnlySpan<byte> activations, int n, bool fiveBits)
    {
        ref byte x = ref MemoryMarshal.GetReference(weights);
        ref byte y = ref MemoryMarshal.GetReference(activations);
        int blockBytes = fiveBits ? Q5_1Layout.Bytes : Q4_1Layout.Bytes;
        int quants = fiveBits ? Q5_1Layout.Quants : Q4_1Layout.Quants;
        Vector128<float> low = default, high = default;
        Vector128<byte> nibble = Vector128.Create((byte)0x0F), bit4 = Vector128.Create((byte)0x10);
        float minTerms = 0;
        for (int block = 0, xo = 0, yo = 0; block < n / 32; block++, xo += blockBytes, yo += Q8_1Layout.Bytes)
        {
            minTerms = MathF.FusedMultiplyAdd(Half(ref x, xo + Q4_1Layout.Min), Half(ref y, yo + Q8_1Layout.ScaledSum), minTerms);
            Vector128<byte> packed = Load16(ref x, xo + quants);
            Vector128<byte> x0 = packed & nibble, x1 = packed >>> 4;
            if (fiveBits)
            {
                uint fifth = Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref x, xo + Q5_1Layout.HighBits));
                x0 |= BitsToBytes(fifth) & bit4;
                x1 |= BitsToBytes(fifth >> 16) & bit4;
            }
            int q = yo + Q8_1Layout.Quants;
            AddBlock(ref low, ref high, Half(ref x, xo) * Half(ref y, yo), x0.AsSByte(), x1.AsSByte(),
                Load16(ref y, q).AsSByte(), Load16(ref y, q + 16).AsSByte());
        }
        return SumLanes(low, high) + minTerms;
    }
}

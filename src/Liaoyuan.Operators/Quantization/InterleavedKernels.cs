using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Liaoyuan.Operators.Quantization;

/// <summary>
/// Products of sixteen interleaved weight rows (<see cref="IInterleavedBlocks"/>) with packed Q8_0 activations on
/// VNNI. Each <c>vpdpbusd</c> multiplies one group of four weights of eight rows by the same four activation bytes
/// (broadcast), so a block's integer dot of eight rows ends in the eight lanes of one register, seeded with the
/// token's −Σa times the weight type's offset: one conversion and one FMA then scale eight rows at once, and the results are stored
/// without a horizontal sum. Per row the float arithmetic is the same in <see cref="Tile{TBlocks}"/> and
/// <see cref="Rows{TBlocks}"/> (one FMA of d_w·d_a and the block's exact integer sum, block after block), so a
/// token gives the same bits alone or in a batch.
/// </summary>
internal static unsafe class InterleavedKernels
{
    public static bool IsSupported => AvxVnni.IsSupported && Fma.IsSupported;

    /// <summary>Sixteen rows × four packed tokens; writes output[t · stride + r] for r = 0..15.</summary>
    public static void Tile<TBlocks>(byte* group, sbyte* quants, float* scales, int* seeds, int blocks, float* output, int outputStride)
        where TBlocks : struct, IInterleavedBlocks
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default;
        Vector256<float> c20 = default, c21 = default, c30 = default, c31 = default;
        long tokenQuants = (long)blocks * 32;
        for (int b = 0; b < blocks; b++, group += TBlocks.Bytes, quants += 32)
        {
            int* seed = seeds + b;
            var i00 = Vector256.Create(seed[0] << TBlocks.OffsetShift);
            var i10 = Vector256.Create(seed[blocks] << TBlocks.OffsetShift);
            var i20 = Vector256.Create(seed[2 * blocks] << TBlocks.OffsetShift);
            var i30 = Vector256.Create(seed[3 * blocks] << TBlocks.OffsetShift);
            Vector256<int> i01 = i00, i11 = i10, i21 = i20, i31 = i30;
            for (int h = 0; h < 4; h++)
            {
                TBlocks.Groups(group, h, 0, out var w0, out var w0High);
                TBlocks.Groups(group, h, 1, out var w1, out var w1High);
                sbyte* a = quants + h * 4;
                var a0 = Broadcast(a);
                var a0High = Broadcast(a + 16);
                i00 = AvxVnni.MultiplyWideningAndAdd(i00, w0, a0);
                i01 = AvxVnni.MultiplyWideningAndAdd(i01, w1, a0);
                i00 = AvxVnni.MultiplyWideningAndAdd(i00, w0High, a0High);
                i01 = AvxVnni.MultiplyWideningAndAdd(i01, w1High, a0High);
                var a1 = Broadcast(a + tokenQuants);
                var a1High = Broadcast(a + tokenQuants + 16);
                i10 = AvxVnni.MultiplyWideningAndAdd(i10, w0, a1);
                i11 = AvxVnni.MultiplyWideningAndAdd(i11, w1, a1);
                i10 = AvxVnni.MultiplyWideningAndAdd(i10, w0High, a1High);
                i11 = AvxVnni.MultiplyWideningAndAdd(i11, w1High, a1High);
                var a2 = Broadcast(a + 2 * tokenQuants);
                var a2High = Broadcast(a + 2 * tokenQuants + 16);
                i20 = AvxVnni.MultiplyWideningAndAdd(i20, w0, a2);
                i21 = AvxVnni.MultiplyWideningAndAdd(i21, w1, a2);
                i20 = AvxVnni.MultiplyWideningAndAdd(i20, w0High, a2High);
                i21 = AvxVnni.MultiplyWideningAndAdd(i21, w1High, a2High);
                var a3 = Broadcast(a + 3 * tokenQuants);
                var a3High = Broadcast(a + 3 * tokenQuants + 16);
                i30 = AvxVnni.MultiplyWideningAndAdd(i30, w0, a3);
                i31 = AvxVnni.MultiplyWideningAndAdd(i31, w1, a3);
                i30 = AvxVnni.MultiplyWideningAndAdd(i30, w0High, a3High);
                i31 = AvxVnni.MultiplyWideningAndAdd(i31, w1High, a3High);
            }
            var d0 = InterleavedLayout.WidenScales(Avx2.ConvertToVector256Int32((short*)group));
            var d1 = InterleavedLayout.WidenScales(Avx2.ConvertToVector256Int32((short*)group + 8));
            float* s = scales + b;
            var s0 = Vector256.Create(s[0]);
            c00 = Fma.MultiplyAdd(d0 * s0, Avx.ConvertToVector256Single(i00), c00);
            c01 = Fma.MultiplyAdd(d1 * s0, Avx.ConvertToVector256Single(i01), c01);
            var s1 = Vector256.Create(s[blocks]);
            c10 = Fma.MultiplyAdd(d0 * s1, Avx.ConvertToVector256Single(i10), c10);
            c11 = Fma.MultiplyAdd(d1 * s1, Avx.ConvertToVector256Single(i11), c11);
            var s2 = Vector256.Create(s[2 * blocks]);
            c20 = Fma.MultiplyAdd(d0 * s2, Avx.ConvertToVector256Single(i20), c20);
            c21 = Fma.MultiplyAdd(d1 * s2, Avx.ConvertToVector256Single(i21), c21);
            var s3 = Vector256.Create(s[3 * blocks]);
            c30 = Fma.MultiplyAdd(d0 * s3, Avx.ConvertToVector256Single(i30), c30);
            c31 = Fma.MultiplyAdd(d1 * s3, Avx.ConvertToVector256Single(i31), c31);
        }
        c00.Store(output);
        c01.Store(output + 8);
        c10.Store(output + outputStride);
        c11.Store(output + outputStride + 8);
        c20.Store(output + 2 * outputStride);
        c21.Store(output + 2 * outputStride + 8);
        c30.Store(output + 3 * outputStride);
        c31.Store(output + 3 * outputStride + 8);
    }

    /// <summary>Sixteen rows × one packed token, for decoding: the rows' blocks are one stream read front to back.</summary>
    public static void Rows<TBlocks>(byte* group, sbyte* quants, float* scales, int* seeds, int blocks, float* output)
        where TBlocks : struct, IInterleavedBlocks
    {
        Vector256<float> c0 = default, c1 = default;
        for (int b = 0; b < blocks; b++, group += TBlocks.Bytes, quants += 32)
        {
            var i0 = Vector256.Create(seeds[b] << TBlocks.OffsetShift);
            var i1 = i0;
            for (int h = 0; h < 4; h++)
            {
                TBlocks.Groups(group, h, 0, out var w0, out var w0High);
                TBlocks.Groups(group, h, 1, out var w1, out var w1High);
                var a = Broadcast(quants + h * 4);
                var aHigh = Broadcast(quants + h * 4 + 16);
                i0 = AvxVnni.MultiplyWideningAndAdd(i0, w0, a);
                i1 = AvxVnni.MultiplyWideningAndAdd(i1, w1, a);
                i0 = AvxVnni.MultiplyWideningAndAdd(i0, w0High, aHigh);
                i1 = AvxVnni.MultiplyWideningAndAdd(i1, w1High, aHigh);
            }
            var s = Vector256.Create(scales[b]);
            var d0 = InterleavedLayout.WidenScales(Avx2.ConvertToVector256Int32((short*)group));
            var d1 = InterleavedLayout.WidenScales(Avx2.ConvertToVector256Int32((short*)group + 8));
            c0 = Fma.MultiplyAdd(d0 * s, Avx.ConvertToVector256Single(i0), c0);
            c1 = Fma.MultiplyAdd(d1 * s, Avx.ConvertToVector256Single(i1), c1);
        }
        c0.Store(output);
        c1.Store(output + 8);
    }

    /// <summary>
    /// −Σa for each block of one packed token; times a weight type's offset it is what Σ (w + offset)·a overshoots
    /// Σ w·a by, so one set of packed activations serves Q8_0, Q4_0 and Q5_0 matrices alike.
    /// </summary>
    public static void PackSeeds(sbyte* quants, int blocks, int* seeds)
    {
        var ones = Vector256.Create((byte)1);
        for (int b = 0; b < blocks; b++, quants += 32)
            seeds[b] = -Vector256.Sum(AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, ones, Vector256.Load(quants)));
    }

    /// <summary>Four activation bytes repeated into every 32-bit lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<sbyte> Broadcast(sbyte* fourBytes) => Vector256.Create(*(int*)fourBytes).AsSByte();
}

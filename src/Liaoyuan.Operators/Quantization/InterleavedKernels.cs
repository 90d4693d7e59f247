using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Liaoyuan.Operators.Quantization;

/// <summary>
/// Products of sixteen interleaved weight rows (<see cref="IInterleavedBlocks"/>) with packed Q8_0 activations. On
/// VNNI each <c>vpdpbusd</c> multiplies one group of four weights of eight rows by the same four activation bytes
/// (broadcast); on AVX2 alone pmaddubsw + pmaddwd stand in for it (<see cref="Accumulate{TBlocks}(Vector256{int}, Vector256{byte}, Vector256{sbyte})"/>).
/// A block's integer dot of eight rows ends in the eight lanes of one register, seeded with the token's −Σa times
/// the weight type's offset: one conversion and one FMA then scale eight rows at once, and the results are stored
/// without a horizontal sum. Per row the float arithmetic is the same in <see cref="Tile{TBlocks}"/> and
/// <see cref="Rows{TBlocks}"/> (one FMA of d_w·d_a and the block's exact integer sum, block after block), so a
/// token gives the same bits alone or in a batch.
/// </summary>
internal static unsafe class InterleavedKernels
{
    public static bool IsSupported => Avx2.IsSupported && Fma.IsSupported;

    /// <summary>
    /// Whether <paramref name="type"/> gets an interleaved copy here: Q8_0, Q4_0 and Q5_0 wherever AVX2 and FMA run
    /// (without VNNI the byte products go through pmaddubsw; see <see cref="SignTrick{TBlocks}"/>).
    /// </summary>
    public static bool Supports(Tensors.GgmlType type) =>
        IsSupported && type is Tensors.GgmlType.Q8_0 or Tensors.GgmlType.Q4_0 or Tensors.GgmlType.Q5_0;

    /// <summary>Sixteen rows × four packed tokens; writes output[t · stride + r] for r = 0..15.</summary>
    public static void Tile<TBlocks>(byte* group, sbyte* quants, float* scales, int* seeds, int blocks, float* output, int outputStride)
        where TBlocks : struct, IInterleavedBlocks
    {
        if (!AvxVnni.IsSupported)
        {
            TileHalf<TBlocks>(group, quants, scales, seeds, blocks, 0, output, outputStride);
            TileHalf<TBlocks>(group, quants, scales, seeds, blocks, 1, output + 8, outputStride);
            return;
        }
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

    private const int PrefetchDistance = 2048;

    /// <summary>Sixteen rows × one packed token, for decoding: the rows' blocks are one stream read front to back.</summary>
    public static void Rows<TBlocks>(byte* group, sbyte* quants, float* scales, int* seeds, int blocks, float* output)
        where TBlocks : struct, IInterleavedBlocks
    {
        Vector256<float> c0 = default, c1 = default;
        for (int b = 0; b < blocks; b++, group += TBlocks.Bytes, quants += 32)
        {
            // The stream is fetched a few kilobytes ahead (into the next group at the end of this one): the hardware
            // prefetcher stops at every 4 KiB page, and decoding is a stream of pages.
            for (int line = 0; line < TBlocks.Bytes; line += 64) Sse.Prefetch0(group + PrefetchDistance + line);
            var i0 = Seed<TBlocks>(seeds[b]);
            var i1 = i0;
            if (WordSums<TBlocks>())
            {
                // Both halves' products of groups h = 0, 1 (and for Q4_0 also 2, 3) summed as words, then widened once.
                var p0 = Vector256<short>.Zero;
                var p1 = p0;
                RowWords<TBlocks>(group, quants, 0, ref p0, ref p1);
                RowWords<TBlocks>(group, quants, 1, ref p0, ref p1);
                if (WordSumGroups<TBlocks>() < 4)
                {
                    i0 += Widen(p0);
                    i1 += Widen(p1);
                    p0 = p1 = Vector256<short>.Zero;
                }
                RowWords<TBlocks>(group, quants, 2, ref p0, ref p1);
                RowWords<TBlocks>(group, quants, 3, ref p0, ref p1);
                i0 += Widen(p0);
                i1 += Widen(p1);
            }
            else
            {
                RowInts<TBlocks>(group, quants, 0, ref i0, ref i1);
                RowInts<TBlocks>(group, quants, 1, ref i0, ref i1);
                RowInts<TBlocks>(group, quants, 2, ref i0, ref i1);
                RowInts<TBlocks>(group, quants, 3, ref i0, ref i1);
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

    /// <summary>Groups h and h + 4 of both halves against one token, into the halves' integer lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RowInts<TBlocks>(byte* group, sbyte* quants, int h, ref Vector256<int> i0, ref Vector256<int> i1)
        where TBlocks : struct, IInterleavedBlocks
    {
        var a = Broadcast(quants + h * 4);
        var aHigh = Broadcast(quants + h * 4 + 16);
        TBlocks.Groups(group, h, 0, out var w0, out var w0High);
        i0 = Accumulate<TBlocks>(Accumulate<TBlocks>(i0, w0, a), w0High, aHigh);
        TBlocks.Groups(group, h, 1, out var w1, out var w1High);
        i1 = Accumulate<TBlocks>(Accumulate<TBlocks>(i1, w1, a), w1High, aHigh);
    }

    /// <summary>As <see cref="RowInts{TBlocks}"/>, into 16-bit pair sums (see <see cref="WordSums{TBlocks}"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RowWords<TBlocks>(byte* group, sbyte* quants, int h, ref Vector256<short> p0, ref Vector256<short> p1)
        where TBlocks : struct, IInterleavedBlocks
    {
        var a = Broadcast(quants + h * 4);
        var aHigh = Broadcast(quants + h * 4 + 16);
        TBlocks.Groups(group, h, 0, out var w0, out var w0High);
        p0 += Avx2.MultiplyAddAdjacent(w0, a) + Avx2.MultiplyAddAdjacent(w0High, aHigh);
        TBlocks.Groups(group, h, 1, out var w1, out var w1High);
        p1 += Avx2.MultiplyAddAdjacent(w1, a) + Avx2.MultiplyAddAdjacent(w1High, aHigh);
    }

    /// <summary>
    /// Whether pmaddubsw's pair sums are added as 16-bit words over several groups before one pmaddwd widens them
    /// (AVX2 without VNNI, codes stored with an offset): exact while the words cannot overflow, see
    /// <see cref="WordSumGroups{TBlocks}"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool WordSums<TBlocks>() where TBlocks : struct, IInterleavedBlocks =>
        !AvxVnni.IsSupported && !SignTrick<TBlocks>();

    /// <summary>
    /// How many h steps (two pmaddubsw each) one word sum takes: a pair sum is at most 2·128·(2^(shift+1) − 1), so
    /// Q4_0's codes (≤ 15) leave room for four steps in 32,767 and Q5_0's (≤ 31) for two.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int WordSumGroups<TBlocks>() where TBlocks : struct, IInterleavedBlocks =>
        short.MaxValue / (2 * 2 * 128 * ((2 << TBlocks.OffsetShift) - 1));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Widen(Vector256<short> words) => Avx2.MultiplyAddAdjacent(words, Vector256<short>.One);

    /// <summary>
    /// −Σa for each block of one packed token; times a weight type's offset it is what Σ (w + offset)·a overshoots
    /// Σ w·a by, so one set of packed activations serves Q8_0, Q4_0 and Q5_0 matrices alike.
    /// </summary>
    public static void PackSeeds(sbyte* quants, int blocks, int* seeds)
    {
        for (int b = 0; b < blocks; b++, quants += 32)
            seeds[b] = -Vector256.Sum(GroupSums(Vector256.Load(quants)));
    }

    /// <summary>
    /// Eight rows (one half of the group) × four packed tokens without VNNI, each half on its own pass over the
    /// group's blocks: four float and four integer accumulators leave registers for the weights and the broadcast
    /// activations (both halves at once would need 24 of the 16 ymm registers). The same integers and the same
    /// float steps per row as the VNNI tile.
    /// </summary>
    private static void TileHalf<TBlocks>(byte* group, sbyte* quants, float* scales, int* seeds, int blocks, int half, float* output, int outputStride)
        where TBlocks : struct, IInterleavedBlocks
    {
        Vector256<float> c0 = default, c1 = default, c2 = default, c3 = default;
        long tokenQuants = (long)blocks * 32;
        for (int b = 0; b < blocks; b++, group += TBlocks.Bytes, quants += 32)
        {
            // The first half's pass is the one that brings the group in from memory (see Rows).
            if (half == 0)
                for (int line = 0; line < TBlocks.Bytes; line += 64) Sse.Prefetch0(group + PrefetchDistance + line);
            int* seed = seeds + b;
            var i0 = Seed<TBlocks>(seed[0]);
            var i1 = Seed<TBlocks>(seed[blocks]);
            var i2 = Seed<TBlocks>(seed[2 * blocks]);
            var i3 = Seed<TBlocks>(seed[3 * blocks]);
            if (WordSums<TBlocks>())
            {
                Vector256<short> p0 = default, p1 = default, p2 = default, p3 = default;
                TileWords<TBlocks>(group, quants, tokenQuants, 0, half, ref p0, ref p1, ref p2, ref p3);
                TileWords<TBlocks>(group, quants, tokenQuants, 1, half, ref p0, ref p1, ref p2, ref p3);
                if (WordSumGroups<TBlocks>() < 4)
                {
                    i0 += Widen(p0);
                    i1 += Widen(p1);
                    i2 += Widen(p2);
                    i3 += Widen(p3);
                    p0 = p1 = p2 = p3 = default;
                }
                TileWords<TBlocks>(group, quants, tokenQuants, 2, half, ref p0, ref p1, ref p2, ref p3);
                TileWords<TBlocks>(group, quants, tokenQuants, 3, half, ref p0, ref p1, ref p2, ref p3);
                i0 += Widen(p0);
                i1 += Widen(p1);
                i2 += Widen(p2);
                i3 += Widen(p3);
            }
            else
            {
                TileInts<TBlocks>(group, quants, tokenQuants, 0, half, ref i0, ref i1, ref i2, ref i3);
                TileInts<TBlocks>(group, quants, tokenQuants, 1, half, ref i0, ref i1, ref i2, ref i3);
                TileInts<TBlocks>(group, quants, tokenQuants, 2, half, ref i0, ref i1, ref i2, ref i3);
                TileInts<TBlocks>(group, quants, tokenQuants, 3, half, ref i0, ref i1, ref i2, ref i3);
            }
            var d = InterleavedLayout.WidenScales(Avx2.ConvertToVector256Int32((short*)group + 8 * half));
            float* s = scales + b;
            c0 = Fma.MultiplyAdd(d * Vector256.Create(s[0]), Avx.ConvertToVector256Single(i0), c0);
            c1 = Fma.MultiplyAdd(d * Vector256.Create(s[blocks]), Avx.ConvertToVector256Single(i1), c1);
            c2 = Fma.MultiplyAdd(d * Vector256.Create(s[2 * blocks]), Avx.ConvertToVector256Single(i2), c2);
            c3 = Fma.MultiplyAdd(d * Vector256.Create(s[3 * blocks]), Avx.ConvertToVector256Single(i3), c3);
        }
        c0.Store(output);
        c1.Store(output + outputStride);
        c2.Store(output + 2 * outputStride);
        c3.Store(output + 3 * outputStride);
    }

    /// <summary>Groups h and h + 4 of one half against four packed tokens, into their integer lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void TileInts<TBlocks>(byte* group, sbyte* quants, long tokenQuants, int h, int half,
        ref Vector256<int> i0, ref Vector256<int> i1, ref Vector256<int> i2, ref Vector256<int> i3)
        where TBlocks : struct, IInterleavedBlocks
    {
        TBlocks.Groups(group, h, half, out var codes, out var codesHigh);
        var w = Operand<TBlocks>(codes, out var signs);
        var wHigh = Operand<TBlocks>(codesHigh, out var signsHigh);
        sbyte* a = quants + h * 4;
        i0 = Accumulate<TBlocks>(Accumulate<TBlocks>(i0, w, signs, Broadcast(a)), wHigh, signsHigh, Broadcast(a + 16));
        i1 = Accumulate<TBlocks>(Accumulate<TBlocks>(i1, w, signs, Broadcast(a + tokenQuants)), wHigh, signsHigh, Broadcast(a + tokenQuants + 16));
        i2 = Accumulate<TBlocks>(Accumulate<TBlocks>(i2, w, signs, Broadcast(a + 2 * tokenQuants)), wHigh, signsHigh, Broadcast(a + 2 * tokenQuants + 16));
        i3 = Accumulate<TBlocks>(Accumulate<TBlocks>(i3, w, signs, Broadcast(a + 3 * tokenQuants)), wHigh, signsHigh, Broadcast(a + 3 * tokenQuants + 16));
    }

    /// <summary>As <see cref="TileInts{TBlocks}"/>, into 16-bit pair sums (see <see cref="WordSums{TBlocks}"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void TileWords<TBlocks>(byte* group, sbyte* quants, long tokenQuants, int h, int half,
        ref Vector256<short> p0, ref Vector256<short> p1, ref Vector256<short> p2, ref Vector256<short> p3)
        where TBlocks : struct, IInterleavedBlocks
    {
        TBlocks.Groups(group, h, half, out var w, out var wHigh);
        sbyte* a = quants + h * 4;
        p0 += Avx2.MultiplyAddAdjacent(w, Broadcast(a)) + Avx2.MultiplyAddAdjacent(wHigh, Broadcast(a + 16));
        p1 += Avx2.MultiplyAddAdjacent(w, Broadcast(a + tokenQuants)) + Avx2.MultiplyAddAdjacent(wHigh, Broadcast(a + tokenQuants + 16));
        p2 += Avx2.MultiplyAddAdjacent(w, Broadcast(a + 2 * tokenQuants)) + Avx2.MultiplyAddAdjacent(wHigh, Broadcast(a + 2 * tokenQuants + 16));
        p3 += Avx2.MultiplyAddAdjacent(w, Broadcast(a + 3 * tokenQuants)) + Avx2.MultiplyAddAdjacent(wHigh, Broadcast(a + 3 * tokenQuants + 16));
    }

    /// <summary>
    /// Q8_0 without VNNI: its codes w + 128 times an activation byte overflow pmaddubsw's 16-bit pair sums, so the
    /// codes are turned back into w and multiplied by the sign trick (|w| × sign(a, w)), with no offset to undo.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool SignTrick<TBlocks>() where TBlocks : struct, IInterleavedBlocks =>
        !AvxVnni.IsSupported && TBlocks.OffsetShift == Q8_0x16.OffsetShift;

    /// <summary>The integer accumulator's start: −offset·Σa, what summing the offset codes overshoots by.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Seed<TBlocks>(int seed) where TBlocks : struct, IInterleavedBlocks =>
        SignTrick<TBlocks>() ? Vector256<int>.Zero : Vector256.Create(seed << TBlocks.OffsetShift);

    /// <summary>The unsigned operand for <see cref="Accumulate{TBlocks}(Vector256{int}, Vector256{byte}, Vector256{sbyte}, Vector256{sbyte})"/>: the codes, or |w| with w in <paramref name="signs"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Operand<TBlocks>(Vector256<byte> codes, out Vector256<sbyte> signs) where TBlocks : struct, IInterleavedBlocks
    {
        if (!SignTrick<TBlocks>())
        {
            signs = default;
            return codes;
        }
        signs = (codes ^ Vector256.Create((byte)0x80)).AsSByte();
        return Avx2.Sign(signs, signs).AsByte();
    }

    /// <summary>
    /// acc + the sums of four products of weights and activation bytes per lane: vpdpbusd with VNNI; else
    /// pmaddubsw + pmaddwd on the codes (exact up to code 31) or, for Q8_0, on |w| and sign(a, w).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Accumulate<TBlocks>(Vector256<int> acc, Vector256<byte> operand, Vector256<sbyte> signs, Vector256<sbyte> a)
        where TBlocks : struct, IInterleavedBlocks
    {
        if (AvxVnni.IsSupported) return AvxVnni.MultiplyWideningAndAdd(acc, operand, a);
        if (SignTrick<TBlocks>()) a = Avx2.Sign(a, signs);
        return acc + Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(operand, a), Vector256<short>.One);
    }

    /// <summary>As the four-argument form, from the raw codes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Accumulate<TBlocks>(Vector256<int> acc, Vector256<byte> codes, Vector256<sbyte> a)
        where TBlocks : struct, IInterleavedBlocks
    {
        var operand = Operand<TBlocks>(codes, out var signs);
        return Accumulate<TBlocks>(acc, operand, signs, a);
    }

    /// <summary>Σ of 32 signed bytes' groups of four per lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> GroupSums(Vector256<sbyte> a)
    {
        var ones = Vector256.Create((byte)1);
        if (AvxVnni.IsSupported) return AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, ones, a);
        return Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ones, a), Vector256<short>.One);
    }

    /// <summary>Four activation bytes repeated into every 32-bit lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<sbyte> Broadcast(sbyte* fourBytes) => Vector256.Create(*(int*)fourBytes).AsSByte();
}

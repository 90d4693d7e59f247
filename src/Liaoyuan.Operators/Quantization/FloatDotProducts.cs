using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace Liaoyuan.Operators.Quantization;

/// <summary>
/// F32·F32, F16·F16 and BF16·BF16 dot products in the summation order of ggml's AVX2 kernels: four
/// 8-lane accumulators over runs of 32 elements, reduced pairwise (0+2, 1+3, then 0+1), then across lanes,
/// then the leftover tail. F16 and BF16 carry the total in double, as ggml does.
/// </summary>
/// <remarks>
/// Every multiply-accumulate is fused, including BF16's vector mul+add and F32's scalar tail: GCC builds of
/// ggml-cpu contract those into FMA. Each kernel has a scalar twin with the same arithmetic for tests
/// and for machines without vector hardware.
/// </remarks>
internal static class FloatDotProducts
{
    private const int Step = 32;

    public static float F32(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        int n = x.Length, bulk = n & ~(Step - 1);
        float sum = SumOfRuns(x, y, bulk);
        for (int i = bulk; i < n; i++)
            sum = MathF.FusedMultiplyAdd(x[i], y[i], sum);
        return sum;
    }

    public static float F16(ReadOnlySpan<ushort> x, ReadOnlySpan<ushort> y)
    {
        int n = x.Length;
        int bulk = n & ~(Step - 1);
        ref ushort xr = ref MemoryMarshal.GetReference(x);
        ref ushort yr = ref MemoryMarshal.GetReference(y);
        Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default;
        for (int i = 0; i < bulk; i += Step)
        {
            s0 = Vector256.FusedMultiplyAdd(WidenHalf(ref xr, i), WidenHalf(ref yr, i), s0);
            s1 = Vector256.FusedMultiplyAdd(WidenHalf(ref xr, i + 8), WidenHalf(ref yr, i + 8), s1);
            s2 = Vector256.FusedMultiplyAdd(WidenHalf(ref xr, i + 16), WidenHalf(ref yr, i + 16), s2);
            s3 = Vector256.FusedMultiplyAdd(WidenHalf(ref xr, i + 24), WidenHalf(ref yr, i + 24), s3);
        }
        double sum = Reduce(s0, s1, s2, s3);
        for (int i = bulk; i < n; i++)
            sum += Float16.ToSingle(x[i]) * Float16.ToSingle(y[i]);
        return (float)sum;
    }

    /// <summary>
    /// <see cref="F16"/> with the second operand already widened to float (exactly, from F16 values): the same
    /// products in the same order, so the same bits, with half the widening work.
    /// </summary>
    public static float F16ByWidened(ReadOnlySpan<ushort> x, ReadOnlySpan<float> y)
    {
        int n = x.Length;
        int bulk = n & ~(Step - 1);
        ref ushort xr = ref MemoryMarshal.GetReference(x);
        ref float yr = ref MemoryMarshal.GetReference(y);
        Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default;
        for (int i = 0; i < bulk; i += Step)
        {
            nuint at = (nuint)i;
            s0 = Vector256.FusedMultiplyAdd(WidenHalf(ref xr, i), Vector256.LoadUnsafe(ref yr, at), s0);
            s1 = Vector256.FusedMultiplyAdd(WidenHalf(ref xr, i + 8), Vector256.LoadUnsafe(ref yr, at + 8), s1);
            s2 = Vector256.FusedMultiplyAdd(WidenHalf(ref xr, i + 16), Vector256.LoadUnsafe(ref yr, at + 16), s2);
            s3 = Vector256.FusedMultiplyAdd(WidenHalf(ref xr, i + 24), Vector256.LoadUnsafe(ref yr, at + 24), s3);
        }
        double sum = Reduce(s0, s1, s2, s3);
        for (int i = bulk; i < n; i++)
            sum += Float16.ToSingle(x[i]) * y[i];
        return (float)sum;
    }

    /// <summary>2^112: a half's bits shifted into a float's place read as the half's value times 2^-112.</summary>
    public const float HalfBitsScale = 5.192296858534828e+33f;

    /// <summary>
    /// <see cref="F16"/> against activations that were widened and multiplied by <see cref="HalfBitsScale"/>
    /// (exact: F16 values stay far from float's overflow). The weights are then not widened at all: their bits,
    /// shifted into place, are the weight times 2^-112 (subnormals included), so each product and each fused sum
    /// is the one of <see cref="F16"/> and the result is the same bits, for three instructions per eight weights
    /// instead of a full software widening. Infinite or NaN weights would read as finite; models have none.
    /// </summary>
    public static float F16ByScaled(ReadOnlySpan<ushort> x, ReadOnlySpan<float> yScaled)
    {
        int n = x.Length;
        int bulk = n & ~(Step - 1);
        ref short xr = ref Unsafe.As<ushort, short>(ref MemoryMarshal.GetReference(x));
        ref float yr = ref MemoryMarshal.GetReference(yScaled);
        Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default;
        for (int i = 0; i < bulk; i += Step)
        {
            nuint at = (nuint)i;
            s0 = Vector256.FusedMultiplyAdd(HalfBitsAsFloat(ref xr, at), Vector256.LoadUnsafe(ref yr, at), s0);
            s1 = Vector256.FusedMultiplyAdd(HalfBitsAsFloat(ref xr, at + 8), Vector256.LoadUnsafe(ref yr, at + 8), s1);
            s2 = Vector256.FusedMultiplyAdd(HalfBitsAsFloat(ref xr, at + 16), Vector256.LoadUnsafe(ref yr, at + 16), s2);
            s3 = Vector256.FusedMultiplyAdd(HalfBitsAsFloat(ref xr, at + 24), Vector256.LoadUnsafe(ref yr, at + 24), s3);
        }
        double sum = Reduce(s0, s1, s2, s3);
        for (int i = bulk; i < n; i++)
            sum += Float16.ToSingle(x[i]) * (yScaled[i] / HalfBitsScale);
        return (float)sum;
    }

    /// <summary>
    /// Eight halves as floats times 2^-112: sign-extend to 32 bits, shift the exponent and mantissa into place,
    /// and keep the sign bit while clearing the three copies of it that land in the float's top exponent bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> HalfBitsAsFloat(ref short source, nuint index)
    {
        Vector256<int> extended = Vector256.WidenLower(Vector128.LoadUnsafe(ref source, index).ToVector256Unsafe());
        return ((extended << 13) & Vector256.Create(unchecked((int)0x8FFFE000))).AsSingle();
    }

    /// <summary>
    /// <see cref="F16"/> with both operands already widened to float (exactly, from F16 values): the same
    /// products in the same order, so the same bits, with no widening at all.
    /// </summary>
    public static float WidenedF16(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        int n = x.Length, bulk = n & ~(Step - 1);
        double sum = SumOfRuns(x, y, bulk);
        for (int i = bulk; i < n; i++)
            sum += x[i] * y[i];
        return (float)sum;
    }

    /// <summary>
    /// <see cref="WidenedF16"/> of one query against four keys <paramref name="stride"/> floats apart, for
    /// <paramref name="n"/> a multiple of 32: each dot keeps its own order (four accumulators, then ggml's
    /// reduction), and the four reductions run side by side after a 4×4 transpose.
    /// </summary>
    public static unsafe Vector128<float> WidenedF16x4(float* x, float* keys, int stride, int n)
    {
        Vector128<float> t0 = Fold(x, keys, n), t1 = Fold(x, keys + stride, n);
        Vector128<float> t2 = Fold(x, keys + 2L * stride, n), t3 = Fold(x, keys + 3L * stride, n);
        if (AdvSimd.Arm64.IsSupported)
        {
            // Pairwise adds give each key (t[0] + t[1]) + (t[2] + t[3]): the same sums as the transpose below.
            return AdvSimd.Arm64.AddPairwise(AdvSimd.Arm64.AddPairwise(t0, t1), AdvSimd.Arm64.AddPairwise(t2, t3));
        }
        if (!Sse.IsSupported)
            return Vector128.Create(Pairs(t0), Pairs(t1), Pairs(t2), Pairs(t3));
        var a = Sse.UnpackLow(t0, t1);
        var b = Sse.UnpackHigh(t0, t1);
        var c = Sse.UnpackLow(t2, t3);
        var d = Sse.UnpackHigh(t2, t3);
        var lane0 = Sse.MoveLowToHigh(a, c);
        var lane1 = Sse.MoveHighToLow(c, a);
        var lane2 = Sse.MoveLowToHigh(b, d);
        var lane3 = Sse.MoveHighToLow(d, b);
        return (lane0 + lane1) + (lane2 + lane3);
    }

    private static float Pairs(Vector128<float> t) => (t[0] + t[1]) + (t[2] + t[3]);

    /// <summary>The four-accumulator loop and the first two folds of ggml's reduction (to four lanes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe Vector128<float> Fold(float* x, float* y, int n)
    {
        Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default;
        for (int i = 0; i < n; i += Step)
        {
            s0 = Vector256.FusedMultiplyAdd(Vector256.Load(x + i), Vector256.Load(y + i), s0);
            s1 = Vector256.FusedMultiplyAdd(Vector256.Load(x + i + 8), Vector256.Load(y + i + 8), s1);
            s2 = Vector256.FusedMultiplyAdd(Vector256.Load(x + i + 16), Vector256.Load(y + i + 16), s2);
            s3 = Vector256.FusedMultiplyAdd(Vector256.Load(x + i + 24), Vector256.Load(y + i + 24), s3);
        }
        Vector256<float> v = (s0 + s2) + (s1 + s3);
        return v.GetLower() + v.GetUpper();
    }

    public static float BF16(ReadOnlySpan<ushort> x, ReadOnlySpan<ushort> y)
    {
        int n = x.Length;
        int bulk = n & ~(Step - 1);
        ref ushort xr = ref MemoryMarshal.GetReference(x);
        ref ushort yr = ref MemoryMarshal.GetReference(y);
        Vector256<float> c1 = default, c2 = default, c3 = default, c4 = default;
        for (int i = 0; i < bulk; i += Step)
        {
            c1 = Vector256.FusedMultiplyAdd(WidenBrain(ref xr, i), WidenBrain(ref yr, i), c1);
            c2 = Vector256.FusedMultiplyAdd(WidenBrain(ref xr, i + 8), WidenBrain(ref yr, i + 8), c2);
            c3 = Vector256.FusedMultiplyAdd(WidenBrain(ref xr, i + 16), WidenBrain(ref yr, i + 16), c3);
            c4 = Vector256.FusedMultiplyAdd(WidenBrain(ref xr, i + 24), WidenBrain(ref yr, i + 24), c4);
        }
        // ggml's BF16 kernel folds (c1 + c3) + (c2 + c4), then halves, pairs and the last two lanes.
        Vector256<float> folded = (c1 + c3) + (c2 + c4);
        double sum = SumHalvesThenPairs(folded);
        for (int i = bulk; i < n; i++)
            sum += BFloat16.ToSingle(x[i]) * BFloat16.ToSingle(y[i]);
        return (float)sum;
    }

    /// <summary>The first <paramref name="bulk"/> products (a multiple of 32) in ggml's four-accumulator order, reduced.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float SumOfRuns(ReadOnlySpan<float> x, ReadOnlySpan<float> y, int bulk)
    {
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float yr = ref MemoryMarshal.GetReference(y);
        Vector256<float> s0 = default, s1 = default, s2 = default, s3 = default;
        for (int i = 0; i < bulk; i += Step)
        {
            nuint at = (nuint)i;
            s0 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref xr, at), Vector256.LoadUnsafe(ref yr, at), s0);
            s1 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref xr, at + 8), Vector256.LoadUnsafe(ref yr, at + 8), s1);
            s2 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref xr, at + 16), Vector256.LoadUnsafe(ref yr, at + 16), s2);
            s3 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref xr, at + 24), Vector256.LoadUnsafe(ref yr, at + 24), s3);
        }
        return Reduce(s0, s1, s2, s3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> WidenHalf(ref ushort source, int index) =>
        Float16.Widen(FloatRows.LoadWidened(ref source, index));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> WidenBrain(ref ushort source, int index) =>
        BFloat16.Widen(FloatRows.LoadWidened(ref source, index));

    /// <summary>GGML_F32x8_REDUCE: 0+2 and 1+3, then 0+1, then lower + upper half, then two horizontal adds.</summary>
    private static float Reduce(Vector256<float> s0, Vector256<float> s1, Vector256<float> s2, Vector256<float> s3)
    {
        Vector256<float> v = (s0 + s2) + (s1 + s3);
        Vector128<float> t = v.GetLower() + v.GetUpper();
        return (t[0] + t[1]) + (t[2] + t[3]);
    }

    /// <summary>ggml's hsum_float_8 order: lanes i and i+4, then i and i+2, then the last two.</summary>
    private static float SumHalvesThenPairs(Vector256<float> v)
    {
        Vector128<float> t = v.GetLower() + v.GetUpper();
        return (t[0] + t[2]) + (t[1] + t[3]);
    }

    /// <summary>Scalar twins with identical arithmetic, for tests and hardware without vectors.</summary>
    internal static class Scalar
    {
        public static float F32(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
        {
            Span<float> acc = stackalloc float[Step];
            int bulk = x.Length & ~(Step - 1);
            for (int i = 0; i < bulk; i += Step)
                for (int k = 0; k < Step; k++)
                    acc[k] = MathF.FusedMultiplyAdd(x[i + k], y[i + k], acc[k]);
            float sum = Reduce(acc);
            for (int i = bulk; i < x.Length; i++)
                sum = MathF.FusedMultiplyAdd(x[i], y[i], sum);
            return sum;
        }

        public static float F16(ReadOnlySpan<ushort> x, ReadOnlySpan<ushort> y) =>
            Wide(x, y, Float16.ToSingle, brain: false);

        public static float BF16(ReadOnlySpan<ushort> x, ReadOnlySpan<ushort> y) =>
            Wide(x, y, BFloat16.ToSingle, brain: true);

        private static float Wide(ReadOnlySpan<ushort> x, ReadOnlySpan<ushort> y, Func<ushort, float> widen, bool brain)
        {
            Span<float> acc = stackalloc float[Step];
            int bulk = x.Length & ~(Step - 1);
            for (int i = 0; i < bulk; i += Step)
                for (int k = 0; k < Step; k++)
                    acc[k] = MathF.FusedMultiplyAdd(widen(x[i + k]), widen(y[i + k]), acc[k]);
            double sum;
            if (brain)
            {
                Span<float> v = stackalloc float[8];
                for (int l = 0; l < 8; l++)
                    v[l] = (acc[l] + acc[16 + l]) + (acc[8 + l] + acc[24 + l]);
                sum = ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]));
            }
            else
            {
                sum = Reduce(acc);
            }
            for (int i = bulk; i < x.Length; i++)
                sum += widen(x[i]) * widen(y[i]);
            return (float)sum;
        }

        private static float Reduce(ReadOnlySpan<float> acc)
        {
            Span<float> v = stackalloc float[8];
            for (int l = 0; l < 8; l++)
                v[l] = (acc[l] + acc[16 + l]) + (acc[8 + l] + acc[24 + l]);
            float t0 = v[0] + v[4], t1 = v[1] + v[5], t2 = v[2] + v[6], t3 = v[3] + v[7];
            return (t0 + t1) + (t2 + t3);
        }
    }
}

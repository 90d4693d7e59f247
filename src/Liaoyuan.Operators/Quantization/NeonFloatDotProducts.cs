using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;

namespace Liaoyuan.Operators.Quantization;

/// <summary>
/// F32, F16 and BF16 dot products on ARM64 AdvSimd with the summation order of <see cref="FloatDotProducts"/>
/// (ggml's four 8-lane accumulators over runs of 32, then its reductions): each 8-lane accumulator is held as two
/// 4-lane registers, so every fused multiply-add and every sum is the one of the 8-lane kernels and the result has
/// their bits (and the scalar twins'). Callers must check <see cref="IsSupported"/>.
/// </summary>
internal static class NeonFloatDotProducts
{
    private const int Step = 32;

    public static bool IsSupported => AdvSimd.Arm64.IsSupported;

    /// <summary>Run accumulators: <c>S[k]</c> holds elements 4k … 4k + 3 of every run of 32.</summary>
    private struct Runs
    {
        public Vector128<float> S0, S1, S2, S3, S4, S5, S6, S7;

        /// <summary>GGML_F32x8_REDUCE: 8-lane accumulators 0+2 and 1+3, then 0+1, then halves, then pairs.</summary>
        public readonly float Reduce()
        {
            Vector128<float> t = ((S0 + S4) + (S2 + S6)) + ((S1 + S5) + (S3 + S7));
            return (t[0] + t[1]) + (t[2] + t[3]);
        }

        /// <summary>ggml's BF16 order: (c1 + c3) + (c2 + c4), then lanes i and i + 4, then i and i + 2.</summary>
        public readonly float ReduceHalvesThenPairs()
        {
            Vector128<float> t = ((S0 + S4) + (S2 + S6)) + ((S1 + S5) + (S3 + S7));
            return (t[0] + t[2]) + (t[1] + t[3]);
        }
    }

    public static float F32(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        int n = x.Length, bulk = n & ~(Step - 1);
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float yr = ref MemoryMarshal.GetReference(y);
        Runs r = default;
        for (int i = 0; i < bulk; i += Step)
        {
            nuint at = (nuint)i;
            r.S0 = Vector128.FusedMultiplyAdd(Vector128.LoadUnsafe(ref xr, at), Vector128.LoadUnsafe(ref yr, at), r.S0);
            r.S1 = Vector128.FusedMultiplyAdd(Vector128.LoadUnsafe(ref xr, at + 4), Vector128.LoadUnsafe(ref yr, at + 4), r.S1);
            r.S2 = Vector128.FusedMultiplyAdd(Vector128.LoadUnsafe(ref xr, at + 8), Vector128.LoadUnsafe(ref yr, at + 8), r.S2);
            r.S3 = Vector128.FusedMultiplyAdd(Vector128.LoadUnsafe(ref xr, at + 12), Vector128.LoadUnsafe(ref yr, at + 12), r.S3);
            r.S4 = Vector128.FusedMultiplyAdd(Vector128.LoadUnsafe(ref xr, at + 16), Vector128.LoadUnsafe(ref yr, at + 16), r.S4);
            r.S5 = Vector128.FusedMultiplyAdd(Vector128.LoadUnsafe(ref xr, at + 20), Vector128.LoadUnsafe(ref yr, at + 20), r.S5);
            r.S6 = Vector128.FusedMultiplyAdd(Vector128.LoadUnsafe(ref xr, at + 24), Vector128.LoadUnsafe(ref yr, at + 24), r.S6);
            r.S7 = Vector128.FusedMultiplyAdd(Vector128.LoadUnsafe(ref xr, at + 28), Vector128.LoadUnsafe(ref yr, at + 28), r.S7);
        }
        float sum = r.Reduce();
        for (int i = bulk; i < n; i++)
            sum = MathF.FusedMultiplyAdd(x[i], y[i], sum);
        return sum;
    }

    public static float F16(ReadOnlySpan<ushort> x, ReadOnlySpan<ushort> y)
    {
        Runs r = HalfRuns(x, y, brain: false, out int bulk);
        double sum = r.Reduce();
        for (int i = bulk; i < x.Length; i++)
            sum += Float16.ToSingle(x[i]) * Float16.ToSingle(y[i]);
        return (float)sum;
    }

    public static float BF16(ReadOnlySpan<ushort> x, ReadOnlySpan<ushort> y)
    {
        Runs r = HalfRuns(x, y, brain: true, out int bulk);
        double sum = r.ReduceHalvesThenPairs();
        for (int i = bulk; i < x.Length; i++)
            sum += BFloat16.ToSingle(x[i]) * BFloat16.ToSingle(y[i]);
        return (float)sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Runs HalfRuns(ReadOnlySpan<ushort> x, ReadOnlySpan<ushort> y, bool brain, out int bulk)
    {
        bulk = x.Length & ~(Step - 1);
        ref ushort xr = ref MemoryMarshal.GetReference(x);
        ref ushort yr = ref MemoryMarshal.GetReference(y);
        Runs r = default;
        for (int i = 0; i < bulk; i += Step)
        {
            nuint at = (nuint)i;
            Vector128<ushort> x0 = Vector128.LoadUnsafe(ref xr, at), y0 = Vector128.LoadUnsafe(ref yr, at);
            Vector128<ushort> x1 = Vector128.LoadUnsafe(ref xr, at + 8), y1 = Vector128.LoadUnsafe(ref yr, at + 8);
            Vector128<ushort> x2 = Vector128.LoadUnsafe(ref xr, at + 16), y2 = Vector128.LoadUnsafe(ref yr, at + 16);
            Vector128<ushort> x3 = Vector128.LoadUnsafe(ref xr, at + 24), y3 = Vector128.LoadUnsafe(ref yr, at + 24);
            r.S0 = Vector128.FusedMultiplyAdd(Widen(Vector128.WidenLower(x0), brain), Widen(Vector128.WidenLower(y0), brain), r.S0);
            r.S1 = Vector128.FusedMultiplyAdd(Widen(Vector128.WidenUpper(x0), brain), Widen(Vector128.WidenUpper(y0), brain), r.S1);
            r.S2 = Vector128.FusedMultiplyAdd(Widen(Vector128.WidenLower(x1), brain), Widen(Vector128.WidenLower(y1), brain), r.S2);
            r.S3 = Vector128.FusedMultiplyAdd(Widen(Vector128.WidenUpper(x1), brain), Widen(Vector128.WidenUpper(y1), brain), r.S3);
            r.S4 = Vector128.FusedMultiplyAdd(Widen(Vector128.WidenLower(x2), brain), Widen(Vector128.WidenLower(y2), brain), r.S4);
            r.S5 = Vector128.FusedMultiplyAdd(Widen(Vector128.WidenUpper(x2), brain), Widen(Vector128.WidenUpper(y2), brain), r.S5);
            r.S6 = Vector128.FusedMultiplyAdd(Widen(Vector128.WidenLower(x3), brain), Widen(Vector128.WidenLower(y3), brain), r.S6);
            r.S7 = Vector128.FusedMultiplyAdd(Widen(Vector128.WidenUpper(x3), brain), Widen(Vector128.WidenUpper(y3), brain), r.S7);
        }
        return r;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> Widen(Vector128<uint> values, bool brain) =>
        brain ? (values << 16).AsSingle() : WidenHalves(values);

    /// <summary>
    /// Four halves (zero-extended into 32-bit lanes) widened exactly, subnormals and specials included: the
    /// algorithm of <see cref="Float16.Widen"/> on 4-lane registers.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<float> WidenHalves(Vector128<uint> halves)
    {
        Vector128<uint> sign = (halves & Vector128.Create(0x8000u)) << 16;
        Vector128<uint> shifted = (halves & Vector128.Create(0x7FFFu)) << 13;
        Vector128<uint> exponent = shifted & Vector128.Create(0x0F800000u);
        Vector128<uint> rebased = shifted + Vector128.Create(0x38000000u);
        rebased += Vector128.Equals(exponent, Vector128.Create(0x0F800000u)) & Vector128.Create(0x38000000u);
        Vector128<uint> isSmall = Vector128.Equals(exponent, Vector128<uint>.Zero);
        Vector128<float> renormalized =
            (rebased + Vector128.Create(0x00800000u)).AsSingle() - Vector128.Create(0x38800000u).AsSingle();
        return (Vector128.ConditionalSelect(isSmall, renormalized.AsUInt32(), rebased) | sign).AsSingle();
    }
}

using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Liaoyuan.Operators.Quantization;

/// <summary>
/// Vectorized Q8_K quantization, byte-identical to <see cref="KQuants.QuantizeQ8_K"/>: every product
/// iscale * x lies within ±127, where vroundps' ties-to-even equals ggml's nearest_int.
/// </summary>
internal static class Q8KActivationQuantizer
{
    private const int SuperBlock = 256;

    public static void Quantize(ReadOnlySpan<float> src, Span<byte> dst)
    {
        if (!Avx2.IsSupported)
        {
            if (Vector128.IsHardwareAccelerated)
                QuantizeFourLanes(src, dst);
            else
                KQuants.QuantizeQ8_K(src, dst);
            return;
        }
        for (int block = 0; block < src.Length / SuperBlock; block++)
            QuantizeBlock(src.Slice(block * SuperBlock, SuperBlock), dst.Slice(block * Q8_KLayout.Bytes, Q8_KLayout.Bytes));
    }

    /// <summary>The same bytes with 4-lane vectors (ARM64's path; portable, so tested everywhere).</summary>
    internal static void QuantizeFourLanes(ReadOnlySpan<float> src, Span<byte> dst)
    {
        for (int block = 0; block < src.Length / SuperBlock; block++)
        {
            ReadOnlySpan<float> x = src.Slice(block * SuperBlock, SuperBlock);
            Span<byte> y = dst.Slice(block * Q8_KLayout.Bytes, Q8_KLayout.Bytes);
            ref float source = ref MemoryMarshal.GetReference(x);
            Vector128<float> maxAbs = Vector128<float>.Zero;
            for (int i = 0; i < SuperBlock; i += 4)
                maxAbs = Vector128.Max(maxAbs, Vector128.Abs(Vector128.LoadUnsafe(ref source, (nuint)i)));
            float amax = MathF.Max(MathF.Max(maxAbs[0], maxAbs[1]), MathF.Max(maxAbs[2], maxAbs[3]));
            if (amax == 0)
            {
                y.Clear();
                continue;
            }
            float iscale = -127f / FirstOfMagnitude(x, amax);
            Vector128<float> multiplier = Vector128.Create(iscale);
            Vector128<int> ceiling = Vector128.Create(127);
            ref sbyte quants = ref Unsafe.As<byte, sbyte>(ref y[Q8_KLayout.Quants]);
            Span<short> groupSums = MemoryMarshal.Cast<byte, short>(y.Slice(Q8_KLayout.GroupSums, 32));
            for (int group = 0; group < 16; group++)
            {
                int at = 16 * group;
                Vector128<int> q0 = Level(ref source, at, multiplier, ceiling), q1 = Level(ref source, at + 4, multiplier, ceiling);
                Vector128<int> q2 = Level(ref source, at + 8, multiplier, ceiling), q3 = Level(ref source, at + 12, multiplier, ceiling);
                Vector128.Narrow(Vector128.Narrow(q0, q1), Vector128.Narrow(q2, q3)).StoreUnsafe(ref quants, (nuint)at);
                groupSums[group] = (short)Vector128.Sum((q0 + q1) + (q2 + q3));
            }
            BinaryPrimitives.WriteSingleLittleEndian(y, 1 / iscale);
        }

        static Vector128<int> Level(ref float source, int at, Vector128<float> multiplier, Vector128<int> ceiling) =>
            Vector128.Min(ceiling, Vector128.ConvertToInt32(Vector128.Round(Vector128.LoadUnsafe(ref source, (nuint)at) * multiplier)));
    }

    /// <summary>ggml keeps the sign of the first element of largest magnitude.</summary>
    private static float FirstOfMagnitude(ReadOnlySpan<float> x, float amax)
    {
        foreach (float v in x)
            if (MathF.Abs(v) == amax)
                return v;
        return amax;
    }

    private static void QuantizeBlock(ReadOnlySpan<float> x, Span<byte> y)
    {
        ref float source = ref MemoryMarshal.GetReference(x);
        Vector256<float> maxAbs = Vector256<float>.Zero;
        for (int i = 0; i < SuperBlock; i += 8)
            maxAbs = Avx.Max(maxAbs, Vector256.Abs(Vector256.LoadUnsafe(ref source, (nuint)i)));
        float amax = 0;
        for (int lane = 0; lane < 8; lane++)
            amax = MathF.Max(amax, maxAbs[lane]);
        if (amax == 0)
        {
            y.Clear();
            return;
        }
        float iscale = -127f / FirstOfMagnitude(x, amax);
        Vector256<float> multiplier = Vector256.Create(iscale);
        Vector256<int> ceiling = Vector256.Create(127);
        ref sbyte quants = ref Unsafe.As<byte, sbyte>(ref y[Q8_KLayout.Quants]);
        Span<short> groupSums = MemoryMarshal.Cast<byte, short>(y.Slice(Q8_KLayout.GroupSums, 32));
        for (int group = 0; group < 16; group++)
        {
            int at = 16 * group;
            Vector256<int> q0 = Avx2.Min(ceiling, Avx.ConvertToVector256Int32(
                Avx.RoundToNearestInteger(Vector256.LoadUnsafe(ref source, (nuint)at) * multiplier)));
            Vector256<int> q1 = Avx2.Min(ceiling, Avx.ConvertToVector256Int32(
                Avx.RoundToNearestInteger(Vector256.LoadUnsafe(ref source, (nuint)(at + 8)) * multiplier)));
            Vector256<short> packed = Vector256.Narrow(q0, q1);
            Vector128<sbyte> bytes = Vector128.Narrow(packed.GetLower(), packed.GetUpper());
            bytes.StoreUnsafe(ref quants, (nuint)at);
            groupSums[group] = (short)Vector256.Sum(q0 + q1);
        }
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("Q8_K group sums are written in host order");
        BinaryPrimitives.WriteSingleLittleEndian(y, 1 / iscale);
    }
}

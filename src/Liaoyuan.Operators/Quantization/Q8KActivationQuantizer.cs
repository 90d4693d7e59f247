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
            KQuants.QuantizeQ8_K(src, dst);
            return;
        }
        for (int block = 0; block < src.Length / SuperBlock; block++)
            QuantizeBlock(src.Slice(block * SuperBlock, SuperBlock), dst.Slice(block * Q8_KLayout.Bytes, Q8_KLayout.Bytes));
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
        // ggml keeps the sign of the first element of largest magnitude.
        float max = 0;
        for (int i = 0; i < SuperBlock; i++)
        {
            if (MathF.Abs(x[i]) == amax)
            {
                max = x[i];
                break;
            }
        }

        float iscale = -127f / max;
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

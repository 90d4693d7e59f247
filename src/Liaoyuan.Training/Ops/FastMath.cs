using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Liaoyuan.Training.Ops;

/// <summary>
/// Vectorised exponentials for the training-only hot loops (softmax over the vocabulary, SwiGLU). Vector256.Exp
/// can differ from MathF.Exp in the last bit, which training does not care about; the inference-matching paths
/// (attention's softmax) keep MathF.Exp.
/// </summary>
internal static class FastMath
{
    /// <summary>x[i] ← exp(x[i] − shift); returns Σ, accumulated per lane in float and reduced in double.</summary>
    public static double ExpShiftedInPlace(Span<float> x, float shift)
    {
        ref float xr = ref MemoryMarshal.GetReference(x);
        int i = 0;
        double sum = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var s = Vector256.Create(shift);
            var acc = Vector256<float>.Zero;
            for (; i + 8 <= x.Length; i += 8)
            {
                var e = Vector256.Exp(Vector256.LoadUnsafe(ref xr, (nuint)i) - s);
                e.StoreUnsafe(ref xr, (nuint)i);
                acc += e;
            }
            for (int lane = 0; lane < 8; lane++) sum += acc[lane];
        }
        for (; i < x.Length; i++)
        {
            x[i] = MathF.Exp(x[i] - shift);
            sum += x[i];
        }
        return sum;
    }

    /// <summary>dz[i] ← p[i] · (dz[i] − weighted) · scale: the softmax backward once Σ p·dp is known.</summary>
    public static void SoftmaxBackwardInPlace(ReadOnlySpan<float> p, Span<float> dz, float weighted, float scale)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var w = Vector256.Create(weighted);
            var s = Vector256.Create(scale);
            for (; i + 8 <= dz.Length; i += 8)
                (Vector256.Create(p.Slice(i, 8)) * (Vector256.Create(dz.Slice(i, 8)) - w) * s).CopyTo(dz.Slice(i, 8));
        }
        for (; i < dz.Length; i++) dz[i] = p[i] * (dz[i] - weighted) * scale;
    }

    /// <summary>σ(x) = 1 / (1 + e^−x), elementwise.</summary>
    public static Vector256<float> Sigmoid(Vector256<float> x) => Vector256<float>.One / (Vector256<float>.One + Vector256.Exp(-x));
}

using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Liaoyuan.Operators.Quantization;

namespace Liaoyuan.Operators.Vectors;

/// <summary>
/// Element-wise float kernels for attention and normalization. Multiply-adds are fused, as in ggml's
/// vector helpers (ggml_vec_mad_f32 and friends built with FMA).
/// </summary>
public static class VectorMath
{
    /// <summary>Dot product in ggml_vec_dot_f32's summation order.</summary>
    public static float Dot(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        CheckSameLength(x.Length, y.Length);
        return Vector256.IsHardwareAccelerated ? FloatDotProducts.F32(x, y)
            : NeonFloatDotProducts.IsSupported ? NeonFloatDotProducts.F32(x, y) : FloatDotProducts.Scalar.F32(x, y);
    }

    /// <summary>y += a * x.</summary>
    public static void Axpy(float a, ReadOnlySpan<float> x, Span<float> y)
    {
        CheckSameLength(x.Length, y.Length);
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float yr = ref MemoryMarshal.GetReference(y);
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> va = Vector256.Create(a);
            for (; i + 8 <= x.Length; i += 8)
                Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref xr, (nuint)i), va, Vector256.LoadUnsafe(ref yr, (nuint)i))
                    .StoreUnsafe(ref yr, (nuint)i);
        }
        for (; i < x.Length; i++)
            y[i] = MathF.FusedMultiplyAdd(x[i], a, y[i]);
    }

    /// <summary>x *= a, in place.</summary>
    public static void Scale(Span<float> x, float a)
    {
        ref float xr = ref MemoryMarshal.GetReference(x);
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            Vector256<float> va = Vector256.Create(a);
            for (; i + 8 <= x.Length; i += 8)
                (Vector256.LoadUnsafe(ref xr, (nuint)i) * va).StoreUnsafe(ref xr, (nuint)i);
        }
        for (; i < x.Length; i++)
            x[i] *= a;
    }

    /// <summary>destination = x + y (destination may alias either input).</summary>
    public static void Add(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> destination)
    {
        CheckSameLength(x.Length, y.Length);
        CheckSameLength(x.Length, destination.Length);
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float yr = ref MemoryMarshal.GetReference(y);
        ref float dr = ref MemoryMarshal.GetReference(destination);
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 8 <= x.Length; i += 8)
                (Vector256.LoadUnsafe(ref xr, (nuint)i) + Vector256.LoadUnsafe(ref yr, (nuint)i)).StoreUnsafe(ref dr, (nuint)i);
        }
        for (; i < x.Length; i++)
            destination[i] = x[i] + y[i];
    }

    /// <summary>destination = x * y element-wise (destination may alias either input).</summary>
    public static void Multiply(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> destination)
    {
        CheckSameLength(x.Length, y.Length);
        CheckSameLength(x.Length, destination.Length);
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float yr = ref MemoryMarshal.GetReference(y);
        ref float dr = ref MemoryMarshal.GetReference(destination);
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 8 <= x.Length; i += 8)
                (Vector256.LoadUnsafe(ref xr, (nuint)i) * Vector256.LoadUnsafe(ref yr, (nuint)i)).StoreUnsafe(ref dr, (nuint)i);
        }
        for (; i < x.Length; i++)
            destination[i] = x[i] * y[i];
    }

    /// <summary>The largest element (negative infinity for an empty span). NaNs are ignored.</summary>
    public static float Max(ReadOnlySpan<float> x)
    {
        float max = float.NegativeInfinity;
        int i = 0;
        if (Vector256.IsHardwareAccelerated && x.Length >= 8)
        {
            ref float xr = ref MemoryMarshal.GetReference(x);
            Vector256<float> vmax = Vector256.Create(float.NegativeInfinity);
            for (; i + 8 <= x.Length; i += 8)
                vmax = Vector256.MaxNative(vmax, Vector256.LoadUnsafe(ref xr, (nuint)i));
            for (int lane = 0; lane < 8; lane++)
                max = MathF.Max(max, vmax[lane]);
        }
        for (; i < x.Length; i++)
            if (x[i] > max)
                max = x[i];
        return max;
    }

    /// <summary>
    /// destination[i] = exp(x[i] - max); returns their sum accumulated in double, as ggml's soft-max does.
    /// Uses MathF.Exp, not ggml's vectorized exp approximation, so results can differ in the last bits.
    /// </summary>
    public static double ExpAndSum(ReadOnlySpan<float> x, float max, Span<float> destination)
    {
        CheckSameLength(x.Length, destination.Length);
        double sum = 0;
        for (int i = 0; i < x.Length; i++)
        {
            float e = MathF.Exp(x[i] - max);
            destination[i] = e;
            sum += e;
        }
        return sum;
    }

    /// <summary>Sum of squares as ggml's RMS norm takes it: float products, accumulated in double, in element order.</summary>
    public static double SumOfSquares(ReadOnlySpan<float> x)
    {
        double sum = 0;
        foreach (float v in x)
            sum += v * v;
        return sum;
    }

    private static void CheckSameLength(int a, int b)
    {
        if (a != b)
            throw new ArgumentException($"spans differ in length ({a} and {b})");
    }
}

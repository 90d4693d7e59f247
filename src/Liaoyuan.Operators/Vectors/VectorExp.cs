using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Liaoyuan.Operators.Vectors;

/// <summary>
/// exp(x) on eight floats, within 2 ulp of the true value for normal results: x = n·ln2 + r with |r| ≤ ln2/2
/// (ln2 split in two so r is exact enough), a degree-6 minimax polynomial for e^r, and 2^n put into the exponent
/// bits. Results below the smallest normal float flush to zero, and above x = 88.376 (exp within 30% of the
/// largest float) give +∞; NaN stays NaN. Like ggml's vectorized exp, it
/// trades MathF.Exp's last bit for speed in soft-max and SiLU, where a scalar call per element dominated.
/// </summary>
public static class VectorExp
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp(Vector256<float> x)
    {
        var clamped = Vector256.Min(Vector256.Max(x, Vector256.Create(-87.33654f)), Vector256.Create(88.3762589f));
        var n = Vector256.Round(clamped * Vector256.Create(1.44269504088896341f));
        var r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-0.693359375f), clamped);
        r = Vector256.FusedMultiplyAdd(n, Vector256.Create(2.12194440e-4f), r);
        var p = Vector256.Create(1.9875691500e-4f);
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.3981999507e-3f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(8.3334519073e-3f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(4.1665795894e-2f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.6666665459e-1f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(5.0000001201e-1f));
        var e = Vector256.FusedMultiplyAdd(p, r * r, r) + Vector256<float>.One;
        var scale = ((Vector256.ConvertToInt32(n) + Vector256.Create(127)) << 23).AsSingle();
        var result = e * scale;
        result = Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256.Create(-87.33654f)), Vector256<float>.Zero, result);
        result = Vector256.ConditionalSelect(Vector256.GreaterThan(x, Vector256.Create(88.3762589f)), Vector256.Create(float.PositiveInfinity), result);
        return Vector256.ConditionalSelect(Vector256.IsNaN(x), x, result);
    }

    /// <summary>
    /// One value through the same lane arithmetic: tails use it, so an element's result never depends on where it
    /// falls in a vector (a batch of rows must give each row the bits it gets alone).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Exp(float x) => Exp(Vector256.Create(x)).ToScalar();

    /// <summary>destination[i] = exp(x[i] − max); returns the sum of the results in element order, in double.</summary>
    public static double ExpAndSum(Span<float> values, float max)
    {
        int i = 0;
        double sum = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var shift = Vector256.Create(max);
            for (; i + 8 <= values.Length; i += 8)
            {
                var e = Exp(Vector256.Create(values[i..]) - shift);
                e.CopyTo(values[i..]);
                for (int lane = 0; lane < 8; lane++) sum += e[lane];
            }
        }
        for (; i < values.Length; i++)
        {
            float e = Vector256.IsHardwareAccelerated ? Exp(values[i] - max) : MathF.Exp(values[i] - max);
            values[i] = e;
            sum += e;
        }
        return sum;
    }
}

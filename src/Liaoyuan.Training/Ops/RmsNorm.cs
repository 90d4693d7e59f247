using System.Runtime.Intrinsics;
using Liaoyuan.Operators.Vectors;

namespace Liaoyuan.Training.Ops;

/// <summary>
/// y = x · r ⊙ w with r = 1 / sqrt(mean(x²) + ε), per row. The squares are float products summed in double, as
/// the inference kernel does (in lanes rather than element order, which moves only the last bits of a double).
/// Backward, with x̂ = x·r and g = dy ⊙ w:  dx = r · (g − x̂ · mean(g ⊙ x̂)),  dw += Σ_rows dy ⊙ x̂.
/// </summary>
public static class RmsNorm
{
    public static void Forward(Compute compute, float[] x, float[] weight, float epsilon, float[] y, float[] inverseRms, int rows) =>
        Forward(compute, x, delta: null, x, weight, epsilon, y, inverseRms, rows);

    /// <summary>
    /// The residual step and the norm that follows it in one pass: <paramref name="sum"/> = residual + delta,
    /// then y = norm(sum).
    /// </summary>
    public static void AddForward(Compute compute, float[] residual, float[] delta, float[] sum, float[] weight, float epsilon,
        float[] y, float[] inverseRms, int rows) =>
        Forward(compute, residual, delta, sum, weight, epsilon, y, inverseRms, rows);

    private static void Forward(Compute compute, float[] x, float[]? delta, float[] sum, float[] weight, float epsilon,
        float[] y, float[] inverseRms, int rows)
    {
        int n = weight.Length;
        compute.ForRanges(rows, 64, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                var row = sum.AsSpan(r * n, n);
                if (delta is not null) VectorMath.Add(x.AsSpan(r * n, n), delta.AsSpan(r * n, n), row);
                float scale = 1.0f / MathF.Sqrt((float)(SumOfSquares(row) / n) + epsilon);
                inverseRms[r] = scale;
                var output = y.AsSpan(r * n, n);
                int i = 0;
                if (Vector256.IsHardwareAccelerated)
                {
                    var s = Vector256.Create(scale);
                    for (; i + 8 <= n; i += 8)
                        (Vector256.Create(row.Slice(i, 8)) * s * Vector256.Create(weight.AsSpan(i, 8))).CopyTo(output.Slice(i, 8));
                }
                for (; i < n; i++) output[i] = row[i] * scale * weight[i];
            }
        });
    }

    /// <summary>Adds the gradient to <paramref name="dx"/> (the residual stream's gradient) and to dw.</summary>
    public static void Backward(Compute compute, float[] x, float[] weight, float[] inverseRms, float[] dy, float[] dx, float[] weightGrad, int rows)
    {
        int n = weight.Length;
        compute.ForRanges(rows, 64, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                float scale = inverseRms[r];
                var xr = x.AsSpan(r * n, n);
                var dyr = dy.AsSpan(r * n, n);
                var dxr = dx.AsSpan(r * n, n);
                double dot = 0;
                int i = 0;
                if (Vector256.IsHardwareAccelerated)
                {
                    Vector256<double> low = Vector256<double>.Zero, high = Vector256<double>.Zero;
                    for (; i + 8 <= n; i += 8)
                    {
                        var (l, h) = Vector256.Widen(Vector256.Create(dyr.Slice(i, 8)) * Vector256.Create(weight.AsSpan(i, 8)) * Vector256.Create(xr.Slice(i, 8)));
                        low += l;
                        high += h;
                    }
                    dot = Vector256.Sum(low + high);
                }
                for (; i < n; i++) dot += dyr[i] * weight[i] * xr[i];
                float meanGx = (float)(dot / n) * scale;
                i = 0;
                if (Vector256.IsHardwareAccelerated)
                {
                    var s = Vector256.Create(scale);
                    var m = Vector256.Create(meanGx);
                    for (; i + 8 <= n; i += 8)
                    {
                        var g = Vector256.Create(dyr.Slice(i, 8)) * Vector256.Create(weight.AsSpan(i, 8));
                        (Vector256.Create(dxr.Slice(i, 8)) + s * (g - Vector256.Create(xr.Slice(i, 8)) * s * m)).CopyTo(dxr.Slice(i, 8));
                    }
                }
                for (; i < n; i++)
                    dxr[i] += scale * (dyr[i] * weight[i] - xr[i] * scale * meanGx);
            }
        });
        // Column slices, each summed over the rows in order: deterministic without per-thread partials, and the
        // inner loop runs along a row so it vectorises.
        compute.ForRanges(n, 64, (c0, c1) =>
        {
            int width = c1 - c0;
            Span<float> sum = stackalloc float[width];
            sum.Clear();
            for (int r = 0; r < rows; r++)
            {
                var d = dy.AsSpan(r * n + c0, width);
                var xr = x.AsSpan(r * n + c0, width);
                float scale = inverseRms[r];
                int i = 0;
                if (Vector256.IsHardwareAccelerated)
                {
                    var s = Vector256.Create(scale);
                    for (; i + 8 <= width; i += 8)
                        (Vector256.Create(sum.Slice(i, 8)) + Vector256.Create(d.Slice(i, 8)) * Vector256.Create(xr.Slice(i, 8)) * s).CopyTo(sum.Slice(i, 8));
                }
                for (; i < width; i++) sum[i] += d[i] * xr[i] * scale;
            }
            for (int i = 0; i < width; i++) weightGrad[c0 + i] += sum[i];
        });
    }

    /// <summary>Σ x² with each square rounded to float, accumulated in double lanes.</summary>
    private static double SumOfSquares(ReadOnlySpan<float> x)
    {
        double sum = 0;
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            Vector256<double> low = Vector256<double>.Zero, high = Vector256<double>.Zero;
            for (; i + 8 <= x.Length; i += 8)
            {
                var v = Vector256.Create(x.Slice(i, 8));
                var (l, h) = Vector256.Widen(v * v);
                low += l;
                high += h;
            }
            sum = Vector256.Sum(low + high);
        }
        for (; i < x.Length; i++) sum += x[i] * x[i];
        return sum;
    }
}

using System.Runtime.Intrinsics;

namespace Liaoyuan.Training.Ops;

/// <summary>
/// y = x · r ⊙ w with r = 1 / sqrt(mean(x²) + ε), per row. The sum of squares is taken in double as the
/// inference kernel does, so the two forwards round alike.
/// Backward, with x̂ = x·r and g = dy ⊙ w:  dx = r · (g − x̂ · mean(g ⊙ x̂)),  dw += Σ_rows dy ⊙ x̂.
/// </summary>
public static class RmsNorm
{
    public static void Forward(Compute compute, float[] x, float[] weight, float epsilon, float[] y, float[] inverseRms, int rows)
    {
        int n = weight.Length;
        compute.ForRanges(rows, 64, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                var row = x.AsSpan(r * n, n);
                double sum = 0;
                foreach (float v in row) sum += (double)(v * v);
                float scale = 1.0f / MathF.Sqrt((float)(sum / n) + epsilon);
                inverseRms[r] = scale;
                var output = y.AsSpan(r * n, n);
                for (int i = 0; i < n; i++) output[i] = row[i] * scale * weight[i];
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
                double dot = 0;
                for (int i = 0; i < n; i++) dot += dyr[i] * weight[i] * xr[i];
                float meanGx = (float)(dot / n) * scale;
                var dxr = dx.AsSpan(r * n, n);
                for (int i = 0; i < n; i++)
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
}

namespace Liaoyuan.Training.Ops;

/// <summary>y[r] += b for every row (qwen2's Q, K and V biases); backward: db += Σᵣ dy[r].</summary>
public static class Bias
{
    public static void Forward(Compute compute, float[] y, float[] bias, int rows)
    {
        int n = bias.Length;
        compute.ForRanges(rows, 64, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                var row = y.AsSpan(r * n, n);
                for (int i = 0; i < n; i++) row[i] += bias[i];
            }
        });
    }

    /// <summary>Column slices, each summed over the rows in order, so the result does not depend on the thread count.</summary>
    public static void Backward(Compute compute, float[] dy, float[] biasGrad, int rows)
    {
        int n = biasGrad.Length;
        compute.ForRanges(n, 64, (c0, c1) =>
        {
            for (int r = 0; r < rows; r++)
            {
                var d = dy.AsSpan(r * n + c0, c1 - c0);
                for (int i = 0; i < d.Length; i++) biasGrad[c0 + i] += d[i];
            }
        });
    }
}

using Liaoyuan.Operators.Vectors;

namespace Liaoyuan.Training.Ops;

/// <summary>
/// Mean next-token cross-entropy: loss = (1/N) Σₜ [log Σᵥ e^(zₜᵥ) − zₜ,target]. The gradient
/// ∂loss/∂zₜᵥ = (softmaxₜᵥ − [v = target]) / N is written over the logits, which are not needed afterwards.
/// </summary>
public static class CrossEntropy
{
    /// <summary>
    /// Returns the mean loss and replaces <paramref name="logits"/> with its gradient times
    /// <paramref name="gradientScale"/> (1 for a single batch, 1/k when k micro-batches are accumulated).
    /// </summary>
    public static double ForwardBackward(Compute compute, float[] logits, int[] targets, int vocab, float gradientScale)
    {
        int rows = targets.Length;
        var rowLoss = new double[rows];
        float scale = gradientScale / rows;
        compute.ForRanges(rows, 16, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                var z = logits.AsSpan(r * vocab, vocab);
                int target = targets[r];
                if ((uint)target >= (uint)vocab) throw new ArgumentOutOfRangeException(nameof(targets), $"target {target} is outside the vocabulary of {vocab}");
                float targetLogit = z[target], max = VectorMath.Max(z);
                double sum = FastMath.ExpShiftedInPlace(z, max);
                rowLoss[r] = Math.Log(sum) + max - targetLogit;
                float inverse = (float)(1.0 / sum) * scale;
                VectorMath.Scale(z, inverse);
                z[target] -= scale;
            }
        });
        double total = 0;
        foreach (double l in rowLoss) total += l;
        return total / rows;
    }

    /// <summary>The mean loss only, leaving the logits untouched (held-out evaluation).</summary>
    public static double Loss(float[] logits, int[] targets, int vocab)
    {
        double total = 0;
        for (int r = 0; r < targets.Length; r++)
        {
            var z = logits.AsSpan(r * vocab, vocab);
            float max = float.NegativeInfinity;
            foreach (float v in z) max = MathF.Max(max, v);
            double sum = 0;
            foreach (float v in z) sum += MathF.Exp(v - max);
            total += Math.Log(sum) + max - z[targets[r]];
        }
        return total / targets.Length;
    }
}

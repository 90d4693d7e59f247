using Liaoyuan.Operators.Vectors;

namespace Liaoyuan.Training.Ops;

/// <summary>
/// Mean next-token cross-entropy over the scored positions: loss = (1/N) Σₜ [log Σᵥ e^(zₜᵥ) − zₜ,target], where a
/// target of <see cref="Ignored"/> (a prompt token in fine-tuning, or padding) takes no part and N counts the rest.
/// The gradient ∂loss/∂zₜᵥ = (softmaxₜᵥ − [v = target]) / N is written over the logits, which are not needed
/// afterwards; ignored rows get a zero gradient.
/// </summary>
public static class CrossEntropy
{
    /// <summary>The target that marks a position as not scored.</summary>
    public const int Ignored = -1;

    /// <summary>
    /// Returns the mean loss and replaces <paramref name="logits"/> with its gradient times
    /// <paramref name="gradientScale"/> (1 for a single batch, 1/k when k micro-batches are accumulated).
    /// A batch with no scored position has loss 0 and a zero gradient.
    /// </summary>
    public static double ForwardBackward(Compute compute, float[] logits, int[] targets, int vocab, float gradientScale)
    {
        int rows = targets.Length;
        int scored = ScoredCount(targets, vocab);
        var rowLoss = new double[rows];
        float scale = scored > 0 ? gradientScale / scored : 0f;
        compute.ForRanges(rows, 16, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                var z = logits.AsSpan(r * vocab, vocab);
                int target = targets[r];
                if (target == Ignored)
                {
                    z.Clear();
                    continue;
                }
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
        return scored > 0 ? total / scored : 0;
    }

    /// <summary>The mean loss only, leaving the logits untouched (held-out evaluation).</summary>
    public static double Loss(float[] logits, int[] targets, int vocab)
    {
        var (sum, count) = Sum(logits, targets, vocab);
        return count > 0 ? sum / count : 0;
    }

    /// <summary>The summed loss over the scored positions and their number, for means over several batches.</summary>
    public static (double Sum, int Count) Sum(float[] logits, int[] targets, int vocab)
    {
        int count = ScoredCount(targets, vocab);
        double total = 0;
        for (int r = 0; r < targets.Length; r++)
        {
            if (targets[r] == Ignored) continue;
            var z = logits.AsSpan(r * vocab, vocab);
            float max = float.NegativeInfinity;
            foreach (float v in z) max = MathF.Max(max, v);
            double sum = 0;
            foreach (float v in z) sum += MathF.Exp(v - max);
            total += Math.Log(sum) + max - z[targets[r]];
        }
        return (total, count);
    }

    private static int ScoredCount(int[] targets, int vocab)
    {
        int scored = 0;
        foreach (int target in targets)
        {
            if (target == Ignored) continue;
            if ((uint)target >= (uint)vocab) throw new ArgumentOutOfRangeException(nameof(targets), $"target {target} is outside the vocabulary of {vocab}");
            scored++;
        }
        return scored;
    }
}

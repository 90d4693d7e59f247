namespace Liaoyuan.Training.Tests.Ops;

/// <summary>
/// The ops' forward passes in float64, written straight from the equations. Central differences of these give
/// the numerical gradients that the fp32 backward passes are checked against.
/// </summary>
internal static class ReferenceOps
{
    public static double[] MatMul(double[] x, double[] w, int rows, int inputs, int outputs)
    {
        var y = new double[rows * outputs];
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < outputs; o++)
            {
                double sum = 0;
                for (int i = 0; i < inputs; i++) sum += x[r * inputs + i] * w[o * inputs + i];
                y[r * outputs + o] = sum;
            }
        return y;
    }

    public static double[] RmsNorm(double[] x, double[] w, double epsilon, int rows)
    {
        int n = w.Length;
        var y = new double[x.Length];
        for (int r = 0; r < rows; r++)
        {
            double meanSquare = 0;
            for (int i = 0; i < n; i++) meanSquare += x[r * n + i] * x[r * n + i];
            double scale = 1 / Math.Sqrt(meanSquare / n + epsilon);
            for (int i = 0; i < n; i++) y[r * n + i] = x[r * n + i] * scale * w[i];
        }
        return y;
    }

    public static double[] Rope(double[] x, int rows, int heads, int headDim, int context, double freqBase, bool neox = false)
    {
        var y = (double[])x.Clone();
        for (int r = 0; r < rows; r++)
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < headDim / 2; i++)
                {
                    double angle = r % context * Math.Pow(freqBase, -2.0 * i / headDim);
                    int at = r * heads * headDim + h * headDim + (neox ? i : 2 * i), partner = at + (neox ? headDim / 2 : 1);
                    double a = x[at], b = x[partner];
                    y[at] = a * Math.Cos(angle) - b * Math.Sin(angle);
                    y[partner] = a * Math.Sin(angle) + b * Math.Cos(angle);
                }
        return y;
    }

    public static double[] Attention(double[] q, double[] k, double[] v, int sequences, int heads, int kvHeads, int headDim, int context)
    {
        int qw = heads * headDim, kw = kvHeads * headDim;
        var o = new double[sequences * context * qw];
        for (int b = 0; b < sequences; b++)
            for (int h = 0; h < heads; h++)
            {
                int g = h / (heads / kvHeads);
                for (int t = 0; t < context; t++)
                {
                    var scores = new double[t + 1];
                    for (int s = 0; s <= t; s++)
                    {
                        double dot = 0;
                        for (int i = 0; i < headDim; i++) dot += q[(b * context + t) * qw + h * headDim + i] * k[(b * context + s) * kw + g * headDim + i];
                        scores[s] = dot / Math.Sqrt(headDim);
                    }
                    double max = scores.Max(), sum = scores.Sum(s => Math.Exp(s - max));
                    for (int s = 0; s <= t; s++)
                    {
                        double p = Math.Exp(scores[s] - max) / sum;
                        for (int i = 0; i < headDim; i++)
                            o[(b * context + t) * qw + h * headDim + i] += p * v[(b * context + s) * kw + g * headDim + i];
                    }
                }
            }
        return o;
    }

    public static double[] SwiGlu(double[] gate, double[] up)
    {
        var h = new double[gate.Length];
        for (int i = 0; i < h.Length; i++) h[i] = gate[i] / (1 + Math.Exp(-gate[i])) * up[i];
        return h;
    }

    public static double CrossEntropy(double[] logits, int[] targets, int vocab)
    {
        double total = 0;
        for (int r = 0; r < targets.Length; r++)
        {
            var z = logits.AsSpan(r * vocab, vocab);
            double max = double.NegativeInfinity;
            foreach (double value in z) max = Math.Max(max, value);
            double sum = 0;
            foreach (double value in z) sum += Math.Exp(value - max);
            total += Math.Log(sum) + max - z[targets[r]];
        }
        return total / targets.Length;
    }

    /// <summary>Σ upstream ⊙ y: the scalar whose gradient with respect to the op's inputs is what backward computes.</summary>
    public static double Project(double[] y, double[] upstream)
    {
        double sum = 0;
        for (int i = 0; i < y.Length; i++) sum += y[i] * upstream[i];
        return sum;
    }
}

using Liaoyuan.Operators.Vectors;

namespace Liaoyuan.Training.Ops;

/// <summary>x[t] = E[token[t]]; backward scatters dx rows back into dE.</summary>
public static class Embedding
{
    public static void Forward(float[] table, int[] tokens, float[] x, int width, int vocab)
    {
        for (int t = 0; t < tokens.Length; t++)
        {
            if ((uint)tokens[t] >= (uint)vocab)
                throw new ArgumentOutOfRangeException(nameof(tokens), $"token id {tokens[t]} is outside the vocabulary of {vocab}");
            Array.Copy(table, (long)tokens[t] * width, x, (long)t * width, width);
        }
    }

    /// <summary>dE[token[t]] += dx[t], split by columns so each element's sum runs over t in order.</summary>
    public static void Backward(Compute compute, float[] dx, int[] tokens, float[] tableGrad, int width)
    {
        compute.ForRanges(width, 64, (c0, c1) =>
        {
            for (int t = 0; t < tokens.Length; t++)
            {
                var target = tableGrad.AsSpan(tokens[t] * width + c0, c1 - c0);
                VectorMath.Add(target, dx.AsSpan(t * width + c0, c1 - c0), target);
            }
        });
    }
}

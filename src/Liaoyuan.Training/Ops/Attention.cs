using System.Buffers;
using Liaoyuan.Operators.Vectors;

namespace Liaoyuan.Training.Ops;

/// <summary>The head layout of grouped-query attention: query head h reads key/value head h / (heads / kvHeads).</summary>
public readonly record struct AttentionShape(int Heads, int KvHeads, int HeadDim, int Context)
{
    public int QueryWidth => Heads * HeadDim;
    public int KeyWidth => KvHeads * HeadDim;
    public float Scale => 1.0f / MathF.Sqrt(HeadDim);
}

/// <summary>
/// Causal attention over sequences of <c>Context</c> rows: for each head, P = softmax(q·kᵀ·scale) over earlier
/// positions and o = P·v. The probabilities P [sequence, head, t, s] (zero above the diagonal) are kept for the
/// backward pass:
///   dv += Pᵀ·do,  dP = do·vᵀ,  dS = P ⊙ (dP − rowsum(P ⊙ dP)),  dq = scale·dS·k,  dk += scale·dSᵀ·q.
/// Each product runs through the blocked GEMM on one head's T×T block, in bands of rows (or columns) that stop at
/// the diagonal, so only the band's share of the masked upper triangle is computed.
/// </summary>
public static class Attention
{
    private static readonly Compute Serial = new(1);
    private const int Band = 64;

    public static long ProbabilityCount(int sequences, AttentionShape shape) => (long)sequences * shape.Heads * shape.Context * shape.Context;

    public static void Forward(Compute compute, float[] q, float[] k, float[] v, float[] output, float[] probabilities, int sequences, AttentionShape shape)
    {
        int T = shape.Context, hd = shape.HeadDim, qw = shape.QueryWidth, kw = shape.KeyWidth, group = shape.Heads / shape.KvHeads;
        float scale = shape.Scale;
        compute.For(sequences * shape.Heads, task =>
        {
            int b = task / shape.Heads, h = task % shape.Heads, kvHead = h / group;
            int pOffset = (int)((long)task * T * T), qOffset = b * T * qw + h * hd, kvOffset = b * T * kw + kvHead * hd;
            // Scores into the probability block (each band of rows only up to its last row's position), then a
            // causal softmax row by row.
            for (int r0 = 0; r0 < T; r0 += Band)
            {
                int r1 = Math.Min(T, r0 + Band);
                Gemm.Multiply(Serial, r1 - r0, r1, hd, q, qOffset + r0 * qw, qw, 1, k, kvOffset, 1, kw, probabilities, pOffset + r0 * T, T, accumulate: false);
            }
            for (int t = 0; t < T; t++)
            {
                var p = probabilities.AsSpan(pOffset + t * T, T);
                var visible = p[..(t + 1)];
                VectorMath.Scale(visible, scale);
                float max = VectorMath.Max(visible);
                double sum = FastMath.ExpShiftedInPlace(visible, max);
                VectorMath.Scale(visible, (float)(1.0 / sum));
                p[(t + 1)..].Clear();
            }
            for (int r0 = 0; r0 < T; r0 += Band)
            {
                int r1 = Math.Min(T, r0 + Band);
                Gemm.Multiply(Serial, r1 - r0, hd, r1, probabilities, pOffset + r0 * T, T, 1, v, kvOffset, kw, output, qOffset + r0 * qw, qw, accumulate: false);
            }
        });
    }

    /// <summary>Writes dq, dk and dv (overwriting them) from the output gradient.</summary>
    public static void Backward(Compute compute, float[] q, float[] k, float[] v, float[] probabilities, float[] outputGrad,
        float[] qGrad, float[] kGrad, float[] vGrad, int sequences, AttentionShape shape)
    {
        int T = shape.Context, hd = shape.HeadDim, qw = shape.QueryWidth, kw = shape.KeyWidth, group = shape.Heads / shape.KvHeads;
        float scale = shape.Scale;
        // One task per (sequence, kv head) owns every sum into that head's dk and dv, so no two threads add to
        // the same element and the order of additions is fixed.
        compute.For(sequences * shape.KvHeads, task =>
        {
            int b = task / shape.KvHeads, kvHead = task % shape.KvHeads;
            int kvOffset = b * T * kw + kvHead * hd;
            for (int s = 0; s < T; s++)
            {
                kGrad.AsSpan(kvOffset + s * kw, hd).Clear();
                vGrad.AsSpan(kvOffset + s * kw, hd).Clear();
            }
            var dScores = ArrayPool<float>.Shared.Rent(T * T);
            for (int h = kvHead * group; h < (kvHead + 1) * group; h++)
            {
                int pOffset = (int)(((long)b * shape.Heads + h) * T * T), qOffset = b * T * qw + h * hd;
                // dv += Pᵀ·do (key band [c0, c1) only meets queries t ≥ c0) and dP = do·vᵀ (query band up to the diagonal).
                for (int c0 = 0; c0 < T; c0 += Band)
                {
                    int c1 = Math.Min(T, c0 + Band);
                    Gemm.Multiply(Serial, c1 - c0, hd, T - c0, probabilities, pOffset + c0 * T + c0, 1, T,
                        outputGrad, qOffset + c0 * qw, qw, vGrad, kvOffset + c0 * kw, kw, accumulate: true);
                    Gemm.Multiply(Serial, c1 - c0, c1, hd, outputGrad, qOffset + c0 * qw, qw, 1, v, kvOffset, 1, kw, dScores, c0 * T, T, accumulate: false);
                }
                for (int t = 0; t < T; t++)
                {
                    var p = probabilities.AsSpan(pOffset + t * T, T);
                    var ds = dScores.AsSpan(t * T, T);
                    var visible = p[..(t + 1)];
                    var dVisible = ds[..(t + 1)];
                    float weighted = VectorMath.Dot(visible, dVisible);
                    FastMath.SoftmaxBackwardInPlace(visible, dVisible, weighted, scale);
                    ds[(t + 1)..].Clear();
                }
                // dq = dS·k and dk += dSᵀ·q (the scale is already folded into dS).
                for (int c0 = 0; c0 < T; c0 += Band)
                {
                    int c1 = Math.Min(T, c0 + Band);
                    Gemm.Multiply(Serial, c1 - c0, hd, c1, dScores, c0 * T, T, 1, k, kvOffset, kw, qGrad, qOffset + c0 * qw, qw, accumulate: false);
                    Gemm.Multiply(Serial, c1 - c0, hd, T - c0, dScores, c0 * T + c0, 1, T, q, qOffset + c0 * qw, qw, kGrad, kvOffset + c0 * kw, kw, accumulate: true);
                }
            }
            ArrayPool<float>.Shared.Return(dScores);
        });
    }
}

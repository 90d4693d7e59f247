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
/// positions and o = P·v. The probabilities P [sequence, head, t, s] are kept for the backward pass:
///   dv += Pᵀ·do,  dP = do·vᵀ,  dS = P ⊙ (dP − rowsum(P ⊙ dP)),  dq = scale·dS·k,  dk += scale·dSᵀ·q.
/// </summary>
public static class Attention
{
    public static long ProbabilityCount(int sequences, AttentionShape shape) => (long)sequences * shape.Heads * shape.Context * shape.Context;

    public static void Forward(Compute compute, float[] q, float[] k, float[] v, float[] output, float[] probabilities, int sequences, AttentionShape shape)
    {
        int T = shape.Context, hd = shape.HeadDim, qw = shape.QueryWidth, kw = shape.KeyWidth, group = shape.Heads / shape.KvHeads;
        float scale = shape.Scale;
        compute.For(sequences * shape.Heads, task =>
        {
            int b = task / shape.Heads, h = task % shape.Heads, kvHead = h / group;
            for (int t = 0; t < T; t++)
            {
                var query = q.AsSpan((b * T + t) * qw + h * hd, hd);
                var p = probabilities.AsSpan((int)(((long)task * T + t) * T), T);
                float max = float.NegativeInfinity;
                for (int s = 0; s <= t; s++)
                {
                    float score = VectorMath.Dot(query, k.AsSpan((b * T + s) * kw + kvHead * hd, hd)) * scale;
                    p[s] = score;
                    max = MathF.Max(max, score);
                }
                double sum = 0;
                for (int s = 0; s <= t; s++)
                {
                    float e = MathF.Exp(p[s] - max);
                    p[s] = e;
                    sum += e;
                }
                float inverse = (float)(1.0 / sum);
                var o = output.AsSpan((b * T + t) * qw + h * hd, hd);
                o.Clear();
                for (int s = 0; s <= t; s++)
                {
                    p[s] *= inverse;
                    VectorMath.Axpy(p[s], v.AsSpan((b * T + s) * kw + kvHead * hd, hd), o);
                }
                p[(t + 1)..].Clear();
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
            for (int s = 0; s < T; s++)
            {
                kGrad.AsSpan((b * T + s) * kw + kvHead * hd, hd).Clear();
                vGrad.AsSpan((b * T + s) * kw + kvHead * hd, hd).Clear();
            }
            var dScore = new float[T];
            for (int h = kvHead * group; h < (kvHead + 1) * group; h++)
            {
                for (int t = 0; t < T; t++)
                {
                    var p = probabilities.AsSpan((int)((((long)b * shape.Heads + h) * T + t) * T), T);
                    var dOut = outputGrad.AsSpan((b * T + t) * qw + h * hd, hd);
                    var query = q.AsSpan((b * T + t) * qw + h * hd, hd);
                    double weighted = 0;
                    for (int s = 0; s <= t; s++)
                    {
                        int kv = (b * T + s) * kw + kvHead * hd;
                        float dp = VectorMath.Dot(dOut, v.AsSpan(kv, hd));
                        dScore[s] = dp;
                        weighted += p[s] * dp;
                        VectorMath.Axpy(p[s], dOut, vGrad.AsSpan(kv, hd));
                    }
                    var dq = qGrad.AsSpan((b * T + t) * qw + h * hd, hd);
                    dq.Clear();
                    for (int s = 0; s <= t; s++)
                    {
                        int kv = (b * T + s) * kw + kvHead * hd;
                        float ds = p[s] * (dScore[s] - (float)weighted) * scale;
                        VectorMath.Axpy(ds, k.AsSpan(kv, hd), dq);
                        VectorMath.Axpy(ds, query, kGrad.AsSpan(kv, hd));
                    }
                }
            }
        });
    }
}

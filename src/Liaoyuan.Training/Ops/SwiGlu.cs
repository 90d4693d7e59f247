using System.Runtime.Intrinsics;

namespace Liaoyuan.Training.Ops;

/// <summary>
/// h = silu(g) ⊙ u with silu(g) = g·σ(g). Backward: du = dh ⊙ silu(g), dg = dh ⊙ u ⊙ σ(g)·(1 + g·(1 − σ(g))).
/// </summary>
public static class SwiGlu
{
    private const int Grain = 16384;

    public static void Forward(Compute compute, float[] gate, float[] up, float[] hidden, int count)
    {
        compute.ForRanges(count, Grain, (start, end) =>
        {
            // The inference kernel's expression, g / (1 + e^−g) · u, so the two forwards agree to the last bits of exp.
            int i = start;
            if (Vector256.IsHardwareAccelerated)
            {
                for (; i + 8 <= end; i += 8)
                {
                    var g = Vector256.Create(gate.AsSpan(i, 8));
                    (g / (Vector256<float>.One + Vector256.Exp(-g)) * Vector256.Create(up.AsSpan(i, 8))).CopyTo(hidden.AsSpan(i, 8));
                }
            }
            for (; i < end; i++) hidden[i] = gate[i] / (1.0f + MathF.Exp(-gate[i])) * up[i];
        });
    }

    public static void Backward(Compute compute, float[] gate, float[] up, float[] hiddenGrad, float[] gateGrad, float[] upGrad, int count)
    {
        compute.ForRanges(count, Grain, (start, end) =>
        {
            var g = gate.AsSpan(start, end - start);
            var u = up.AsSpan(start, end - start);
            var dh = hiddenGrad.AsSpan(start, end - start);
            var dg = gateGrad.AsSpan(start, end - start);
            var du = upGrad.AsSpan(start, end - start);
            int i = 0;
            if (Vector256.IsHardwareAccelerated)
            {
                for (; i + 8 <= g.Length; i += 8)
                {
                    var gv = Vector256.Create(g.Slice(i, 8));
                    var sigmoid = FastMath.Sigmoid(gv);
                    var dhv = Vector256.Create(dh.Slice(i, 8));
                    (dhv * gv * sigmoid).CopyTo(du.Slice(i, 8));
                    (dhv * Vector256.Create(u.Slice(i, 8)) * sigmoid * (Vector256<float>.One + gv * (Vector256<float>.One - sigmoid))).CopyTo(dg.Slice(i, 8));
                }
            }
            for (; i < g.Length; i++)
            {
                float sigmoid = 1.0f / (1.0f + MathF.Exp(-g[i]));
                du[i] = dh[i] * g[i] * sigmoid;
                dg[i] = dh[i] * u[i] * sigmoid * (1.0f + g[i] * (1.0f - sigmoid));
            }
        });
    }
}

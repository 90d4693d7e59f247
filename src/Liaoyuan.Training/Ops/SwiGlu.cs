namespace Liaoyuan.Training.Ops;

/// <summary>
/// h = silu(g) ⊙ u with silu(g) = g·σ(g). Backward: du = dh ⊙ silu(g), dg = dh ⊙ u ⊙ σ(g)·(1 + g·(1 − σ(g))).
/// </summary>
public static class SwiGlu
{
    private const int Grain = 16384;

    public static void Forward(Compute compute, float[] gate, float[] up, float[] hidden, int count)
    {
        compute.ForRanges(count, Grain, (s, e) =>
        {
            for (int i = s; i < e; i++)
            {
                float g = gate[i];
                // The same expression as the inference kernel: g / (1 + e^-g).
                hidden[i] = g / (1.0f + MathF.Exp(-g)) * up[i];
            }
        });
    }

    public static void Backward(Compute compute, float[] gate, float[] up, float[] hiddenGrad, float[] gateGrad, float[] upGrad, int count)
    {
        compute.ForRanges(count, Grain, (s, e) =>
        {
            for (int i = s; i < e; i++)
            {
                float g = gate[i], sigmoid = 1.0f / (1.0f + MathF.Exp(-g));
                float silu = g * sigmoid;
                upGrad[i] = hiddenGrad[i] * silu;
                gateGrad[i] = hiddenGrad[i] * up[i] * sigmoid * (1.0f + g * (1.0f - sigmoid));
            }
        });
    }
}

using System.Runtime.Intrinsics;
using Liaoyuan.Training.Model;
using Liaoyuan.Training.Ops;

namespace Liaoyuan.Training.Optimization;

/// <summary>The AdamW hyperparameters (defaults as in GPT-2/Llama pretraining recipes).</summary>
public sealed record AdamWSettings
{
    public float Beta1 { get; init; } = 0.9f;
    public float Beta2 { get; init; } = 0.95f;
    public float Epsilon { get; init; } = 1e-8f;
    public float WeightDecay { get; init; } = 0.1f;
}

/// <summary>
/// Adam with decoupled weight decay (Loshchilov &amp; Hutter): per element,
///   m ← β₁m + (1−β₁)g,  v ← β₂v + (1−β₂)g²,
///   w ← w − lr·(m̂ / (√v̂ + ε) + λ·w)   with m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ),
/// where λ applies only to parameters marked for decay. Moments are fp32 and saved in checkpoints.
/// </summary>
public sealed class AdamW
{
    private const int Grain = 16384;

    public AdamW(IReadOnlyList<Parameter> parameters, AdamWSettings settings)
    {
        Parameters = parameters;
        Settings = settings;
        FirstMoments = parameters.Select(p => new float[p.Value.Length]).ToArray();
        SecondMoments = parameters.Select(p => new float[p.Value.Length]).ToArray();
    }

    public IReadOnlyList<Parameter> Parameters { get; }
    public AdamWSettings Settings { get; }
    public float[][] FirstMoments { get; }
    public float[][] SecondMoments { get; }
    /// <summary>Updates taken so far (t in the bias corrections).</summary>
    public long Step { get; set; }

    /// <summary>Applies one update with the gradients multiplied by <paramref name="gradientScale"/> (the clipping factor).</summary>
    public void Update(Compute compute, float learningRate, float gradientScale)
    {
        Step++;
        var s = Settings;
        float correction1 = 1f - MathF.Pow(s.Beta1, Step), correction2 = 1f - MathF.Pow(s.Beta2, Step);
        for (int index = 0; index < Parameters.Count; index++)
        {
            var p = Parameters[index];
            float[] w = p.Value, g = p.Gradient, m = FirstMoments[index], v = SecondMoments[index];
            float decay = p.Decay ? s.WeightDecay : 0f;
            compute.ForRanges(w.Length, Grain, (start, end) =>
            {
                int i = start;
                if (Vector256.IsHardwareAccelerated)
                {
                    // The scalar expressions below, lane by lane in the same order, so both paths round alike.
                    var beta1 = Vector256.Create(s.Beta1);
                    var beta2 = Vector256.Create(s.Beta2);
                    var oneMinusBeta1 = Vector256.Create(1f - s.Beta1);
                    var oneMinusBeta2 = Vector256.Create(1f - s.Beta2);
                    var c1 = Vector256.Create(correction1);
                    var c2 = Vector256.Create(correction2);
                    var epsilon = Vector256.Create(s.Epsilon);
                    var rate = Vector256.Create(learningRate);
                    var lambda = Vector256.Create(decay);
                    var clip = Vector256.Create(gradientScale);
                    for (; i + 8 <= end; i += 8)
                    {
                        var grad = Vector256.Create(g.AsSpan(i, 8)) * clip;
                        var mi = beta1 * Vector256.Create(m.AsSpan(i, 8)) + oneMinusBeta1 * grad;
                        var vi = beta2 * Vector256.Create(v.AsSpan(i, 8)) + oneMinusBeta2 * grad * grad;
                        mi.CopyTo(m.AsSpan(i, 8));
                        vi.CopyTo(v.AsSpan(i, 8));
                        var wi = Vector256.Create(w.AsSpan(i, 8));
                        (wi - rate * (mi / c1 / (Vector256.Sqrt(vi / c2) + epsilon) + lambda * wi)).CopyTo(w.AsSpan(i, 8));
                    }
                }
                for (; i < end; i++)
                {
                    float grad = g[i] * gradientScale;
                    m[i] = s.Beta1 * m[i] + (1f - s.Beta1) * grad;
                    v[i] = s.Beta2 * v[i] + (1f - s.Beta2) * grad * grad;
                    float mHat = m[i] / correction1, vHat = v[i] / correction2;
                    w[i] -= learningRate * (mHat / (MathF.Sqrt(vHat) + s.Epsilon) + decay * w[i]);
                }
            });
        }
    }
}

/// <summary>Global-norm gradient clipping.</summary>
public static class GradientClipping
{
    /// <summary>‖g‖₂ over every parameter's gradient, summed per tensor in order (deterministic).</summary>
    public static double GlobalNorm(Compute compute, IReadOnlyList<Parameter> parameters)
    {
        var sums = new double[parameters.Count];
        compute.For(parameters.Count, i =>
        {
            var gradient = parameters[i].Gradient;
            double sum = 0;
            int j = 0;
            if (Vector256.IsHardwareAccelerated)
            {
                Vector256<double> low = Vector256<double>.Zero, high = Vector256<double>.Zero;
                for (; j + 8 <= gradient.Length; j += 8)
                {
                    var (l, h) = Vector256.Widen(Vector256.Create(gradient.AsSpan(j, 8)));
                    low += l * l;
                    high += h * h;
                }
                sum = Vector256.Sum(low + high);
            }
            for (; j < gradient.Length; j++) sum += (double)gradient[j] * gradient[j];
            sums[i] = sum;
        });
        return Math.Sqrt(sums.Sum());
    }

    /// <summary>The factor that brings a gradient of norm <paramref name="norm"/> down to <paramref name="maxNorm"/> (1 if already within, or clipping off).</summary>
    public static float Factor(double norm, float maxNorm) =>
        maxNorm > 0 && norm > maxNorm ? (float)(maxNorm / (norm + 1e-6)) : 1f;
}

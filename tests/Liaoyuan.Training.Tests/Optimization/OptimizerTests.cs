using Liaoyuan.Training.Model;
using Liaoyuan.Training.Ops;
using Liaoyuan.Training.Optimization;

namespace Liaoyuan.Training.Tests.Optimization;

public sealed class OptimizerTests
{
    [Fact]
    public void Schedule_warms_up_linearly_then_follows_a_cosine_to_the_minimum()
    {
        var schedule = new LearningRateSchedule(MaxRate: 1e-3f, MinRate: 1e-4f, WarmupSteps: 10, TotalSteps: 110);
        Assert.Equal(1e-4f, schedule.At(0), 1e-9f);
        Assert.Equal(5e-4f, schedule.At(4), 1e-9f);
        Assert.Equal(1e-3f, schedule.At(10), 1e-9f);
        Assert.Equal(5.5e-4f, schedule.At(60), 1e-8f); // halfway through the decay: the midpoint of max and min
        Assert.Equal(1e-4f, schedule.At(110), 1e-9f);
        Assert.Equal(1e-4f, schedule.At(500), 1e-9f);
    }

    [Fact]
    public void AdamW_update_follows_the_equations_and_spares_norm_gains_from_decay()
    {
        var matrix = new Parameter("m", [2], decay: true);
        var norm = new Parameter("n", [2], decay: false);
        matrix.Value[0] = 0.5f; matrix.Value[1] = -1f; matrix.Gradient[0] = 0.2f; matrix.Gradient[1] = -0.4f;
        norm.Value[0] = 1f; norm.Value[1] = 2f; norm.Gradient[0] = 0.1f; norm.Gradient[1] = 0f;
        var settings = new AdamWSettings { Beta1 = 0.9f, Beta2 = 0.95f, Epsilon = 1e-8f, WeightDecay = 0.1f };
        var adam = new AdamW([matrix, norm], settings);
        const float lr = 0.01f, clip = 0.5f;

        static double Expected(double w, double g, double lr, double decay, int steps)
        {
            double m = 0, v = 0;
            for (int t = 1; t <= steps; t++)
            {
                m = 0.9 * m + 0.1 * g;
                v = 0.95 * v + 0.05 * g * g;
                double mHat = m / (1 - Math.Pow(0.9, t)), vHat = v / (1 - Math.Pow(0.95, t));
                w -= lr * (mHat / (Math.Sqrt(vHat) + 1e-8) + decay * w);
            }
            return w;
        }
        for (int step = 0; step < 3; step++) adam.Update(new Compute(1), lr, clip);
        Assert.Equal(Expected(0.5, 0.1, lr, 0.1, 3), matrix.Value[0], 1e-6);
        Assert.Equal(Expected(-1, -0.2, lr, 0.1, 3), matrix.Value[1], 1e-6);
        Assert.Equal(Expected(1, 0.05, lr, 0, 3), norm.Value[0], 1e-6);
        Assert.Equal(2f, norm.Value[1]); // zero gradient and no decay: untouched
        Assert.Equal(3, adam.Step);
    }

    [Fact]
    public void Clipping_scales_the_global_norm_down_to_the_limit()
    {
        var a = new Parameter("a", [2], decay: true);
        var b = new Parameter("b", [1], decay: false);
        a.Gradient[0] = 3; a.Gradient[1] = 0; b.Gradient[0] = 4;
        double norm = GradientClipping.GlobalNorm(new Compute(2), [a, b]);
        Assert.Equal(5.0, norm, 12);
        Assert.Equal(0.2f, GradientClipping.Factor(norm, 1f), 1e-6f);
        Assert.Equal(1f, GradientClipping.Factor(norm, 10f));
        Assert.Equal(1f, GradientClipping.Factor(norm, 0f));
    }

    /// <summary>Two accumulated micro-batches give the gradient of the batch that joins them (up to summation order).</summary>
    [Fact]
    public void Accumulated_micro_batches_give_the_gradient_of_the_whole_batch()
    {
        var shape = TinyModels.Shape();
        var (tokens, targets) = TinyModels.Batch(shape, 4, 31);
        var compute = new Compute(2);
        var whole = TinyModels.Create();
        whole.ZeroGradients();
        double wholeLoss = whole.ForwardBackward(compute, tokens, targets, new Activations(shape, 4));

        var split = TinyModels.Create();
        split.ZeroGradients();
        var half = new Activations(shape, 2);
        int n = 2 * shape.Context;
        double splitLoss = split.ForwardBackward(compute, tokens[..n], targets[..n], half, 0.5f) / 2
                         + split.ForwardBackward(compute, tokens[n..], targets[n..], half, 0.5f) / 2;
        Assert.Equal(wholeLoss, splitLoss, 5);
        for (int i = 0; i < whole.Parameters.Count; i++)
        {
            float[] expected = whole.Parameters[i].Gradient, actual = split.Parameters[i].Gradient;
            float largest = expected.Max(MathF.Abs);
            for (int j = 0; j < expected.Length; j++)
                Assert.True(MathF.Abs(expected[j] - actual[j]) <= 1e-4f * largest, $"{whole.Parameters[i].Name}[{j}]: {actual[j]} vs {expected[j]}");
        }
    }
}

using Liaoyuan.Training.Model;
using Liaoyuan.Training.Ops;

namespace Liaoyuan.Training.Tests.Model;

public sealed class ModelGradientTests
{
    /// <summary>
    /// The whole model's backward against central differences of its own fp32 loss, on a few entries of every
    /// tensor: catches wiring mistakes (a missing residual, a swapped operand) that the per-op checks cannot.
    /// Weights are scaled up from the 0.02 initialisation so the gradients stand well above fp32 rounding.
    /// </summary>
    [Theory]
    [InlineData("llama")]
    [InlineData("qwen2")]
    public void Every_parameter_gradient_matches_finite_differences_of_the_loss(string architecture)
    {
        var model = new LlamaTrainingModel(TinyModels.Shape(context: 8) with { Architecture = architecture });
        model.Initialize(new TrainingRandom(7));
        var random = new TrainingRandom(99);
        foreach (var p in model.Parameters)
            for (int i = 0; i < p.Value.Length; i++)
                p.Value[i] = p.Decay ? p.Value[i] * 10f : 1f + (float)(0.2 * random.NextGaussian());
        var compute = new Compute(2);
        var (tokens, targets) = TinyModels.Batch(model.Shape, 2, 5);
        var activations = new Activations(model.Shape, 2);
        model.ZeroGradients();
        model.ForwardBackward(compute, tokens, targets, activations);

        const float h = 1e-2f;
        foreach (var p in model.Parameters)
        {
            double largest = p.Gradient.Max(MathF.Abs);
            Assert.True(largest > 1e-4, $"{p.Name}: gradient vanishes");
            // Entries with the largest gradients plus a spread of others.
            var picks = Enumerable.Range(0, p.Value.Length).OrderByDescending(i => MathF.Abs(p.Gradient[i])).Take(3)
                .Concat(Enumerable.Range(0, 3).Select(_ => random.NextInt(p.Value.Length)));
            foreach (int i in picks)
            {
                float saved = p.Value[i];
                p.Value[i] = saved + h;
                double plus = model.Loss(compute, tokens, targets, activations);
                p.Value[i] = saved - h;
                double minus = model.Loss(compute, tokens, targets, activations);
                p.Value[i] = saved;
                double numeric = (plus - minus) / (2 * h);
                Assert.True(Math.Abs(numeric - p.Gradient[i]) <= 0.03 * largest,
                    $"{p.Name}[{i}]: analytic {p.Gradient[i]:G6} vs numerical {numeric:G6} (largest {largest:G4})");
            }
        }
    }

    [Fact]
    public void Loss_and_gradients_are_bit_identical_for_one_and_two_threads()
    {
        var (tokens, targets) = TinyModels.Batch(TinyModels.Shape(), 3, 6);
        (double Loss, float[][] Gradients) Run(int threads)
        {
            var model = TinyModels.Create();
            model.ZeroGradients();
            double loss = model.ForwardBackward(new Compute(threads), tokens, targets, new Activations(model.Shape, 3));
            return (loss, model.Parameters.Select(p => p.Gradient).ToArray());
        }
        var one = Run(1);
        var two = Run(2);
        Assert.Equal(one.Loss, two.Loss);
        for (int i = 0; i < one.Gradients.Length; i++) Assert.Equal(one.Gradients[i], two.Gradients[i]);
    }
}

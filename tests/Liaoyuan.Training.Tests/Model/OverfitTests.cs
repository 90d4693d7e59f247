using Liaoyuan.Training.Model;
using Liaoyuan.Training.Ops;
using Liaoyuan.Training.Optimization;

namespace Liaoyuan.Training.Tests.Model;

public sealed class OverfitTests
{
    /// <summary>Memorising one batch end to end is the basic proof that forward, backward and AdamW fit together.</summary>
    [Fact]
    public void Tiny_model_overfits_one_batch_below_0_05()
    {
        var model = TinyModels.Create(seed: 3);
        var compute = new Compute(2);
        var optimizer = new AdamW(model.Parameters, new AdamWSettings { WeightDecay = 0f });
        var schedule = new LearningRateSchedule(1e-2f, 1e-3f, WarmupSteps: 10, TotalSteps: 300);
        var (tokens, targets) = TinyModels.Batch(model.Shape, 4, 21);
        var activations = new Activations(model.Shape, 4);
        double first = 0, loss = 0;
        for (int step = 0; step < 300; step++)
        {
            model.ZeroGradients();
            loss = model.ForwardBackward(compute, tokens, targets, activations);
            if (step == 0) first = loss;
            float clip = GradientClipping.Factor(GradientClipping.GlobalNorm(compute, model.Parameters), 1f);
            optimizer.Update(compute, schedule.At(step), clip);
        }
        Assert.True(Math.Abs(first - Math.Log(model.Shape.Vocab)) < 0.1, $"initial loss {first} should be near ln(vocab)");
        Assert.True(loss < 0.05, $"loss after 300 steps is {loss}");
    }
}

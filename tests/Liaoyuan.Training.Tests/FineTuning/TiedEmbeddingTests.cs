using Liaoyuan.Training.Model;
using Liaoyuan.Training.Ops;

namespace Liaoyuan.Training.Tests.FineTuning;

public sealed class TiedEmbeddingTests
{
    /// <summary>
    /// With tied embeddings the one matrix serves as input table and output projection; its gradient is the sum of
    /// both uses, checked against finite differences of the loss (which move both uses at once).
    /// </summary>
    [Fact]
    public void The_shared_matrix_gets_the_gradient_of_both_its_uses()
    {
        var model = new LlamaTrainingModel(TinyModels.Shape(context: 8) with { TiedEmbeddings = true });
        model.Initialize(new TrainingRandom(3));
        Assert.Same(model.TokenEmbedding, model.Output);
        Assert.DoesNotContain(model.Parameters, p => p.Name == "output.weight");
        foreach (var p in model.Parameters.Where(p => p.Decay))
            for (int i = 0; i < p.Value.Length; i++) p.Value[i] *= 10f;
        var compute = new Compute(2);
        var (tokens, targets) = TinyModels.Batch(model.Shape, 2, 5);
        var activations = new Activations(model.Shape, 2);
        model.ZeroGradients();
        model.ForwardBackward(compute, tokens, targets, activations);

        var table = model.TokenEmbedding;
        float largest = table.Gradient.Max(MathF.Abs);
        // Rows of tokens that occur in the input (both uses) and rows that do not (output use only).
        int used = tokens[0], unused = Enumerable.Range(0, model.Shape.Vocab).First(t => !tokens.Contains(t));
        const float h = 1e-2f;
        foreach (int row in new[] { used, unused })
            for (int c = 0; c < model.Shape.Dim; c += 5)
            {
                int i = row * model.Shape.Dim + c;
                float saved = table.Value[i];
                table.Value[i] = saved + h;
                double plus = model.Loss(compute, tokens, targets, activations);
                table.Value[i] = saved - h;
                double minus = model.Loss(compute, tokens, targets, activations);
                table.Value[i] = saved;
                double numeric = (plus - minus) / (2 * h);
                Assert.True(Math.Abs(numeric - table.Gradient[i]) <= 0.03 * largest, $"E[{row}, {c}]: analytic {table.Gradient[i]} vs numerical {numeric}");
            }
    }
}

using Liaoyuan.Training.Data;
using Liaoyuan.Training.Model;
using Liaoyuan.Training.Ops;
using Liaoyuan.Training.Optimization;
using Liaoyuan.Training.Tests.Ops;
using Liaoyuan.TestSupport;
using static Liaoyuan.Training.Tests.Ops.GradientCheck;

namespace Liaoyuan.Training.Tests.FineTuning;

public sealed class LoraTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly Compute _compute = new(2);

    public void Dispose() => _dir.Dispose();

    /// <summary>y = x·Wᵀ + s·(x·Aᵀ)·Bᵀ in float64.</summary>
    private static double[] Reference(double[] x, double[] w, double[] a, double[] b, double scale, int rows, int inputs, int rank, int outputs)
    {
        var y = ReferenceOps.MatMul(x, w, rows, inputs, outputs);
        var down = ReferenceOps.MatMul(x, a, rows, inputs, rank);
        var up = ReferenceOps.MatMul(down, b, rows, rank, outputs);
        for (int i = 0; i < y.Length; i++) y[i] += scale * up[i];
        return y;
    }

    [Fact]
    public void Adapter_backward_matches_float64_finite_differences()
    {
        const int rows = 6, inputs = 19, rank = 3, outputs = 11;
        var weight = new Parameter("blk.0.attn_q.weight", [inputs, outputs], decay: true) { Frozen = true };
        Random(inputs * outputs, 1, 0.3).CopyTo(weight.Value, 0);
        var adapter = new LowRankAdapter(weight, rank, alpha: 6f, dropout: 0f, site: 0);
        Random(rank * inputs, 2, 0.3).CopyTo(adapter.A.Value, 0);
        Random(outputs * rank, 3, 0.3).CopyTo(adapter.B.Value, 0); // B ≠ 0 so that A's gradient does not vanish
        float[] x = Random(rows * inputs, 4), upstream = Random(rows * outputs, 5);

        var y = new float[rows * outputs];
        MatMul.Forward(_compute, x, weight.Value, y, rows, inputs, outputs);
        adapter.Forward(_compute, x, y, rows, dropoutPass: null);
        double[] x64 = Widen(x), w64 = Widen(weight.Value), a64 = Widen(adapter.A.Value), b64 = Widen(adapter.B.Value), up64 = Widen(upstream);
        Close("y", y, Reference(x64, w64, a64, b64, adapter.Scale, rows, inputs, rank, outputs));

        var dx = new float[x.Length];
        MatMul.Backward(_compute, x, weight.Value, upstream, dx, null, rows, inputs, outputs);
        adapter.Backward(_compute, x, upstream, dx, rows);
        double Loss() => ReferenceOps.Project(Reference(x64, w64, a64, b64, adapter.Scale, rows, inputs, rank, outputs), up64);
        Compare("dx", x64, Loss, dx);
        Compare("dA", a64, Loss, adapter.A.Gradient);
        Compare("dB", b64, Loss, adapter.B.Gradient);
    }

    [Fact]
    public void Adapter_dropout_backward_matches_finite_differences_under_the_same_mask()
    {
        const int rows = 5, inputs = 16, rank = 2, outputs = 8;
        var weight = new Parameter("w", [inputs, outputs], decay: true) { Frozen = true };
        var adapter = new LowRankAdapter(weight, rank, alpha: 4f, dropout: 0.3f, site: 7);
        Random(rank * inputs, 2, 0.5).CopyTo(adapter.A.Value, 0);
        Random(outputs * rank, 3, 0.5).CopyTo(adapter.B.Value, 0);
        float[] x = Random(rows * inputs, 4), upstream = Random(rows * outputs, 5);
        double Loss()
        {
            var y = new float[rows * outputs];
            adapter.Forward(_compute, x, y, rows, dropoutPass: 12);
            return y.Select((v, i) => (double)v * upstream[i]).Sum();
        }
        Loss();
        var dx = new float[x.Length];
        adapter.Backward(_compute, x, upstream, dx, rows);
        var noDropout = new float[rows * outputs];
        adapter.Forward(_compute, x, noDropout, rows, dropoutPass: null);
        var dropped = new float[rows * outputs];
        adapter.Forward(_compute, x, dropped, rows, dropoutPass: 12);
        Assert.NotEqual(noDropout, dropped);

        // The fp32 loss is linear in x, A and B separately, so central differences with a large step are exact up to rounding.
        const float h = 0.05f;
        foreach (var (name, values, gradient) in new[] { ("x", x, dx), ("A", adapter.A.Value, adapter.A.Gradient) })
            for (int i = 0; i < values.Length; i += 3)
            {
                float saved = values[i];
                values[i] = saved + h;
                double plus = Loss();
                values[i] = saved - h;
                double minus = Loss();
                values[i] = saved;
                Assert.True(Math.Abs((plus - minus) / (2 * h) - gradient[i]) < 1e-3, $"d{name}[{i}]: {gradient[i]} vs {(plus - minus) / (2 * h)}");
            }
        Assert.Contains(dx, v => v == 0f);
    }

    private static LlamaTrainingModel LoraModel(float dropout = 0f)
    {
        var model = TinyModels.Create(seed: 3);
        model.AttachLora(new LoraSettings { Rank = 4, Alpha = 8, Dropout = dropout, Targets = ["q", "k", "v", "o", "gate", "up", "down"] }, new TrainingRandom(5));
        return model;
    }

    [Fact]
    public void Lora_trains_only_the_adapters_and_merging_keeps_the_forward_pass()
    {
        var model = LoraModel();
        var frozen = model.Parameters.Select(p => p.Value.ToArray()).ToArray();
        Assert.All(model.Adapters, a => Assert.All(a.B.Value, v => Assert.Equal(0f, v)));
        var optimizer = new AdamW(model.TrainableParameters, new AdamWSettings());
        Assert.Equal(2 * 7 * model.Shape.Layers, optimizer.Parameters.Count);
        var (tokens, targets) = TinyModels.Batch(model.Shape, 2, 9);
        var activations = new Activations(model.Shape, 2);
        double first = 0, last = 0;
        for (int step = 0; step < 15; step++)
        {
            model.ZeroGradients();
            last = model.ForwardBackward(_compute, tokens, targets, activations);
            if (step == 0) first = last;
            optimizer.Update(_compute, 1e-2f, 1f);
        }
        Assert.True(last < first - 0.1, $"LoRA training did not lower the loss: {first} → {last}");
        for (int i = 0; i < frozen.Length; i++) Assert.Equal(frozen[i], model.Parameters[i].Value);

        model.Forward(_compute, tokens, activations);
        float[] unmerged = activations.Logits.ToArray();
        model.MergeAdapters();
        Assert.Empty(model.Adapters);
        model.Forward(_compute, tokens, activations);
        Assert.True(LogitComparison.RelativeError(unmerged, activations.Logits) < 1e-5);
        Assert.True(LogitComparison.RelativeError(unmerged, Before(tokens)) > 1e-3, "the adapters changed nothing");

        float[] Before(int[] input)
        {
            var original = TinyModels.Create(seed: 3);
            original.Forward(_compute, input, activations);
            return activations.Logits.ToArray();
        }
    }

    [Fact]
    public void Resuming_a_lora_run_rebuilds_the_base_and_continues_with_identical_losses()
    {
        var settings = new TrainingSettings
        {
            Shape = TinyModels.Shape(),
            BatchSize = 2,
            Steps = 8,
            LearningRate = 5e-3f,
            WarmupSteps = 1,
            Seed = 4,
            Lora = new LoraSettings { Rank = 2, Dropout = 0.1f, Targets = ["q", "v", "down"] },
        };
        var random = new Random(6);
        var windows = new ArrayWindows(16, Enumerable.Range(0, 7).Select(_ =>
        {
            var stream = Enumerable.Range(0, 17).Select(_ => random.Next(259)).ToArray();
            var targets = stream[1..].Select((t, i) => i % 3 == 0 ? CrossEntropy.Ignored : t).ToArray();
            return (stream[..^1], targets);
        }).ToList());
        LlamaTrainingModel Create(TrainingSettings s)
        {
            var model = TinyModels.Create(seed: 21);
            model.AttachLora(s.Lora!, new TrainingRandom(s.Seed));
            return model;
        }
        var uninterrupted = new Trainer(settings, windows, Create(settings), threads: 2);
        var expected = Enumerable.Range(0, 8).Select(_ => uninterrupted.TrainStep().Loss).ToArray();

        var first = new Trainer(settings, windows, Create(settings), threads: 2);
        for (int i = 0; i < 4; i++) first.TrainStep();
        string path = _dir.File("lora.ckpt");
        first.SaveCheckpoint(path);
        var resumed = Trainer.Resume(path, windows, Create, threads: 1);
        var continued = Enumerable.Range(0, 4).Select(_ => resumed.TrainStep().Loss).ToArray();
        Assert.Equal(expected[4..], continued);
    }
}

using Liaoyuan.Engine.Models;
using Liaoyuan.Operators.Kernels;
using Liaoyuan.Operators.Tensors;
using Liaoyuan.TestSupport;
using Liaoyuan.Training.Export;
using Liaoyuan.Training.Model;
using Liaoyuan.Training.Ops;
using Liaoyuan.Training.Optimization;
using Xunit.Abstractions;

namespace Liaoyuan.Training.Tests.Model;

/// <summary>A model exported by the trainer runs the same in our inference engine and in llama.cpp.</summary>
[Collection(LlamaCppCollection.Name)]
public sealed class ExportTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>A briefly trained model (initial weights are near-uniform and would make any comparison easy).</summary>
    private static LlamaTrainingModel Trained()
    {
        var model = TinyModels.Create(seed: 11);
        var compute = new Compute(2);
        var optimizer = new AdamW(model.Parameters, new AdamWSettings());
        var (tokens, targets) = TinyModels.Batch(model.Shape, 2, 12);
        var activations = new Activations(model.Shape, 2);
        for (int step = 0; step < 20; step++)
        {
            model.ZeroGradients();
            model.ForwardBackward(compute, tokens, targets, activations);
            optimizer.Update(compute, 1e-2f, 1f);
        }
        return model;
    }

    private static float[] TrainingLogits(LlamaTrainingModel model, int[] tokens)
    {
        var activations = new Activations(model.Shape, 1);
        model.Forward(new Compute(2), tokens, activations);
        return activations.Logits;
    }

    [Theory]
    [InlineData(GgmlType.F32, 1e-4, 1e-5)]
    // The training forward keeps fp32 weights while the file has them rounded to F16; between the two inference
    // engines, F16 dot products (activations rounded to F16 too) agree within the engine's own F16 tolerance.
    [InlineData(GgmlType.F16, 2e-3, 1e-3)]
    public void Training_forward_matches_our_engine_and_llama_cpp_on_the_exported_file(GgmlType type, double tolerance, double enginesTolerance)
    {
        var model = Trained();
        string path = _dir.File($"trained-{type}.gguf");
        GgufExport.Write(path, model, TestVocabulary.ByteLevel().WriteTo, type);
        var tokens = TinyModels.Batch(model.Shape, 1, 13).Tokens;
        float[] ours = TrainingLogits(model, tokens);

        using var loaded = ModelLoader.Load(path, new CpuKernels(2));
        Assert.Equal(model.Shape.Vocab, loaded.Config.VocabSize);
        var session = new InferenceSession(loaded.Model, model.Shape.Context, GgmlType.F32);
        var engine = new float[ours.Length];
        session.EvaluateAll(tokens, engine);
        double engineError = LogitComparison.RelativeError(ours, engine);

        using var reference = new LlamaCppReference(path, contextSize: model.Shape.Context);
        float[] llama = reference.AllLogits(tokens);
        double llamaError = LogitComparison.RelativeError(ours, llama);
        // On the exported file itself (F16 weights included) the two inference engines agree far more closely.
        double enginesError = LogitComparison.RelativeError(engine, llama);
        output.WriteLine($"{type}: relative error vs engine {engineError:E2}, vs llama.cpp {llamaError:E2}; engine vs llama.cpp {enginesError:E2}");
        Assert.True(enginesError < enginesTolerance, $"engine vs llama.cpp on the exported file: relative error {enginesError:E2}");
        Assert.True(engineError < tolerance, $"training forward vs engine: relative error {engineError:E2}");
        Assert.True(llamaError < tolerance, $"training forward vs llama.cpp: relative error {llamaError:E2}");
    }
}

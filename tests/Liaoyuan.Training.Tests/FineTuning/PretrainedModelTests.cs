using Liaoyuan.Engine.Gguf;
using Liaoyuan.Engine.Models;
using Liaoyuan.Operators.Kernels;
using Liaoyuan.Operators.Tensors;
using Liaoyuan.TestSupport;
using Liaoyuan.Training.Model;
using Liaoyuan.Training.Ops;
using Xunit.Abstractions;

namespace Liaoyuan.Training.Tests.FineTuning;

/// <summary>A GGUF of any weight type loads into the training model as the fp32 weights the engine computes with.</summary>
public sealed class PretrainedModelTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(GgmlType.F32, 1e-5)]
    // The engine rounds activations to F16 / BF16 / Q8 for those weight types (a wrong dequantization would be off by
    // O(1)); the training forward keeps them fp32.
    [InlineData(GgmlType.F16, 2e-3)]
    [InlineData(GgmlType.BF16, 1e-2)]
    [InlineData(GgmlType.Q8_0, 3e-2)]
    [InlineData(GgmlType.Q4_0, 3e-2)]
    public void The_training_forward_on_loaded_weights_matches_the_engine_on_the_file(GgmlType type, double tolerance)
    {
        string path = _dir.File($"base-{type}.gguf");
        TestModelBuilder.Write(path, new TestModelShape { MatrixType = type, Context = 32, OutputScale = 1f }, TestVocabulary.ByteLevel());
        using var file = GgufFile.Open(path);
        var model = PretrainedModel.Load(file, PretrainedModel.ReadShape(file, 32));
        int[] tokens = TinyModels.Batch(model.Shape, 1, 4).Tokens;
        var activations = new Activations(model.Shape, 1);
        model.Forward(new Compute(2), tokens, activations);

        using var loaded = ModelLoader.Load(path, new CpuKernels(2));
        var engine = new float[activations.Logits.Length];
        new InferenceSession(loaded.Model, 32, GgmlType.F32).EvaluateAll(tokens, engine);
        double error = LogitComparison.RelativeError(engine, activations.Logits);
        output.WriteLine($"{type}: relative error {error:E2}");
        Assert.True(error < tolerance, $"{type}: training forward vs engine {error:E2}");
    }

    [Fact]
    public void A_file_with_tensors_training_does_not_implement_is_refused()
    {
        string path = _dir.File("scaled.gguf");
        TestModelBuilder.Write(path, new TestModelShape { Llama3RopeFactors = true }, TestVocabulary.ByteLevel());
        using var file = GgufFile.Open(path);
        Assert.Contains("RoPE frequency scaling", Assert.Throws<GgufFormatException>(() => PretrainedModel.ReadShape(file, 32)).Message);
    }
}

using Liaoyuan.Engine.Evaluation;
using Liaoyuan.Engine.Gguf;
using Liaoyuan.Engine.Models;
using Liaoyuan.Operators.Kernels;
using Liaoyuan.Operators.Tensors;
using Liaoyuan.TestSupport;
using Liaoyuan.Training.Export;
using Liaoyuan.Training.Model;
using Liaoyuan.Training.Ops;
using Liaoyuan.Training.Optimization;
using Xunit.Abstractions;

namespace Liaoyuan.Training.Tests.FineTuning;

/// <summary>Fine-tuned models and LoRA adapters, exported and run by our engine and by llama.cpp.</summary>
[Collection(LlamaCppCollection.Name)]
public sealed class FineTuneExportTests(ITestOutputHelper output) : IDisposable
{
    private const int Context = 32;
    private readonly TempDirectory _dir = new();
    private readonly Compute _compute = new(2);

    public void Dispose() => _dir.Dispose();

    private string Base(bool tied)
    {
        string path = _dir.File($"base-{tied}.gguf");
        TestModelBuilder.Write(path, new TestModelShape { TiedOutput = tied, Context = 64, Seed = 77 }, TestVocabulary.ByteLevel());
        return path;
    }

    /// <summary>A few AdamW steps on one batch, so every trained tensor (LoRA's B included) moves away from its start.</summary>
    private void Train(LlamaTrainingModel model, int steps = 10, int[]? text = null)
    {
        var optimizer = new AdamW(model.TrainableParameters, new AdamWSettings());
        var (tokens, targets) = text is null ? TinyModels.Batch(model.Shape, 2, 31) : (text[..(2 * Context)], text[1..(2 * Context + 1)]);
        var activations = new Activations(model.Shape, 2);
        for (int step = 0; step < steps; step++)
        {
            model.ZeroGradients();
            model.ForwardBackward(_compute, tokens, targets, activations);
            optimizer.Update(_compute, 1e-2f, 1f);
        }
    }

    private static float[] EngineLogits(LoadedModel model, int[] tokens)
    {
        var logits = new float[tokens.Length * model.Config.VocabSize];
        new InferenceSession(model.Model, Context, GgmlType.F32).EvaluateAll(tokens, logits);
        return logits;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void An_exported_adapter_gives_the_same_logits_in_our_engine_llama_cpp_the_merged_model_and_training(bool tied)
    {
        string basePath = Base(tied);
        using var baseFile = GgufFile.Open(basePath);
        var shape = PretrainedModel.ReadShape(baseFile, Context);
        Assert.Equal(tied, shape.TiedEmbeddings);
        var model = PretrainedModel.Load(baseFile, shape);
        model.AttachLora(new LoraSettings { Rank = 4, Alpha = 8, Targets = ["q", "k", "v", "o", "gate", "up", "down"] }, new TrainingRandom(2));
        Train(model);
        int[] tokens = TinyModels.Batch(shape, 1, 32).Tokens;
        var activations = new Activations(shape, 1);
        model.Forward(_compute, tokens, activations);
        float[] training = activations.Logits.ToArray();

        string adapterPath = _dir.File($"adapter-{tied}.gguf");
        GgufExport.WriteAdapter(adapterPath, model, alpha: 8);
        using var withAdapter = ModelLoader.Load(basePath, new CpuKernels(2));
        float[] plain = EngineLogits(withAdapter, tokens);
        LoraAdapter.Apply(adapterPath, withAdapter);
        float[] ours = EngineLogits(withAdapter, tokens);
        using var reference = new LlamaCppReference(basePath, contextSize: Context, loraPath: adapterPath);
        float[] llama = reference.AllLogits(tokens);

        model.MergeAdapters();
        string mergedPath = _dir.File($"merged-{tied}.gguf");
        GgufExport.WriteFineTuned(mergedPath, model, baseFile);
        using var merged = ModelLoader.Load(mergedPath, new CpuKernels(2));
        Assert.Equal(tied, merged.File.FindTensor("output.weight") is null);
        float[] mergedLogits = EngineLogits(merged, tokens);

        double vsLlama = LogitComparison.RelativeError(llama, ours), vsMerged = LogitComparison.RelativeError(mergedLogits, ours),
            vsTraining = LogitComparison.RelativeError(training, ours), adapterEffect = LogitComparison.RelativeError(plain, ours);
        output.WriteLine($"tied={tied}: relative error vs llama.cpp {vsLlama:E2}, vs merged {vsMerged:E2}, vs training {vsTraining:E2}; adapter effect {adapterEffect:E2}");
        Assert.True(adapterEffect > 1e-2, $"the adapter barely changes the logits ({adapterEffect:E2}), so the comparison proves little");
        Assert.True(vsLlama < 1e-4, $"ours vs llama.cpp with the adapter: {vsLlama:E2}");
        Assert.True(vsMerged < 1e-4, $"adapter vs merged model: {vsMerged:E2}");
        Assert.True(vsTraining < 1e-4, $"adapter in the engine vs the training forward: {vsTraining:E2}");

        // --lora-scale: half strength agrees with llama.cpp's adapter scale too.
        LoraAdapter.Apply(adapterPath, withAdapter, scale: 0.5f);
        using var halfReference = new LlamaCppReference(basePath, contextSize: Context, loraPath: adapterPath, loraScale: 0.5f);
        double half = LogitComparison.RelativeError(halfReference.AllLogits(tokens), EngineLogits(withAdapter, tokens));
        Assert.True(half < 1e-4, $"scale 0.5: ours vs llama.cpp {half:E2}");
    }

    [Fact]
    public void A_fully_fine_tuned_tied_model_has_the_same_perplexity_in_llama_cpp_as_in_our_engine()
    {
        string basePath = Base(tied: true);
        using var baseFile = GgufFile.Open(basePath);
        var model = PretrainedModel.Load(baseFile, PretrainedModel.ReadShape(baseFile, Context));
        var before = model.TokenEmbedding.Value.ToArray();
        string text = string.Concat(Enumerable.Repeat(TestCorpus.Multilingual, 2));
        // Trained on the start of the text it is scored on, so the perplexity is a sensible number.
        Train(model, steps: 30, Engine.Tokenization.Tokenizer.FromGguf(baseFile).Encode(text, addSpecial: false));
        Assert.NotEqual(before, model.TokenEmbedding.Value);
        string path = _dir.File("full.gguf");
        GgufExport.WriteFineTuned(path, model, baseFile);

        using var loaded = ModelLoader.Load(path, new CpuKernels(2));
        Assert.Null(loaded.File.FindTensor("output.weight"));
        Assert.Equal(baseFile.GetString("tokenizer.ggml.model"), loaded.File.GetString("tokenizer.ggml.model"));
        var ours = Perplexity.Compute(new InferenceSession(loaded.Model, Context, GgmlType.F32), loaded.Tokenizer, text, Context);
        using var reference = new LlamaCppReference(path, contextSize: Context);
        double theirs = reference.Perplexity(text, Context, loaded.Tokenizer.AddBos, loaded.Tokenizer.BosId);
        output.WriteLine($"perplexity: ours {ours.Value:F6}, llama.cpp {theirs:F6}");
        Assert.True(Math.Abs(ours.Value - theirs) / theirs < 1e-5, $"ours {ours.Value}, llama.cpp {theirs}");
    }
}

using Liaoyuan.Engine.Evaluation;
using Liaoyuan.Engine.Models;
using Liaoyuan.Operators.Kernels;
using Liaoyuan.Operators.Tensors;
using Liaoyuan.TestSupport;
using Liaoyuan.Training.Data;
using Liaoyuan.Training.Export;
using Liaoyuan.Training.Model;
using Xunit.Abstractions;

namespace Liaoyuan.Training.Tests;

/// <summary>Tokenizer training, model training and export together, judged by our engine and by llama.cpp.</summary>
[Collection(LlamaCppCollection.Name)]
public sealed class EndToEndTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void A_model_we_train_and_export_has_the_same_perplexity_in_llama_cpp_as_in_our_engine()
    {
        var tokenizer = TrainingTokenizer.Train(TestCorpus.Multilingual.Split('\n'), 400);
        var tokens = TextCorpus.Tokenize(tokenizer.Tokenizer, [string.Concat(Enumerable.Repeat(TestCorpus.Multilingual, 8))]);
        // Scored on a shorter stretch: llama.cpp's side decodes one chunk at a time.
        string text = string.Concat(Enumerable.Repeat(TestCorpus.Multilingual, 3));
        const int ctx = 32;
        var settings = new TrainingSettings
        {
            Shape = new LlamaShape { Vocab = tokenizer.VocabSize, Layers = 2, Dim = 32, Heads = 4, KvHeads = 2, FeedForward = 64, Context = ctx },
            BatchSize = 4,
            Steps = 40,
            LearningRate = 5e-3f,
            WarmupSteps = 4,
            Seed = 5,
        };
        var trainer = new Trainer(settings, tokens, threads: 2);
        while (!trainer.Finished) trainer.TrainStep();
        string path = _dir.File("trained.gguf");
        GgufExport.Write(path, trainer.Model, tokenizer.WriteTo);

        using var model = ModelLoader.Load(path, new CpuKernels(2));
        var ours = Perplexity.Compute(new InferenceSession(model.Model, ctx, GgmlType.F32), model.Tokenizer, text, ctx);
        using var reference = new LlamaCppReference(path, contextSize: ctx);
        double theirs = reference.Perplexity(text, ctx, model.Tokenizer.AddBos, model.Tokenizer.BosId);
        output.WriteLine($"perplexity: ours {ours.Value:F6}, llama.cpp {theirs:F6}, after {trainer.TrainLosses[^1]:F3} training loss");

        Assert.True(ours.Value < tokenizer.VocabSize / 4.0, $"training did not lower the perplexity ({ours.Value:F1} for a vocabulary of {tokenizer.VocabSize})");
        Assert.True(Math.Abs(ours.Value - theirs) / theirs < 1e-5, $"ours {ours.Value}, llama.cpp {theirs}");
    }
}

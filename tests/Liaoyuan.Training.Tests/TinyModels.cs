using Liaoyuan.Training.Model;

namespace Liaoyuan.Training.Tests;

/// <summary>Small shapes and data that keep training tests to seconds on two cores.</summary>
internal static class TinyModels
{
    /// <summary>Vocabulary 259 = the byte-level test vocabulary's 256 bytes and 3 special tokens.</summary>
    public static LlamaShape Shape(int context = 16) => new()
    {
        Vocab = 259,
        Layers = 2,
        Dim = 32,
        Heads = 4,
        KvHeads = 2,
        FeedForward = 64,
        Context = context,
    };

    public static LlamaTrainingModel Create(int seed = 7, int context = 16)
    {
        var model = new LlamaTrainingModel(Shape(context));
        model.Initialize(new TrainingRandom((ulong)seed));
        return model;
    }

    /// <summary>Random tokens and their next-token targets for <paramref name="sequences"/> sequences.</summary>
    public static (int[] Tokens, int[] Targets) Batch(LlamaShape shape, int sequences, int seed)
    {
        var random = new Random(seed);
        var stream = Enumerable.Range(0, sequences * shape.Context + 1).Select(_ => random.Next(shape.Vocab)).ToArray();
        return (stream[..^1], stream[1..]);
    }
}

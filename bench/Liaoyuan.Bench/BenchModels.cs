using Liaoyuan.Operators.Tensors;
using Liaoyuan.TestSupport;

namespace Liaoyuan.Bench;

/// <summary>Random-weight models in the real shapes of the models people run, with full-size vocabularies.</summary>
public static class BenchModels
{
    public static TestModelShape Shape(string name, GgmlType type) => name switch
    {
        "qwen2.5-0.5b" => new TestModelShape
        {
            Architecture = "qwen2",
            Embedding = 896,
            Layers = 24,
            Heads = 14,
            KvHeads = 2,
            HeadDim = 64,
            FeedForward = 4864,
            Context = 4096,
            TiedOutput = true,
            MatrixType = type,
            RopeBase = 1000000f,
        },
        "llama-3.2-1b" => new TestModelShape
        {
            Architecture = "llama",
            Embedding = 2048,
            Layers = 16,
            Heads = 32,
            KvHeads = 8,
            HeadDim = 64,
            FeedForward = 8192,
            Context = 4096,
            TiedOutput = true,
            MatrixType = type,
            RopeBase = 500000f,
            Llama3RopeFactors = true,
        },
        "tiny" => new TestModelShape { Architecture = "llama", Embedding = 256, Layers = 4, Heads = 4, KvHeads = 2, HeadDim = 64, FeedForward = 768, Context = 1024, MatrixType = type },
        _ => throw new ArgumentException($"unknown shape '{name}' (qwen2.5-0.5b, llama-3.2-1b, tiny)"),
    };

    public static int VocabSize(string name) => name switch
    {
        "qwen2.5-0.5b" => 151936,
        "llama-3.2-1b" => 128256,
        _ => 32000,
    };

    /// <summary>A byte-level vocabulary of the given size (filler tokens pad it out).</summary>
    public static TestVocabulary Vocabulary(int size) => TestVocabulary.ByteLevel(size: size);
}

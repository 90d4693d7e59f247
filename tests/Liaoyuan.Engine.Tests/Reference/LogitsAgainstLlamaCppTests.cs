using Liaoyuan.Engine.Models;
using Liaoyuan.Operators.Kernels;
using Liaoyuan.Operators.Tensors;
using Liaoyuan.TestSupport;
using Xunit.Abstractions;

namespace Liaoyuan.Engine.Tests.Reference;

/// <summary>Our forward pass against llama.cpp's on the same random-weight GGUF files.</summary>
[Collection(LlamaCppCollection.Name)]
public sealed class LogitsAgainstLlamaCppTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static readonly int[] Prompt = [3, 17, 200, 45, 99, 120, 7, 250, 31, 64, 5, 180, 222, 90, 11, 42, 77, 130, 8, 19];

    /// <summary>Relative tolerance: max |ours − theirs| / max |theirs| over the vocabulary.</summary>
    private static double Tolerance(GgmlType type) => type switch
    {
        GgmlType.F32 or GgmlType.F16 or GgmlType.BF16 => 1e-3,
        _ => 3e-3,
    };

    public static TheoryData<string, GgmlType> Cases()
    {
        var data = new TheoryData<string, GgmlType>();
        foreach (string arch in new[] { "llama", "qwen2", "qwen3" })
            foreach (var type in new[] { GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1,
                         GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K })
                data.Add(arch, type);
        return data;
    }

    /// <summary>Llama models get a SentencePiece vocabulary, Qwen models a byte-level BPE one, both trained by us.</summary>
    private static TestVocabulary Vocabulary(string arch) =>
        arch == "llama" ? TestVocabularies.SentencePiece() : TestVocabularies.Multilingual();

    private static TestModelShape Shape(string arch, GgmlType type) => new()
    {
        Architecture = arch,
        MatrixType = type,
        // k-quants need rows that are whole 256-element super-blocks.
        Embedding = GgmlTypeInfo.BlockSize(type) == 256 ? 256 : 64,
        HeadDim = GgmlTypeInfo.BlockSize(type) == 256 ? 64 : (arch == "qwen3" ? 32 : 16),
        FeedForward = GgmlTypeInfo.BlockSize(type) == 256 ? 512 : 128,
        TiedOutput = arch == "qwen2",
        Seed = arch.Length * 31 + (int)type,
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void LastPositionLogitsMatchLlamaCpp(string arch, GgmlType type)
    {
        string path = _dir.File($"{arch}-{type}.gguf");
        TestModelBuilder.Write(path, Shape(arch, type), Vocabulary(arch));
        using var reference = new LlamaCppReference(path);
        float[] expected = reference.LastLogits(Prompt);

        using var model = ModelLoader.Load(path, new CpuKernels(2));
        var session = new InferenceSession(model.Model, 256, GgmlType.F32);
        float[] actual = session.Evaluate(Prompt).ToArray();

        double error = LogitComparison.RelativeError(actual, expected);
        output.WriteLine($"{arch} {type}: relative error {error:E3}");
        Assert.True(error < Tolerance(type), $"{arch} {type}: relative error {error:E3} exceeds {Tolerance(type):E1}");
    }

    [Theory]
    [InlineData("llama")]
    [InlineData("qwen2")]
    [InlineData("qwen3")]
    public void EveryPositionMatchesWithF16CacheAndLlama3RopeFactors(string arch)
    {
        string path = _dir.File($"{arch}-all.gguf");
        var shape = Shape(arch, GgmlType.F16) with { Llama3RopeFactors = arch == "llama", RopeBase = 500000f };
        TestModelBuilder.Write(path, shape, Vocabulary(arch));
        using var reference = new LlamaCppReference(path, f32Cache: false);
        float[] expected = reference.AllLogits(Prompt);

        using var model = ModelLoader.Load(path, new CpuKernels(2));
        var session = new InferenceSession(model.Model, 256, GgmlType.F16);
        var actual = new float[expected.Length];
        session.EvaluateAll(Prompt, actual);

        int vocab = model.Config.VocabSize;
        double worst = 0;
        for (int t = 0; t < Prompt.Length; t++)
        {
            double error = LogitComparison.RelativeError(actual.AsSpan(t * vocab, vocab), expected.AsSpan(t * vocab, vocab));
            worst = Math.Max(worst, error);
            Assert.True(error < 2e-3, $"{arch}: position {t} relative error {error:E3}");
        }
        output.WriteLine($"{arch}: worst relative error over {Prompt.Length} positions {worst:E3}");
    }

    [Theory]
    [InlineData("llama", GgmlType.F32)]
    [InlineData("qwen2", GgmlType.Q8_0)]
    [InlineData("qwen3", GgmlType.Q4_K)]
    public void GreedyContinuationIsIdentical(string arch, GgmlType type)
    {
        string path = _dir.File($"{arch}-{type}-greedy.gguf");
        TestModelBuilder.Write(path, Shape(arch, type), Vocabulary(arch));
        using var reference = new LlamaCppReference(path);
        int[] expected = reference.Greedy(Prompt, 32);

        using var model = ModelLoader.Load(path, new CpuKernels(2));
        var session = new InferenceSession(model.Model, 256, GgmlType.F32);
        var ours = new List<int>();
        var logits = session.Evaluate(Prompt);
        for (int i = 0; i < 32; i++)
        {
            int next = Engine.Generation.Sampler.ArgMax(logits);
            ours.Add(next);
            logits = session.Evaluate([next]);
        }
        Assert.Equal(expected, ours);
    }
}

using Liaoyuan.Engine.Models;
using Liaoyuan.Operators.Kernels;
using Liaoyuan.Operators.Tensors;
using Liaoyuan.TestSupport;

namespace Liaoyuan.Engine.Tests.Models;

/// <summary>Several sequences sharing one pass compute exactly what each computes alone.</summary>
public sealed class BatchedForwardTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("qwen2")]
    [InlineData("llama")]
    public void BatchedSequencesMatchSeparateRuns(string arch)
    {
        string path = _dir.File($"batch-{arch}.gguf");
        TestModelBuilder.Write(path, new TestModelShape { Architecture = arch, MatrixType = GgmlType.Q8_0, Context = 128 }, TestVocabularies.Multilingual());
        using var model = ModelLoader.Load(path, new CpuKernels(2));
        var config = model.Config;
        int vocab = config.VocabSize;

        // Sequence A starts fresh with 5 tokens, B decodes 1 token after a 7-token prefix, C adds 3 after 2.
        int[] prefixB = [4, 8, 15, 16, 23, 42, 99], prefixC = [7, 7];
        int[] newA = [10, 20, 30, 40, 50], newB = [77], newC = [1, 2, 3];

        float[] Alone(int[] prefix, int[] fresh)
        {
            var session = new InferenceSession(model.Model, 64, GgmlType.F16);
            if (prefix.Length > 0) session.Evaluate(prefix);
            return session.Evaluate(fresh).ToArray();
        }
        var expected = new[] { Alone([], newA), Alone(prefixB, newB), Alone(prefixC, newC) };

        var cacheA = new InferenceSession(model.Model, 64, GgmlType.F16);
        var cacheB = new InferenceSession(model.Model, 64, GgmlType.F16);
        var cacheC = new InferenceSession(model.Model, 64, GgmlType.F16);
        cacheB.Evaluate(prefixB);
        cacheC.Evaluate(prefixC);
        int[] tokens = [.. newA, .. newB, .. newC];
        int[] positions = [0, 1, 2, 3, 4, 7, 2, 3, 4];
        SequenceSlice[] slices = [new(cacheA.Cache, 0, 5), new(cacheB.Cache, 5, 1), new(cacheC.Cache, 6, 3)];
        var state = new ForwardState(config, 16);
        var logits = new float[3 * vocab];
        model.Model.ForwardBatch(tokens, positions, slices, state, logits);

        for (int i = 0; i < 3; i++) Assert.Equal(expected[i], logits.AsSpan(i * vocab, vocab).ToArray());
    }

    [Fact]
    public void BatchEvaluatorAdvancesEverySessionAsIfAlone()
    {
        string path = _dir.File("evaluator.gguf");
        TestModelBuilder.Write(path, new TestModelShape { Architecture = "qwen3", HeadDim = 32, MatrixType = GgmlType.Q4_0, Context = 128 },
            TestVocabularies.Multilingual());
        using var model = ModelLoader.Load(path, new CpuKernels(2));
        var alone = new[] { new InferenceSession(model.Model, 64), new InferenceSession(model.Model, 64) };
        var together = new[] { new InferenceSession(model.Model, 64), new InferenceSession(model.Model, 64) };
        var evaluator = new BatchEvaluator(model.Model, 32);
        int[][] steps = [[3, 4, 5], [9], [6], [10], [11], [12]];
        for (int step = 0; step < steps.Length; step += 2)
        {
            alone[0].Evaluate(steps[step]);
            alone[1].Evaluate(steps[step + 1]);
            evaluator.Evaluate(together, [steps[step], steps[step + 1]]);
            for (int i = 0; i < 2; i++)
            {
                Assert.Equal(alone[i].Tokens, together[i].Tokens);
                Assert.Equal(alone[i].LastLogits.ToArray(), together[i].LastLogits.ToArray());
            }
        }
    }

    [Fact]
    public void SlicesThatDoNotCoverTheBatchAreRejected()
    {
        string path = _dir.File("batch-bad.gguf");
        TestModelBuilder.Write(path, new TestModelShape(), TestVocabularies.Multilingual());
        using var model = ModelLoader.Load(path, new CpuKernels(1));
        var cache = new KvCache(model.Config, 16);
        var state = new ForwardState(model.Config, 8);
        var logits = new float[2 * model.Config.VocabSize];
        Assert.Throws<ArgumentException>(() =>
            model.Model.ForwardBatch([1, 2, 3], [0, 1, 2], [new SequenceSlice(cache, 0, 2)], state, logits));
    }
}

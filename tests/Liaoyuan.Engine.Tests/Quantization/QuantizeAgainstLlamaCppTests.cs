using Liaoyuan.Engine.Models;
using Liaoyuan.Engine.Quantization;
using Liaoyuan.Operators.Kernels;
using Liaoyuan.Operators.Tensors;
using Liaoyuan.TestSupport;
using Xunit.Abstractions;

namespace Liaoyuan.Engine.Tests.Quantization;

/// <summary>
/// Our quantizer against llama.cpp's on the same random-weight models: every tensor must get the same type and the
/// same bytes (which also checks that the row quantizers are bit-exact), and the whole files must be identical.
/// </summary>
[Collection(LlamaCppCollection.Name)]
public sealed class QuantizeAgainstLlamaCppTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static readonly int[] Prompt = [3, 17, 200, 45, 99, 120, 7, 250, 31, 64, 5, 180, 222, 90, 11, 42, 77, 130, 8, 19];

    /// <summary>
    /// "aligned": every row a whole number of 256-element super-blocks, so k-quants apply everywhere.
    /// "fallback": rows of 96 (embedding, attention output) and 320 (ffn_down), so k-quant targets fall back to
    /// Q5_0/Q5_1/Q8_0 and output.weight to Q8_0. Eight layers make the "use more bits" layer pattern visible.
    /// (Qwen2 in llama.cpp needs heads × head size = embedding, hence 3 heads of 32.)
    /// </summary>
    private static TestModelShape Shape(string arch, string kind, GgmlType source = GgmlType.F32) => new()
    {
        Architecture = arch,
        MatrixType = source,
        Layers = 8,
        Embedding = kind == "aligned" ? 256 : 96,
        Heads = kind == "aligned" ? 4 : 3,
        KvHeads = kind == "aligned" ? 2 : 1,
        HeadDim = kind == "aligned" ? 64 : 32,
        FeedForward = kind == "aligned" ? 512 : 320,
        TiedOutput = arch == "qwen2",
        Seed = arch.Length * 131 + kind.Length * 7 + (int)source,
    };

    public static TheoryData<string, string, string> MixCases()
    {
        var data = new TheoryData<string, string, string>();
        foreach (string arch in new[] { "llama", "qwen2", "qwen3" })
            foreach (string kind in new[] { "aligned", "fallback" })
                foreach (string target in new[] { "Q8_0", "Q4_0", "Q4_K_M", "Q6_K", "Q5_K_M", "Q4_K_S" })
                    data.Add(arch, kind, target);
        return data;
    }

    [Theory]
    [MemberData(nameof(MixCases))]
    public void QuantizedFileIsIdenticalToLlamaCpps(string arch, string kind, string target) =>
        AssertIdentical(Shape(arch, kind), target, $"{arch}-{kind}");

    [Theory]
    [InlineData("Q4_1")]
    [InlineData("Q5_0")]
    [InlineData("Q5_1")]
    [InlineData("Q5_K_S")]
    [InlineData("F16")]
    [InlineData("BF16")]
    [InlineData("F32")]
    public void OtherTargetsAreIdenticalToLlamaCpps(string target) =>
        AssertIdentical(Shape("llama", "aligned"), target, "llama-other");

    /// <summary>Sixteen layers: the first and last two and every third between get more bits in the _M mixes.</summary>
    [Theory]
    [InlineData("Q4_K_M")]
    [InlineData("Q4_K_S")]
    [InlineData("Q5_K_M")]
    public void DeepModelLayerPatternIsIdenticalToLlamaCpps(string target) =>
        AssertIdentical(Shape("llama", "aligned") with { Layers = 16, FeedForward = 256, KvHeads = 1 }, target, "llama-deep");

    [Theory]
    [InlineData("qwen2", GgmlType.F16, "Q4_K_M")]
    [InlineData("llama", GgmlType.BF16, "Q4_K_M")]
    [InlineData("qwen3", GgmlType.F16, "Q8_0")]
    // Quantized sources are expanded to floats first and requantized, as llama.cpp does with --allow-requantize.
    [InlineData("llama", GgmlType.Q8_0, "Q4_K_M")]
    [InlineData("qwen3", GgmlType.Q6_K, "Q4_0")]
    public void HalfPrecisionAndQuantizedSourcesAreIdenticalToLlamaCpps(string arch, GgmlType source, string target) =>
        AssertIdentical(Shape(arch, "aligned", source), target, $"{arch}-{source}");

    [Theory]
    [InlineData("llama", "aligned", "Q4_K_M")]
    [InlineData("qwen2", "fallback", "Q4_K_M")]
    [InlineData("qwen3", "aligned", "Q8_0")]
    [InlineData("qwen3", "fallback", "Q4_K_S")]
    public void QuantizedModelsGiveTheSameLogits(string arch, string kind, string target)
    {
        // Two layers, as in LogitsAgainstLlamaCppTests: on deeper random models our engine and llama.cpp can drift
        // apart by ~1e-2 on the same quantized file (independent of who quantized it), which would blur this check.
        var (ours, theirs) = QuantizeBoth(Shape(arch, kind) with { Layers = 2 }, target, $"{arch}-{kind}-logits");
        float[] llamaOnOurs, llamaOnTheirs;
        using (var reference = new LlamaCppReference(ours)) llamaOnOurs = reference.LastLogits(Prompt);
        using (var reference = new LlamaCppReference(theirs)) llamaOnTheirs = reference.LastLogits(Prompt);
        float[] engineOnOurs = EngineLogits(ours), engineOnTheirs = EngineLogits(theirs);

        double byLlama = LogitComparison.RelativeError(llamaOnOurs, llamaOnTheirs);
        double byEngine = LogitComparison.RelativeError(engineOnOurs, engineOnTheirs);
        double crossed = LogitComparison.RelativeError(engineOnOurs, llamaOnTheirs);
        output.WriteLine($"{arch} {kind} {target}: llama.cpp ours vs theirs {byLlama:E3}, engine ours vs theirs {byEngine:E3}, engine on ours vs llama.cpp on theirs {crossed:E3}");
        Assert.True(byLlama < 1e-3, $"llama.cpp logits on the two files differ by {byLlama:E3}");
        Assert.True(byEngine < 1e-3, $"engine logits on the two files differ by {byEngine:E3}");
        Assert.True(crossed < 3e-3, $"engine on ours vs llama.cpp on theirs differ by {crossed:E3}");
    }

    private float[] EngineLogits(string path)
    {
        using var model = ModelLoader.Load(path, new CpuKernels(2));
        var session = new InferenceSession(model.Model, 256, GgmlType.F32);
        return session.Evaluate(Prompt).ToArray();
    }

    private (string Ours, string Theirs) QuantizeBoth(TestModelShape shape, string targetName, string label)
    {
        var target = QuantizationTarget.Find(targetName)!;
        string source = _dir.File($"{label}-source.gguf");
        string ours = _dir.File($"{label}-{targetName}-ours.gguf"), theirs = _dir.File($"{label}-{targetName}-llama.gguf");
        TestModelBuilder.Write(source, shape, TestVocabulary.ByteLevel());
        var summary = ModelQuantizer.Quantize(source, ours, target, threads: 2);
        LlamaCppQuantizer.Quantize(source, theirs, (uint)target.FileType);
        output.WriteLine($"{label} -> {targetName}: {summary.Converted} converted, {summary.FellBack} fell back, {summary.OutputBytes} bytes ({new FileInfo(theirs).Length} by llama.cpp)");
        return (ours, theirs);
    }

    private void AssertIdentical(TestModelShape shape, string targetName, string label)
    {
        var (ours, theirs) = QuantizeBoth(shape, targetName, label);
        var differences = GgufComparison.CompareTensors(ours, theirs);
        foreach (var d in differences.Where(d => !d.Identical)) output.WriteLine("  differs: " + d);
        foreach (var group in differences.GroupBy(d => d.ReferenceType))
            output.WriteLine($"  {group.Key}: {group.Count(d => d.Identical)}/{group.Count()} tensors identical ({string.Join(", ", group.Select(d => d.Name).Take(4))}{(group.Count() > 4 ? ", ..." : "")})");

        Assert.Empty(differences.Where(d => !d.SameType).Select(d => d.ToString()));
        Assert.Empty(differences.Where(d => !d.Identical).Select(d => d.ToString()));
        Assert.Equal(GgufComparison.MetadataLines(theirs), GgufComparison.MetadataLines(ours));
        Assert.True(File.ReadAllBytes(ours).AsSpan().SequenceEqual(File.ReadAllBytes(theirs)), "tensors and metadata agree but the files' bytes differ");
    }
}

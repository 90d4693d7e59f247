using Liaoyuan.Engine.Gguf;
using Liaoyuan.Engine.Quantization;
using Liaoyuan.Operators.Tensors;
using Liaoyuan.TestSupport;

namespace Liaoyuan.Engine.Tests.Quantization;

/// <summary>The quantizer's own behaviour: atomic output, thread-independence, type choices that need no reference.</summary>
public sealed class ModelQuantizerTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Model(TestModelShape? shape = null)
    {
        string path = _dir.File("in.gguf");
        TestModelBuilder.Write(path, shape ?? new TestModelShape { Embedding = 256, HeadDim = 64, FeedForward = 256, Layers = 3 }, TestVocabulary.ByteLevel());
        return path;
    }

    [Fact]
    public void CancellingMidwayKeepsTheOldOutputAndLeavesNoPartialFile()
    {
        string input = Model(), output = _dir.File("out.gguf");
        File.WriteAllText(output, "previous contents");
        using var cancel = new CancellationTokenSource();
        int seen = 0;
        Assert.ThrowsAny<OperationCanceledException>(() => ModelQuantizer.Quantize(input, output, QuantizationTarget.Find("Q4_K_M")!, 2,
            _ => { if (++seen == 5) cancel.Cancel(); }, cancel.Token));
        Assert.Equal(5, seen);
        Assert.Equal("previous contents", File.ReadAllText(output));
        Assert.False(File.Exists(output + ".partial"));
    }

    [Fact]
    public void OutputDoesNotDependOnTheThreadCount()
    {
        string input = Model(), one = _dir.File("one.gguf"), many = _dir.File("many.gguf");
        var target = QuantizationTarget.Find("Q4_K_M")!;
        ModelQuantizer.Quantize(input, one, target, threads: 1);
        ModelQuantizer.Quantize(input, many, target, threads: 4);
        Assert.Equal(File.ReadAllBytes(one), File.ReadAllBytes(many));
    }

    [Fact]
    public void ProgressIsReportedOncePerTensorInWriteOrder()
    {
        string input = Model(), output = _dir.File("out.gguf");
        var reported = new List<string>();
        var summary = ModelQuantizer.Quantize(input, output, QuantizationTarget.Find("Q8_0")!, 2, p => reported.Add(p.Tensor.Name));
        using var file = GgufFile.Open(output);
        Assert.Equal(file.Tensors.Select(t => t.Name), reported);
        Assert.Equal(summary.OutputBytes, new FileInfo(output).Length);
    }

    [Fact]
    public void NormsAndBiasesStayF32AndMetadataIsCopiedWithTheNewFileType()
    {
        string input = Model(new TestModelShape { Architecture = "qwen2", Embedding = 256, HeadDim = 64, FeedForward = 256 });
        string output = _dir.File("out.gguf");
        ModelQuantizer.Quantize(input, output, QuantizationTarget.Find("Q6_K")!);
        using var source = GgufFile.Open(input);
        using var file = GgufFile.Open(output);
        foreach (var t in file.Tensors.Where(t => t.Shape.Length == 1)) Assert.Equal(GgmlType.F32, t.Type);
        Assert.All(file.Tensors.Where(t => t.Shape.Length == 2), t => Assert.Equal(GgmlType.Q6_K, t.Type));
        Assert.Equal(source.GetString("tokenizer.ggml.pre"), file.GetString("tokenizer.ggml.pre"));
        Assert.Equal(source.GetArrayOrNull<string>("tokenizer.ggml.tokens"), file.GetArrayOrNull<string>("tokenizer.ggml.tokens"));
        Assert.Equal((long)LlamaFileType.MostlyQ6_K, file.GetInteger("general.file_type"));
        Assert.Equal(new[] { "general.quantization_version", "general.file_type" }, file.MetadataList.TakeLast(2).Select(kv => kv.Key));
    }

    [Fact]
    public void SamePathIsRefusedBeforeAnythingIsTouched()
    {
        string input = Model();
        byte[] before = File.ReadAllBytes(input);
        var e = Assert.Throws<QuantizationException>(() =>
            ModelQuantizer.Quantize(input, Path.Combine(_dir.Path, "x", "..", "in.gguf"), QuantizationTarget.Find("Q8_0")!));
        Assert.Contains("input", e.Message);
        Assert.Equal(before, File.ReadAllBytes(input));
    }

    [Theory]
    [InlineData("q4_k_m", "Q4_K_M", 15u)]
    [InlineData("Q4_K", "Q4_K_M", 15u)]
    [InlineData("q8_0", "Q8_0", 7u)]
    [InlineData("bf16", "BF16", 32u)]
    public void TargetsAreFoundByLlamaQuantizeNames(string name, string canonical, uint fileType)
    {
        var target = QuantizationTarget.Find(name)!;
        Assert.Equal(canonical, target.Name);
        Assert.Equal(fileType, (uint)target.FileType);
    }

    [Fact]
    public void UnknownTargetIsNull() => Assert.Null(QuantizationTarget.Find("Q3_K_XL"));

    [Theory]
    [InlineData("blk.0.attn_norm.weight", 2, false)]
    [InlineData("blk.0.attn_q.bias", 2, false)]
    [InlineData("blk.0.attn_q.weight", 1, false)]
    [InlineData("blk.0.ffn_gate_inp.weight", 2, false)]
    [InlineData("output.weight", 2, true)]
    [InlineData("blk.3.ffn_down.weight", 3, true)]
    public void OnlyMultiDimensionalNonNormWeightsAreQuantized(string name, int dims, bool expected) =>
        Assert.Equal(expected, TensorTypeChooser.AllowsQuantization(name, dims));
}

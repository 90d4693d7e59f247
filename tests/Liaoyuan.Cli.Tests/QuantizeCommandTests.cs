using Liaoyuan.Engine.Gguf;
using Liaoyuan.Operators.Tensors;
using Liaoyuan.TestSupport;

namespace Liaoyuan.Cli.Tests;

/// <summary>`liaoyuan quantize` run in-process: the normal path and bad input (one line, exit code 2, no output file).</summary>
public sealed class QuantizeCommandTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Model(string name = "in.gguf", TestModelShape? shape = null)
    {
        string path = _dir.File(name);
        TestModelBuilder.Write(path, shape ?? new TestModelShape { Embedding = 256, HeadDim = 64, FeedForward = 256 }, TestVocabulary.ByteLevel());
        return path;
    }

    private static void AssertCleanFailure(CliResult result, params string[] fragments)
    {
        Assert.Equal(2, result.ExitCode);
        string line = result.Error.Trim();
        Assert.StartsWith("error: ", line);
        Assert.DoesNotContain('\n', line);
        foreach (string fragment in fragments) Assert.Contains(fragment, line);
    }

    private void AssertNoOutput(string path)
    {
        Assert.False(File.Exists(path), $"{path} was written");
        Assert.False(File.Exists(path + ".partial"), $"{path}.partial was left behind");
    }

    [Fact]
    public void QuantizesAndSummarizes()
    {
        string input = Model(), output = _dir.File("out.gguf");
        var result = CliRunner.Run("quantize", input, output, "q4_k_m", "--threads", "2");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("general.file_type 15", result.Out);
        Assert.Contains("size:", result.Out);
        Assert.Contains("time:", result.Out);
        // One progress line per tensor on stderr, naming the conversion.
        using var file = GgufFile.Open(output);
        Assert.Equal(file.Tensors.Count, result.Error.Split('\n').Count(l => l.StartsWith('[')));
        Assert.Contains("blk.1.attn_v.weight [256, 128] F32 -> Q6_K", result.Error);
        Assert.Equal(GgmlType.Q4_K, file.FindTensor("blk.0.attn_q.weight")!.Type);
        Assert.Equal(15L, file.GetInteger("general.file_type"));
        Assert.Equal(2L, file.GetInteger("general.quantization_version"));
    }

    [Fact]
    public void HelpDescribesTheCommand()
    {
        var result = CliRunner.Run("quantize", "--help");
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("Q4_K_M", result.Out);
        Assert.Contains("--threads", result.Out);
    }

    [Fact]
    public void UnknownTypeListsTheValidOnes()
    {
        string input = Model(), output = _dir.File("out.gguf");
        AssertCleanFailure(CliRunner.Run("quantize", input, output, "Q3_K_XL"), "'Q3_K_XL'", "Q4_K_M", "Q8_0", "Q6_K");
        AssertNoOutput(output);
    }

    [Fact]
    public void SameInputAndOutputIsRefused()
    {
        string input = Model();
        long size = new FileInfo(input).Length;
        string sameFile = Path.Combine(_dir.Path, ".", "in.gguf");
        AssertCleanFailure(CliRunner.Run("quantize", input, sameFile, "Q8_0"), "input");
        Assert.Equal(size, new FileInfo(input).Length);
    }

    [Fact]
    public void MissingInputIsNamed()
    {
        string output = _dir.File("out.gguf");
        AssertCleanFailure(CliRunner.Run("quantize", _dir.File("nope.gguf"), output, "Q8_0"), "nope.gguf", "no such file");
        AssertNoOutput(output);
    }

    [Fact]
    public void NotAGgufIsOneLine()
    {
        string input = _dir.File("text.gguf"), output = _dir.File("out.gguf");
        File.WriteAllText(input, "this is not a model, just some text that is long enough");
        AssertCleanFailure(CliRunner.Run("quantize", input, output, "Q4_0"), "text.gguf", "not a GGUF");
        AssertNoOutput(output);
    }

    [Fact]
    public void TruncatedInputIsOneLine()
    {
        byte[] bytes = File.ReadAllBytes(Model());
        string cut = _dir.File("cut.gguf"), output = _dir.File("out.gguf");
        File.WriteAllBytes(cut, bytes[..(bytes.Length / 2)]);
        AssertCleanFailure(CliRunner.Run("quantize", cut, output, "Q4_K_M"), "cut.gguf", "past the end");
        AssertNoOutput(output);
    }

    [Fact]
    public void RowsWithNoFallbackTypeAreNamedAndNothingIsWritten()
    {
        // Rows of 48 are not a whole number of Q8_0's 32-element blocks, and Q8_0 has no fallback (llama.cpp fails too).
        string input = Model(shape: new TestModelShape { Embedding = 48, Heads = 3, KvHeads = 1, HeadDim = 16, FeedForward = 64 });
        string output = _dir.File("out.gguf");
        AssertCleanFailure(CliRunner.Run("quantize", input, output, "Q8_0"), "rows of 48", "Q8_0");
        AssertNoOutput(output);
    }

    [Fact]
    public void NegativeThreadCountIsRefused()
    {
        string input = Model(), output = _dir.File("out.gguf");
        AssertCleanFailure(CliRunner.Run("quantize", input, output, "Q8_0", "--threads", "-1"), "--threads");
        AssertNoOutput(output);
    }

    [Fact]
    public void MissingArgumentsAreAUsageError()
    {
        var result = CliRunner.Run("quantize", Model());
        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith("error: ", result.Error.Trim());
    }
}

using Liaoyuan.Engine.Gguf;
using Liaoyuan.Operators.Tensors;
using Liaoyuan.TestSupport;

namespace Liaoyuan.Cli.Tests;

/// <summary>Bad files and bad text end in one clear line on stderr and exit code 2, never a stack trace.</summary>
public sealed class BadInputTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string ValidModel(string name = "ok.gguf", TestModelShape? shape = null)
    {
        string path = _dir.File(name);
        TestModelBuilder.Write(path, shape ?? new TestModelShape(), TestVocabulary.ByteLevel());
        return path;
    }

    private static void AssertCleanFailure(CliResult result, params string[] expectedFragments)
    {
        Assert.Equal(2, result.ExitCode);
        string line = result.Error.Trim();
        Assert.StartsWith("error: ", line);
        Assert.DoesNotContain("   at ", result.Error);
        foreach (string fragment in expectedFragments) Assert.Contains(fragment, line);
    }

    [Fact]
    public void NonUtf8TextNamesTheByteOffset()
    {
        string model = ValidModel();
        string text = _dir.File("bad.txt");
        File.WriteAllBytes(text, [(byte)'a', (byte)'b', 0xC3, 0x28, (byte)'c']);
        AssertCleanFailure(CliRunner.Run("tokenize", model, "--file", text), "bad.txt", "UTF-8", "offset 2");
    }

    [Fact]
    public void MissingModelFileIsNamed()
    {
        AssertCleanFailure(CliRunner.Run("run", _dir.File("nope.gguf"), "--prompt", "hi"), "nope.gguf");
    }

    [Fact]
    public void UnknownArchitectureIsNamed()
    {
        string path = ValidModel(shape: new TestModelShape { Architecture = "gptx" });
        AssertCleanFailure(CliRunner.Run("run", path, "--prompt", "hi"), "unknown architecture 'gptx'");
    }

    [Fact]
    public void MissingTensorIsNamed()
    {
        string path = ValidModel();
        string cut = _dir.File("missing.gguf");
        Rewrite(path, cut, tensor => tensor.Name != "blk.1.ffn_up.weight");
        AssertCleanFailure(CliRunner.Run("run", cut, "--prompt", "hi"), "'blk.1.ffn_up.weight'", "missing");
    }

    [Fact]
    public void MismatchedShapeIsNamed()
    {
        string path = ValidModel(shape: new TestModelShape { FeedForward = 96 });
        string mixed = _dir.File("mixed.gguf");
        // Take the metadata of a model with FFN 128 but the tensors of one with FFN 96.
        string reference = ValidModel("ref.gguf");
        using (var meta = GgufFile.Open(reference))
        using (var tensors = GgufFile.Open(path))
        {
            var w = new GgufWriter();
            foreach (var (key, value) in meta.MetadataList) w.Set(key, value);
            foreach (var t in tensors.Tensors) w.AddTensor(t.Name, t.Type, t.Shape, tensors.TensorBytes(t).ToArray());
            w.Write(mixed);
        }
        AssertCleanFailure(CliRunner.Run("run", mixed, "--prompt", "hi"), "'blk.0.ffn_gate.weight'", "shape");
    }

    [Fact]
    public void UnknownTensorTypeNamesTensorAndOffset()
    {
        string path = ValidModel();
        byte[] bytes = File.ReadAllBytes(path);
        using (var f = GgufFile.Open(path)) { }
        // Find the type field of the first tensor info: after its name and dims. Simplest: patch type 0 (F32) of
        // 'output_norm.weight' (1-D) by locating the name in the header.
        byte[] name = "output_norm.weight"u8.ToArray();
        int at = bytes.AsSpan().IndexOf(name) + name.Length;
        int typeOffset = at + 4 + 8; // n_dims (u32) + one dimension (u64)
        Assert.Equal(0, bytes[typeOffset]);
        bytes[typeOffset] = 77;
        string bad = _dir.File("badtype.gguf");
        File.WriteAllBytes(bad, bytes);
        AssertCleanFailure(CliRunner.Run("inspect", bad), "'output_norm.weight'", "type 77", "byte offset");
    }

    [Fact]
    public void TruncatedFileIsReportedNotRead()
    {
        string path = ValidModel();
        byte[] bytes = File.ReadAllBytes(path);
        string cut = _dir.File("cut.gguf");
        File.WriteAllBytes(cut, bytes[..(bytes.Length / 2)]);
        AssertCleanFailure(CliRunner.Run("run", cut, "--prompt", "hi"), "cut.gguf", "past the end");
    }

    [Fact]
    public void PromptPastTheContextIsAClearError()
    {
        string path = ValidModel();
        AssertCleanFailure(CliRunner.Run("run", path, "--ctx", "8", "--prompt", "a long prompt that is much longer than eight tokens"), "context");
    }

    private static void Rewrite(string source, string destination, Func<GgufTensorInfo, bool> keep)
    {
        using var f = GgufFile.Open(source);
        var w = new GgufWriter();
        foreach (var (key, value) in f.MetadataList) w.Set(key, value);
        foreach (var t in f.Tensors.Where(keep)) w.AddTensor(t.Name, t.Type, t.Shape, f.TensorBytes(t).ToArray());
        w.Write(destination);
    }
}

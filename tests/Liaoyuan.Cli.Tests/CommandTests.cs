using Liaoyuan.TestSupport;

namespace Liaoyuan.Cli.Tests;

public sealed class CommandTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Model()
    {
        string path = _dir.File("m.gguf");
        TestModelBuilder.Write(path, new TestModelShape { Architecture = "qwen2", Context = 256 }, TestVocabularies.Multilingual());
        return path;
    }

    [Theory]
    [InlineData("inspect")]
    [InlineData("tokenize")]
    [InlineData("run")]
    [InlineData("chat")]
    [InlineData("perplexity")]
    public void EveryCommandHasHelp(string command)
    {
        var result = CliRunner.Run(command, "--help");
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("Usage:", result.Out);
        Assert.Contains(command, result.Out);
    }

    [Fact]
    public void InspectShowsMetadataAndTensors()
    {
        var result = CliRunner.Run("inspect", Model());
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("general.architecture", result.Out);
        Assert.Contains("\"qwen2\"", result.Out);
        Assert.Contains("blk.1.attn_q.bias", result.Out);
        Assert.Contains("token_embd.weight", result.Out);
    }

    [Fact]
    public void ChatRendersTurnsAndAnswersUntilExit()
    {
        string model = Model();
        var result = CliRunner.RunWithInput("hello there\n/reset\n你好\n/exit\n", "chat", model, "--temperature", "0", "--max-tokens", "8");
        Assert.Equal(0, result.ExitCode);
        // The test vocabulary has no chat template: one warning, then ChatML.
        Assert.Contains("ChatML", result.Error);
        Assert.Equal(4, result.Out.Split("> ").Length - 1); // prompts before each of the four inputs
        Assert.Contains("(conversation cleared)", result.Out);
    }

    [Fact]
    public void UnknownCommandOrOptionExitsWithTwo()
    {
        Assert.Equal(2, CliRunner.Run("fly").ExitCode);
        Assert.Equal(2, CliRunner.Run("run", Model(), "--prompt", "x", "--bogus").ExitCode);
    }

    [Fact]
    public void SeededSamplingIsReproducible()
    {
        string model = Model();
        var a = CliRunner.Run("run", model, "--prompt", "spark", "--max-tokens", "12", "--temperature", "1.2", "--seed", "9");
        var b = CliRunner.Run("run", model, "--prompt", "spark", "--max-tokens", "12", "--temperature", "1.2", "--seed", "9");
        Assert.Equal(0, a.ExitCode);
        Assert.Equal(a.Out, b.Out);
    }
}

using Liaoyuan.TestSupport;

namespace Liaoyuan.Cli.Tests;

public sealed class ChatContextTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void LongChatDropsTheOldestExchangesInsteadOfFailing()
    {
        string model = _dir.File("small-context.gguf");
        TestModelBuilder.Write(model, new TestModelShape { Context = 64 }, TestVocabularies.Multilingual());
        string turn = "please tell me a story about the river and the mountain\n";
        var result = CliRunner.RunWithInput(string.Concat(Enumerable.Repeat(turn, 4)) + "/exit\n",
            "chat", model, "--temperature", "0", "--max-tokens", "8");
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("the oldest exchange was dropped", result.Error);
        Assert.DoesNotContain("error:", result.Error);
        Assert.Equal(5, result.Out.Split("> ").Length - 1); // every input was answered, then /exit
    }
}

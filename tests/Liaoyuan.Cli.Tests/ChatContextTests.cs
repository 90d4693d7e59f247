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

    [Fact]
    public void WithoutAModelChatUsesTheEmbeddedChatModelAndOtherCommandsTheBase()
    {
        var chat = CliRunner.RunWithInput("What is 237 + 675?\n/exit\n", "chat", "--temperature", "0", "--max-tokens", "40");
        Assert.Equal(0, chat.ExitCode);
        Assert.Contains("Chatting with liaoyuan-demo-chat.gguf", chat.Out);
        Assert.Contains("237 + 675 =", chat.Out); // it answers in the worked form it was tuned on
        // Raw completion without a model is the base's: the same greedy text as naming the base, not the chat model's.
        string[] run = ["run", "--prompt", "《春夜》", "--temperature", "0", "--max-tokens", "12"];
        var byDefault = CliRunner.Run(run);
        Assert.Equal(0, byDefault.ExitCode);
        Assert.Equal(CliRunner.Run([.. run, EmbeddedModel("liaoyuan-demo.gguf")]).Out, byDefault.Out);
        Assert.NotEqual(CliRunner.Run([.. run, EmbeddedModel("liaoyuan-demo-chat.gguf")]).Out, byDefault.Out);
    }

    private static string EmbeddedModel(string file)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string path = Path.Combine(dir.FullName, "models", file);
            if (File.Exists(path)) return path;
        }
        throw new FileNotFoundException($"models/{file} not found above {AppContext.BaseDirectory}");
    }
}

using Liaoyuan.Engine.Generation;
using Liaoyuan.Engine.Models;
using Liaoyuan.Engine.Templates;
using Liaoyuan.Operators.Kernels;
using Liaoyuan.Server.InProcess;
using Liaoyuan.TestSupport;
using AI = Microsoft.Extensions.AI;

namespace Liaoyuan.Server.Tests.InProcess;

public sealed class EngineChatClientTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly LoadedModel _model;

    public EngineChatClientTests()
    {
        string path = _dir.File("chat.gguf");
        TestModelBuilder.Write(path, new TestModelShape { Architecture = "qwen2", Context = 256 }, TestVocabularies.Multilingual());
        _model = ModelLoader.Load(path, new CpuKernels(2));
    }

    public void Dispose()
    {
        _model.Dispose();
        _dir.Dispose();
    }

    private static readonly AI.ChatMessage[] Conversation =
    [
        new(AI.ChatRole.System, "You are terse."),
        new(AI.ChatRole.User, "The quick brown fox?"),
    ];

    private static AI.ChatOptions Greedy => new() { Temperature = 0, MaxOutputTokens = 12 };

    [Fact]
    public async Task AnswersAsTheEngineDoesWithExactUsage()
    {
        using var client = new EngineChatClient(_model);
        var response = await client.GetResponseAsync(Conversation, Greedy);

        var template = ChatTemplate.FromModelOrFallback(_model.Tokenizer.ChatTemplate, _ => { });
        var prompt = ChatPrompt.Tokenize(template, _model.Tokenizer, [new ChatMessage("system", "You are terse."), new ChatMessage("user", "The quick brown fox?")]);
        var expected = new Generator(new InferenceSession(_model.Model, 256), _model.Tokenizer)
            .Generate(prompt, new GenerationOptions { MaxTokens = 12, Sampling = SamplingOptions.Greedy });

        Assert.Equal(expected.Text, response.Text);
        Assert.Equal(prompt.Length, response.Usage!.InputTokenCount);
        Assert.Equal(expected.CompletionTokens, response.Usage.OutputTokenCount);
        Assert.Equal(expected.FinishReason == FinishReason.Length ? AI.ChatFinishReason.Length : AI.ChatFinishReason.Stop, response.FinishReason);
    }

    [Fact]
    public async Task StreamingUpdatesAddUpToTheResponse()
    {
        using var client = new EngineChatClient(_model);
        string whole = (await client.GetResponseAsync(Conversation, Greedy)).Text;
        var updates = new List<AI.ChatResponseUpdate>();
        await foreach (var update in client.GetStreamingResponseAsync(Conversation, Greedy)) updates.Add(update);
        Assert.Equal(whole, string.Concat(updates.Select(u => u.Text)));
        Assert.Contains(updates, u => u.Contents.OfType<AI.UsageContent>().Any());
        Assert.NotNull(updates[^1].FinishReason);
    }

    [Fact]
    public async Task BadSamplingSettingsAndToolsAreRejected()
    {
        using var client = new EngineChatClient(_model);
        await Assert.ThrowsAsync<ArgumentException>(() => client.GetResponseAsync(Conversation, new AI.ChatOptions { TopP = 0 }));
        var withTool = new AI.ChatOptions { Tools = [AI.AIFunctionFactory.Create(() => 42, "answer")] };
        await Assert.ThrowsAsync<NotSupportedException>(() => client.GetResponseAsync(Conversation, withTool));
        Assert.Same(client.Metadata, client.GetService(typeof(AI.ChatClientMetadata)));
    }
}

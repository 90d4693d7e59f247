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
        TestModelBuilder.Write(path, new TestModelShape { Architecture = "qwen2", Context = 1024 }, TestVocabularies.Multilingual());
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
    public async Task BadSamplingSettingsAndToolModesAreRejected()
    {
        using var client = new EngineChatClient(_model);
        await Assert.ThrowsAsync<ArgumentException>(() => client.GetResponseAsync(Conversation, new AI.ChatOptions { TopP = 0 }));
        var unknown = new AI.ChatOptions { Tools = [Weather(_ => { })], ToolMode = AI.ChatToolMode.RequireSpecific("no_such_function") };
        await Assert.ThrowsAsync<ArgumentException>(() => client.GetResponseAsync(Conversation, unknown));
        await Assert.ThrowsAsync<ArgumentException>(() => client.GetResponseAsync(Conversation, new AI.ChatOptions { ToolMode = AI.ChatToolMode.RequireAny }));
        Assert.Same(client.Metadata, client.GetService(typeof(AI.ChatClientMetadata)));
    }

    private static AI.AIFunction Weather(Action<string> called) =>
        AI.AIFunctionFactory.Create((string city) => { called(city); return $"sunny in {city}"; }, "get_weather", "The weather in a city");

    /// <summary>Passes requests on, keeping the messages of each.</summary>
    private sealed class RecordingClient(AI.IChatClient inner) : AI.DelegatingChatClient(inner)
    {
        public List<List<AI.ChatMessage>> Requests { get; } = [];

        public override Task<AI.ChatResponse> GetResponseAsync(IEnumerable<AI.ChatMessage> messages, AI.ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            Requests.Add(messages.ToList());
            return base.GetResponseAsync(messages, options, cancellationToken);
        }
    }

    [Fact]
    public async Task FunctionInvokingChatClientRunsAForcedCallRoundTrip()
    {
        using var engine = new EngineChatClient(_model);
        var recorder = new RecordingClient(engine);
        using var client = new AI.FunctionInvokingChatClient(recorder) { MaximumIterationsPerRequest = 3 };
        var cities = new List<string>();
        var options = new AI.ChatOptions
        {
            Tools = [Weather(cities.Add)],
            ToolMode = AI.ChatToolMode.RequireSpecific("get_weather"),
            Temperature = 1,
            Seed = 7,
            MaxOutputTokens = 24,
        };

        var response = await client.GetResponseAsync([new AI.ChatMessage(AI.ChatRole.User, "Weather in Paris?")], options);

        // The model has random weights: the call is well-formed only because the grammar made it so.
        Assert.NotEmpty(cities);
        var contents = response.Messages.SelectMany(m => m.Contents).ToList();
        var call = contents.OfType<AI.FunctionCallContent>().First();
        Assert.Equal("get_weather", call.Name);
        Assert.Null(call.Exception);
        var result = contents.OfType<AI.FunctionResultContent>().First(r => r.CallId == call.CallId);
        Assert.Equal($"sunny in {cities[0]}", result.Result?.ToString());
        Assert.True(recorder.Requests.Count >= 2, "the function's result goes back to the model");

        // The second request carries the call and its result, rendered as turns the template understands.
        var second = InProcessRequests.Conversation(recorder.Requests[1]);
        var assistant = Assert.Single(second, m => m.ToolCalls is { Count: > 0 });
        Assert.Equal(call.CallId, assistant.ToolCalls![0].Id);
        var tool = Assert.Single(second, m => m.Role == "tool" && m.ToolCallId == call.CallId);
        Assert.Equal($"sunny in {cities[0]}", tool.Content);
        Assert.Equal("get_weather", tool.Name);
    }

    [Fact]
    public async Task StreamingYieldsTheForcedCallWithParsedArguments()
    {
        using var client = new EngineChatClient(_model);
        var options = new AI.ChatOptions { Tools = [Weather(_ => { })], ToolMode = AI.ChatToolMode.RequireAny, Temperature = 1, Seed = 3, MaxOutputTokens = 80 };
        var updates = new List<AI.ChatResponseUpdate>();
        await foreach (var update in client.GetStreamingResponseAsync(Conversation, options)) updates.Add(update);
        var call = Assert.Single(updates.SelectMany(u => u.Contents).OfType<AI.FunctionCallContent>());
        Assert.Equal("get_weather", call.Name);
        Assert.Null(call.Exception);
        Assert.IsType<System.Text.Json.JsonElement>(call.Arguments!["city"]);
        Assert.Equal(AI.ChatFinishReason.ToolCalls, updates[^1].FinishReason);
    }

    private static readonly ChatMessage[] ToolConversation =
    [
        new("user", "Weather in Paris?"),
        new("assistant", null) { ToolCalls = [new ToolCall("call_1", "get_weather", "{\"city\": \"Paris\"}")] },
        new("tool", "sunny") { ToolCallId = "call_1", Name = "get_weather" },
    ];

    private static IReadOnlyList<System.Text.Json.JsonElement> ToolDefinitions() =>
        InProcessRequests.ReplyFormatOf(new AI.ChatOptions { Tools = [Weather(_ => { })] }).Tools;

    [Fact]
    public void A_template_with_tool_syntax_renders_tools_calls_and_results_itself()
    {
        var qwen = ChatTemplate.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Data", "Qwen-Qwen2.5-7B-Instruct.jinja")));
        string prompt = new Liaoyuan.Server.Tools.ChatPromptRenderer(qwen, _model.Tokenizer).Render(ToolConversation, ToolDefinitions());
        Assert.Contains("<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\"", prompt);
        Assert.Contains("<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call><|im_end|>", prompt);
        Assert.Contains("<|im_start|>user\n<tool_response>\nsunny\n</tool_response><|im_end|>", prompt);
        Assert.DoesNotContain("# Tools\n\nYou can call these functions", prompt);
    }

    [Fact]
    public void A_template_without_tool_syntax_gets_the_tools_described_and_calls_written_as_text()
    {
        string prompt = new Liaoyuan.Server.Tools.ChatPromptRenderer(ChatTemplate.ChatMl, _model.Tokenizer).Render(ToolConversation, ToolDefinitions());
        Assert.StartsWith("<|im_start|>system\n# Tools\n\nYou can call these functions", prompt);
        Assert.Contains("\"name\":\"get_weather\"", prompt);
        Assert.Contains("<|im_start|>assistant\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call><|im_end|>", prompt);
        Assert.Contains("<|im_start|>tool\nsunny<|im_end|>", prompt);
    }
}

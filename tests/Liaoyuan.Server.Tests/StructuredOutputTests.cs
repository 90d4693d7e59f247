using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;
using OpenAI.Chat;
using AIChatMessage = Microsoft.Extensions.AI.ChatMessage;
using ChatFinishReason = OpenAI.Chat.ChatFinishReason;
using ChatMessage = OpenAI.Chat.ChatMessage;
using ChatResponseFormat = OpenAI.Chat.ChatResponseFormat;

namespace Liaoyuan.Server.Tests;

/// <summary>
/// Tool calls and JSON output under constrained decoding. The model has random weights and no chat template, so
/// well-formed output here comes from the constraint alone.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class StructuredOutputTests(ModelFixture models)
{
    private const string PersonSchema = """
        {"type":"object","properties":{
            "name":{"type":"string"},
            "age":{"type":"integer"},
            "tags":{"type":"array","items":{"enum":["a","b","c"]},"maxItems":3},
            "nickname":{"anyOf":[{"type":"string"},{"type":"null"}]}},
         "required":["name","age","tags"],"additionalProperties":false}
        """;

    [Theory]
    [InlineData(0f, 40)]
    [InlineData(1.2f, 34)]
    [InlineData(1f, 30)] // the shortest matching object, {"name":"","age":0,"tags":[]}, takes 29 bytes
    public async Task Json_schema_output_always_parses_and_matches_the_schema(float temperature, int maxTokens)
    {
        await using var server = await RunningServer.StartAsync(models);
        var chat = server.OpenAi().GetChatClient(ModelFixture.ModelId);
        var options = new ChatCompletionOptions
        {
            MaxOutputTokenCount = maxTokens,
            Temperature = temperature,
            ResponseFormat = ChatResponseFormat.CreateJsonSchemaFormat("person", BinaryData.FromString(PersonSchema), jsonSchemaIsStrict: true),
        };
        var completion = (await chat.CompleteChatAsync([new UserChatMessage("Describe a person as JSON.")], options)).Value;
        using var json = JsonDocument.Parse(completion.Content[0].Text);
        var root = json.RootElement;
        Assert.Equal(JsonValueKind.String, root.GetProperty("name").ValueKind);
        Assert.True(root.GetProperty("age").TryGetInt64(out _));
        Assert.All(root.GetProperty("tags").EnumerateArray(), t => Assert.Contains(t.GetString(), new[] { "a", "b", "c" }));
        Assert.InRange(root.GetProperty("tags").GetArrayLength(), 0, 3);
        Assert.All(root.EnumerateObject(), p => Assert.Contains(p.Name, new[] { "name", "age", "tags", "nickname" }));
        Assert.True(completion.Usage.OutputTokenCount <= maxTokens);
    }

    [Fact]
    public async Task Json_object_mode_yields_a_json_object()
    {
        await using var server = await RunningServer.StartAsync(models);
        var chat = server.OpenAi().GetChatClient(ModelFixture.ModelId);
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 30, Temperature = 1, ResponseFormat = ChatResponseFormat.CreateJsonObjectFormat() };
        var completion = (await chat.CompleteChatAsync([new UserChatMessage("JSON please")], options)).Value;
        using var json = JsonDocument.Parse(completion.Content[0].Text);
        Assert.Equal(JsonValueKind.Object, json.RootElement.ValueKind);
    }

    private const string WeatherParameters = """
        {"type":"object","properties":{"city":{"type":"string"},"unit":{"enum":["celsius","fahrenheit"]}},"required":["city","unit"]}
        """;

    [Fact]
    public async Task A_forced_tool_choice_yields_a_well_formed_call_with_the_sdk_streaming_and_not()
    {
        await using var server = await RunningServer.StartAsync(models);
        var chat = server.OpenAi().GetChatClient(ModelFixture.ModelId);
        var options = new ChatCompletionOptions
        {
            MaxOutputTokenCount = 40,
            Temperature = 1,
            Tools = { ChatTool.CreateFunctionTool("get_weather", "Weather for a city", BinaryData.FromString(WeatherParameters)),
                      ChatTool.CreateFunctionTool("get_time", "Time in a city", BinaryData.FromString("""{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}""")) },
            ToolChoice = ChatToolChoice.CreateFunctionChoice("get_weather"),
        };
        ChatMessage[] messages = [new UserChatMessage("What is the weather in Paris?")];
        var completion = (await chat.CompleteChatAsync(messages, options)).Value;
        Assert.Equal(ChatFinishReason.ToolCalls, completion.FinishReason);
        var call = Assert.Single(completion.ToolCalls);
        Assert.Equal("get_weather", call.FunctionName);
        Assert.StartsWith("call_", call.Id);
        AssertWeatherArguments(call.FunctionArguments.ToString());

        var arguments = new StringBuilder();
        string? name = null, id = null;
        ChatFinishReason? finish = null;
        await foreach (var update in chat.CompleteChatStreamingAsync(messages, options))
        {
            foreach (var part in update.ToolCallUpdates)
            {
                name ??= part.FunctionName;
                id ??= part.ToolCallId;
                if (part.FunctionArgumentsUpdate is { } delta) arguments.Append(delta.ToString());
            }
            finish ??= update.FinishReason;
        }
        Assert.Equal("get_weather", name);
        Assert.NotNull(id);
        Assert.Equal(ChatFinishReason.ToolCalls, finish);
        AssertWeatherArguments(arguments.ToString());
    }

    [Fact]
    public async Task Required_tool_choice_through_IChatClient_returns_a_function_call()
    {
        await using var server = await RunningServer.StartAsync(models);
        IChatClient client = server.OpenAi().GetChatClient(ModelFixture.ModelId).AsIChatClient();
        var weather = AIFunctionFactory.Create((string city, string unit) => $"sunny in {city}", "get_weather", "Weather for a city");
        var response = await client.GetResponseAsync([new AIChatMessage(ChatRole.User, "Weather in Paris?")],
            new ChatOptions { Tools = [weather], ToolMode = ChatToolMode.RequireAny, MaxOutputTokens = 80, Temperature = 1 });
        var call = Assert.Single(response.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>());
        Assert.Equal("get_weather", call.Name);
        Assert.NotNull(call.Arguments);
        Assert.Contains("city", call.Arguments.Keys);
        Assert.Equal(Microsoft.Extensions.AI.ChatFinishReason.ToolCalls, response.FinishReason);
    }

    [Fact]
    public async Task IChatClient_chats_and_streams_with_usage()
    {
        await using var server = await RunningServer.StartAsync(models);
        IChatClient client = server.OpenAi().GetChatClient(ModelFixture.ModelId).AsIChatClient();
        var options = new ChatOptions { MaxOutputTokens = 10, Temperature = 0 };
        var response = await client.GetResponseAsync("你好", options);
        int[] prompt = models.ChatPromptTokens(new Engine.Templates.ChatMessage("user", "你好"));
        var (tokens, text) = models.Greedy(prompt, 10);
        Assert.Equal(text, response.Text);
        Assert.Equal(prompt.Length, response.Usage?.InputTokenCount);
        Assert.Equal(tokens.Count, response.Usage?.OutputTokenCount);

        var streamed = new StringBuilder();
        UsageDetails? usage = null;
        await foreach (var update in client.GetStreamingResponseAsync("你好", options))
        {
            streamed.Append(update.Text);
            usage ??= update.Contents.OfType<UsageContent>().FirstOrDefault()?.Details;
        }
        Assert.Equal(text, streamed.ToString());
        Assert.Equal(tokens.Count, usage?.OutputTokenCount);
    }

    private static void AssertWeatherArguments(string arguments)
    {
        using var json = JsonDocument.Parse(arguments);
        Assert.Equal(JsonValueKind.String, json.RootElement.GetProperty("city").ValueKind);
        Assert.Contains(json.RootElement.GetProperty("unit").GetString(), new[] { "celsius", "fahrenheit" });
    }
}

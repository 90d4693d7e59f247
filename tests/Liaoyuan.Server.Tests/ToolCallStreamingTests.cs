using System.ClientModel;
using System.Net;
using System.Text;
using System.Text.Json;
using OpenAI.Chat;

namespace Liaoyuan.Server.Tests;

/// <summary>
/// Tool calls streamed as OpenAI streams them, and parallel calls. The model has random weights, so the calls come
/// from the grammar of forced tool choice; end-of-generation is banned so the model would go on if it could.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class ToolCallStreamingTests(ModelFixture models)
{
    private const string TimeParameters = """{"type":"object","properties":{"zone":{"enum":["utc","cet"]}},"required":["zone"]}""";
    private const string AlarmParameters = """{"type":"object","properties":{"at":{"enum":["now","soon"]}},"required":["at"]}""";

    private string EndOfGenerationBans => string.Join(",", models.Reference.Tokenizer.EndOfGenerationIds.Select(id => $"\"{id}\":-100"));

    [Fact]
    public async Task Required_calls_stream_as_OpenAI_deltas_and_without_parallel_calls_there_is_exactly_one()
    {
        await using var server = await RunningServer.StartAsync(models);
        string body = "{\"model\":\"" + ModelFixture.ModelId + "\",\"messages\":[{\"role\":\"user\",\"content\":\"What time is it?\"}],"
            + "\"stream\":true,\"max_tokens\":150,\"temperature\":1,\"seed\":5,\"logit_bias\":{" + EndOfGenerationBans + "},"
            + "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_time\",\"parameters\":" + TimeParameters + "}},"
            + "{\"type\":\"function\",\"function\":{\"name\":\"set_alarm\",\"parameters\":" + AlarmParameters + "}}],"
            + "\"tool_choice\":\"required\",\"parallel_tool_calls\":false}";
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        using var response = await server.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var calls = new List<JsonElement>();
        string? finish = null;
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        while (await reader.ReadLineAsync() is { } line)
        {
            if (!line.StartsWith("data: {", StringComparison.Ordinal)) continue;
            using var chunk = JsonDocument.Parse(line["data: ".Length..]);
            var choice = chunk.RootElement.GetProperty("choices")[0];
            if (choice.GetProperty("delta").TryGetProperty("tool_calls", out var deltas)) calls.AddRange(deltas.EnumerateArray().Select(d => d.Clone()));
            if (choice.GetProperty("finish_reason").ValueKind == JsonValueKind.String) finish = choice.GetProperty("finish_reason").GetString();
        }

        Assert.True(calls.Count >= 2, $"expected an opening delta and argument fragments, got {calls.Count} deltas");
        Assert.All(calls, delta => Assert.Equal(0, delta.GetProperty("index").GetInt32()));
        var opening = calls[0];
        Assert.StartsWith("call_", opening.GetProperty("id").GetString());
        Assert.Equal("function", opening.GetProperty("type").GetString());
        string name = opening.GetProperty("function").GetProperty("name").GetString()!;
        Assert.Contains(name, new[] { "get_time", "set_alarm" });
        Assert.Equal("", opening.GetProperty("function").GetProperty("arguments").GetString());
        foreach (var fragment in calls.Skip(1))
        {
            Assert.False(fragment.TryGetProperty("id", out _));
            Assert.False(fragment.GetProperty("function").TryGetProperty("name", out _));
        }
        string arguments = string.Concat(calls.Select(c => c.GetProperty("function").GetProperty("arguments").GetString()));
        using var parsed = JsonDocument.Parse(arguments);
        Assert.Equal(JsonValueKind.Object, parsed.RootElement.ValueKind);
        Assert.Equal("tool_calls", finish);
    }

    [Fact]
    public async Task Parallel_calls_come_as_several_calls_and_the_sdk_reassembles_the_same_calls_from_the_stream()
    {
        await using var server = await RunningServer.StartAsync(models);
        var chat = server.OpenAi().GetChatClient(ModelFixture.ModelId);
        var options = new ChatCompletionOptions
        {
            MaxOutputTokenCount = 150,
            Temperature = 1,
            Seed = 11,
            AllowParallelToolCalls = true,
            ToolChoice = ChatToolChoice.CreateRequiredChoice(),
            Tools = { ChatTool.CreateFunctionTool("get_time", "The time in a zone", BinaryData.FromString(TimeParameters)),
                      ChatTool.CreateFunctionTool("set_alarm", "Sets an alarm", BinaryData.FromString(AlarmParameters)) },
        };
        foreach (int token in models.Reference.Tokenizer.EndOfGenerationIds) options.LogitBiases[token] = -100;
        ChatMessage[] messages = [new UserChatMessage("What time is it, and wake me soon.")];

        var whole = (await chat.CompleteChatAsync(messages, options)).Value;
        Assert.True(whole.ToolCalls.Count >= 2, $"expected several calls, got {whole.ToolCalls.Count}");
        Assert.Equal(ChatFinishReason.ToolCalls, whole.FinishReason);

        var streamed = new SortedDictionary<int, (string? Id, string? Name, StringBuilder Arguments)>();
        await foreach (var update in chat.CompleteChatStreamingAsync(messages, options))
        {
            foreach (StreamingChatToolCallUpdate part in update.ToolCallUpdates)
            {
                if (!streamed.TryGetValue(part.Index, out var call)) streamed[part.Index] = call = (null, null, new StringBuilder());
                streamed[part.Index] = (call.Id ?? part.ToolCallId, call.Name ?? part.FunctionName, call.Arguments.Append(part.FunctionArgumentsUpdate?.ToString()));
            }
        }
        Assert.Equal(whole.ToolCalls.Select(c => (c.FunctionName, c.FunctionArguments.ToString())),
            streamed.Values.Select(c => (c.Name!, c.Arguments.ToString())));
        Assert.All(streamed.Values, c => Assert.StartsWith("call_", c.Id));
        Assert.Equal(streamed.Count, streamed.Values.Select(c => c.Id).Distinct().Count());
        foreach (var call in whole.ToolCalls)
        {
            using var arguments = JsonDocument.Parse(call.FunctionArguments.ToString());
            Assert.Equal(JsonValueKind.String, arguments.RootElement.EnumerateObject().Single().Value.ValueKind);
        }
    }
}

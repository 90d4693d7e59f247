using System.Text;
using System.Text.Json;
using OpenAI.Chat;
using EngineMessage = Liaoyuan.Engine.Templates.ChatMessage;

namespace Liaoyuan.Server.Tests;

/// <summary>The server driven by the official OpenAI .NET SDK, with answers checked against the engine and tokenizer.</summary>
[Collection(ServerCollection.Name)]
public sealed class OpenAiSdkChatTests(ModelFixture models)
{
    [Fact]
    public async Task Greedy_chat_matches_the_engine_and_usage_matches_the_tokenizer()
    {
        await using var server = await RunningServer.StartAsync(models);
        var chat = server.OpenAi().GetChatClient(ModelFixture.ModelId);
        var result = await chat.CompleteChatAsync([new UserChatMessage("你好, how are you?")],
            new ChatCompletionOptions { MaxOutputTokenCount = 12, Temperature = 0, IncludeLogProbabilities = true });
        var completion = result.Value;

        int[] prompt = models.ChatPromptTokens(new EngineMessage("user", "你好, how are you?"));
        var (tokens, text) = models.Greedy(prompt, 12);
        Assert.Equal(text, completion.Content.Count == 0 ? "" : completion.Content[0].Text);
        Assert.Equal(prompt.Length, completion.Usage.InputTokenCount);
        Assert.Equal(tokens.Count, completion.Usage.OutputTokenCount);
        Assert.Equal(tokens.Count, completion.ContentTokenLogProbabilities.Count);
        Assert.All(completion.ContentTokenLogProbabilities, p => Assert.True(p.LogProbability <= 0));
        Assert.Equal(tokens.Count == 12 ? ChatFinishReason.Length : ChatFinishReason.Stop, completion.FinishReason);
    }

    [Fact]
    public async Task Streaming_deltas_add_up_to_the_same_reply_and_end_with_usage()
    {
        await using var server = await RunningServer.StartAsync(models);
        var chat = server.OpenAi().GetChatClient(ModelFixture.ModelId);
        ChatMessage[] messages = [new SystemChatMessage("Be brief."), new UserChatMessage("Tell me about 燎原.")];
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 16, Temperature = 0 };
        var whole = (await chat.CompleteChatAsync(messages, options)).Value;

        var streamed = new StringBuilder();
        ChatTokenUsage? usage = null;
        ChatFinishReason? finish = null;
        int updates = 0;
        await foreach (var update in chat.CompleteChatStreamingAsync(messages, options))
        {
            updates++;
            foreach (var part in update.ContentUpdate) streamed.Append(part.Text);
            usage ??= update.Usage;
            finish ??= update.FinishReason;
        }
        Assert.Equal(whole.Content.Count == 0 ? "" : whole.Content[0].Text, streamed.ToString());
        Assert.True(updates >= 3, $"expected a role chunk, content chunks and a finish chunk; got {updates} updates");
        Assert.NotNull(usage);
        Assert.Equal(whole.Usage.InputTokenCount, usage.InputTokenCount);
        Assert.Equal(whole.Usage.OutputTokenCount, usage.OutputTokenCount);
        Assert.Equal(whole.FinishReason, finish);
    }

    [Fact]
    public async Task Seeded_sampling_repeats_and_n_gives_separately_seeded_choices()
    {
        await using var server = await RunningServer.StartAsync(models);
        string Body(int n) => $$"""
            {"model":"{{ModelFixture.ModelId}}","messages":[{"role":"user","content":"hi"}],"max_tokens":10,
             "temperature":1.5,"top_p":0.9,"seed":42,"n":{{n}},"presence_penalty":0.5,"frequency_penalty":0.5}
            """;
        var first = await ReadChoicesAsync(await server.PostJsonAsync("/v1/chat/completions", Body(3)));
        var again = await ReadChoicesAsync(await server.PostJsonAsync("/v1/chat/completions", Body(1)));
        Assert.Equal(3, first.Count);
        Assert.Equal(first[0], again[0]);
    }

    private static async Task<List<string>> ReadChoicesAsync(HttpResponseMessage response)
    {
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return json.RootElement.GetProperty("choices").EnumerateArray()
            .OrderBy(c => c.GetProperty("index").GetInt32())
            .Select(c => c.GetProperty("message").GetProperty("content").GetString() ?? "").ToList();
    }

    [Fact]
    public async Task Stop_strings_end_the_reply_before_the_stop_text()
    {
        await using var server = await RunningServer.StartAsync(models);
        var chat = server.OpenAi().GetChatClient(ModelFixture.ModelId);
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 24, Temperature = 0 };
        string free = (await chat.CompleteChatAsync([new UserChatMessage("abc")], options)).Value.Content.FirstOrDefault()?.Text ?? "";
        Assert.True(free.Length >= 4, $"the fixed random model should reply with a few characters; got '{free}'");
        string stop = free.Substring(free.Length / 2, 2);
        options.StopSequences.Add(stop);
        var stopped = (await chat.CompleteChatAsync([new UserChatMessage("abc")], options)).Value;
        string text = stopped.Content.FirstOrDefault()?.Text ?? "";
        Assert.Equal(free[..free.IndexOf(stop, StringComparison.Ordinal)], text);
        Assert.Equal(ChatFinishReason.Stop, stopped.FinishReason);
    }

    [Fact]
    public async Task Models_lists_every_served_id_and_looks_one_up()
    {
        await using var server = await RunningServer.StartAsync(models);
        var client = server.OpenAi().GetOpenAIModelClient();
        var list = (await client.GetModelsAsync()).Value;
        Assert.Equal(["alias", ModelFixture.ModelId], list.Select(m => m.Id).Order());
        Assert.Equal("alias", (await client.GetModelAsync("alias")).Value.Id);
        Assert.Equal("liaoyuan", list[0].OwnedBy);
    }

    [Fact]
    public async Task Concurrent_requests_all_get_the_answers_they_would_get_alone()
    {
        await using var server = await RunningServer.StartAsync(models, o => o with { Scheduler = o.Scheduler with { Slots = 3 } });
        var chat = server.OpenAi().GetChatClient(ModelFixture.ModelId);
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 10, Temperature = 0 };
        string[] questions = ["one", "two two", "three three three", "four", "five", "six six"];
        var concurrent = await Task.WhenAll(questions.Select(q => chat.CompleteChatAsync([new UserChatMessage(q)], options)));
        for (int i = 0; i < questions.Length; i++)
        {
            var (_, expected) = models.Greedy(models.ChatPromptTokens(new EngineMessage("user", questions[i])), 10);
            Assert.Equal(expected, concurrent[i].Value.Content.FirstOrDefault()?.Text ?? "");
        }
        // The ChatML preamble is shared by every prompt, so later requests start from a cached prefix.
        Assert.True((await server.SchedulerAsync()).ReusedPromptTokens > 0);
    }
}

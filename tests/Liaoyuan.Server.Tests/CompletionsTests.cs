using System.Net;
using System.Text.Json;

namespace Liaoyuan.Server.Tests;

/// <summary>/v1/completions over raw HTTP (the SDK has no legacy completions client), including log-likelihood scoring.</summary>
[Collection(ServerCollection.Name)]
public sealed class CompletionsTests(ModelFixture models)
{
    [Fact]
    public async Task Echo_with_logprobs_scores_every_prompt_token_as_the_engine_does()
    {
        await using var server = await RunningServer.StartAsync(models);
        int[] prompt = models.Reference.Tokenizer.Encode("The quick brown fox 跳过 the lazy dog.", addSpecial: true);
        string body = $$"""{"model":"{{ModelFixture.ModelId}}","prompt":[{{string.Join(",", prompt)}}],"max_tokens":1,"temperature":0,"echo":true,"logprobs":3}""";
        var response = await server.PostJsonAsync("/v1/completions", body);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var choice = json.RootElement.GetProperty("choices")[0];
        var logprobs = choice.GetProperty("logprobs");
        var values = logprobs.GetProperty("token_logprobs").EnumerateArray().ToList();
        var tops = logprobs.GetProperty("top_logprobs").EnumerateArray().ToList();
        Assert.Equal(prompt.Length + 1, values.Count);
        Assert.Equal(JsonValueKind.Null, values[0].ValueKind);

        // What the engine says: log-softmax of the logits before each prompt token.
        var session = new Engine.Models.InferenceSession(models.Reference.Model, 512);
        int vocab = models.Reference.Config.VocabSize;
        var logits = new float[prompt.Length * vocab];
        session.EvaluateAll(prompt, logits);
        for (int i = 1; i < prompt.Length; i++)
        {
            var row = logits.AsSpan((i - 1) * vocab, vocab);
            float max = float.NegativeInfinity;
            foreach (float l in row) max = Math.Max(max, l);
            double sum = 0;
            foreach (float l in row) sum += Math.Exp(l - max);
            double expected = row[prompt[i]] - max - Math.Log(sum);
            Assert.Equal(expected, values[i].GetDouble(), 3);
            Assert.InRange(tops[i].EnumerateObject().Count(), 1, 3);
        }
        var usage = json.RootElement.GetProperty("usage");
        Assert.Equal(prompt.Length, usage.GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(1, usage.GetProperty("completion_tokens").GetInt32());
        string promptText = string.Concat(prompt.Select(t => System.Text.Encoding.UTF8.GetString(models.Reference.Tokenizer.TokenBytes(t))));
        Assert.StartsWith(promptText, choice.GetProperty("text").GetString());
    }

    [Fact]
    public async Task Echo_with_zero_max_tokens_returns_only_the_scored_prompt()
    {
        await using var server = await RunningServer.StartAsync(models);
        var response = await server.PostJsonAsync("/v1/completions",
            $$"""{"model":"{{ModelFixture.ModelId}}","prompt":"hello world","max_tokens":0,"echo":true,"logprobs":0}""");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var choice = json.RootElement.GetProperty("choices")[0];
        Assert.Equal("hello world", choice.GetProperty("text").GetString());
        int count = models.Reference.Tokenizer.Encode("hello world").Length;
        Assert.Equal(count, choice.GetProperty("logprobs").GetProperty("tokens").GetArrayLength());
        Assert.Equal(0, json.RootElement.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [Fact]
    public async Task Streaming_completion_sends_chunks_then_done_and_matches_the_engine()
    {
        await using var server = await RunningServer.StartAsync(models);
        var response = await server.PostJsonAsync("/v1/completions",
            """{"model":"tiny-qwen","prompt":"Once upon a time","max_tokens":8,"temperature":0,"stream":true,"stream_options":{"include_usage":true}}""");
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        string[] events = (await response.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.All(events, e => Assert.StartsWith("data: ", e));
        Assert.Equal("data: [DONE]", events[^1]);
        var chunks = events[..^1].Select(e => JsonDocument.Parse(e["data: ".Length..]).RootElement).ToList();
        string text = string.Concat(chunks.Where(c => c.GetProperty("choices").GetArrayLength() > 0)
            .Select(c => c.GetProperty("choices")[0].GetProperty("text").GetString()));
        var (tokens, expected) = models.Greedy(models.Reference.Tokenizer.Encode("Once upon a time"), 8);
        Assert.Equal(expected, text);
        Assert.Equal(tokens.Count, chunks[^1].GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }
}

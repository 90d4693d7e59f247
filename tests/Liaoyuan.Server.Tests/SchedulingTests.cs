using System.Diagnostics;
using System.Net;
using Liaoyuan.Engine.Models;
using Liaoyuan.Server.Scheduling;

namespace Liaoyuan.Server.Tests;

/// <summary>The scheduler seen through HTTP: the bounded queue, interleaved decoding, and clients that leave.</summary>
[Collection(ServerCollection.Name)]
public sealed class SchedulingTests(ModelFixture models)
{
    /// <summary>The normal executor made slower, so that a test can act while sequences are still being decoded.</summary>
    private sealed class SlowExecutor(TimeSpan perStep) : IDecodeStepExecutor
    {
        private readonly InterleavedDecodeStepExecutor _inner = new();

        public void Decode(IReadOnlyList<(InferenceSession Session, int[] Tokens)> step)
        {
            Thread.Sleep(perStep);
            _inner.Decode(step);
        }
    }

    /// <summary>A completion request whose end-of-generation tokens are banned, so it runs to max_tokens.</summary>
    private string Body(int maxTokens, bool stream = false)
    {
        string bans = string.Join(",", models.Reference.Tokenizer.EndOfGenerationIds.Select(id => $"\"{id}\":-100"));
        string streamFlag = stream ? "true" : "false";
        return "{\"model\":\"" + ModelFixture.ModelId + "\",\"prompt\":\"Once upon a time\",\"max_tokens\":" + maxTokens
            + ",\"temperature\":1,\"seed\":1,\"stream\":" + streamFlag + ",\"logit_bias\":{" + bans + "}}";
    }

    [Fact]
    public async Task A_full_queue_answers_429_with_retry_after_and_queued_requests_still_complete()
    {
        await using var server = await RunningServer.StartAsync(models, o => o with { Scheduler = o.Scheduler with { Slots = 1, QueueCapacity = 1 } });
        var scheduler = await server.SchedulerAsync();
        scheduler.Pause();
        var queued = server.PostJsonAsync("/v1/completions", Body(4));
        var deadline = Stopwatch.StartNew();
        while (scheduler.Queued == 0 && deadline.Elapsed < TimeSpan.FromSeconds(10)) await Task.Delay(10);
        Assert.Equal(1, scheduler.Queued);

        var refused = await server.PostJsonAsync("/v1/completions", Body(4));
        await BadInputTests.AssertErrorAsync(refused, 429, null, "queue_full");
        Assert.Equal("1", refused.Headers.GetValues("Retry-After").Single());

        scheduler.Resume();
        Assert.Equal(HttpStatusCode.OK, (await queued).StatusCode);
    }

    [Fact]
    public async Task A_client_that_disconnects_frees_its_slot()
    {
        await using var server = await RunningServer.StartAsync(models, o => o with { DecodeStepExecutor = () => new SlowExecutor(TimeSpan.FromMilliseconds(20)) });
        var scheduler = await server.SchedulerAsync();
        using (var cancel = new CancellationTokenSource())
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions") { Content = new StringContent(Body(400, stream: true), System.Text.Encoding.UTF8, "application/json") };
            using var response = await server.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancel.Token);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancel.Token));
            Assert.StartsWith("data: ", await reader.ReadLineAsync(cancel.Token));
            Assert.Equal(1, scheduler.Active);
            cancel.Cancel();
        }
        // 400 tokens at 20 ms would take 8 s; the slot must be free long before.
        var deadline = Stopwatch.StartNew();
        while (scheduler.Active > 0 && deadline.Elapsed < TimeSpan.FromSeconds(3)) await Task.Delay(10);
        Assert.Equal(0, scheduler.Active);
        Assert.Equal(1, scheduler.AbandonedSequences);
    }

    [Fact]
    public async Task Concurrent_streams_are_decoded_in_turn_so_a_late_request_starts_before_an_early_one_ends()
    {
        await using var server = await RunningServer.StartAsync(models, o => o with { DecodeStepExecutor = () => new SlowExecutor(TimeSpan.FromMilliseconds(10)) });
        var clock = Stopwatch.StartNew();
        async Task<(TimeSpan FirstToken, TimeSpan End)> StreamAsync(int maxTokens)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions") { Content = new StringContent(Body(maxTokens, stream: true), System.Text.Encoding.UTF8, "application/json") };
            using var response = await server.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            TimeSpan? first = null;
            while (await reader.ReadLineAsync() is { } line)
            {
                if (line.StartsWith("data: {", StringComparison.Ordinal)) first ??= clock.Elapsed;
            }
            return (first ?? clock.Elapsed, clock.Elapsed);
        }
        var early = StreamAsync(150);
        await Task.Delay(200);
        var late = await StreamAsync(5);
        var (_, earlyEnd) = await early;
        Assert.True(late.FirstToken < earlyEnd, $"the late request's first token came at {late.FirstToken}, after the early one ended at {earlyEnd}");
        Assert.True(late.End < earlyEnd, "a short request sharing the steps should finish before a long one started earlier");
    }

    [Fact]
    public async Task A_request_with_its_own_context_length_gets_a_kv_cache_of_that_size_and_stops_at_it()
    {
        await using var server = await RunningServer.StartAsync(models);
        string bans = string.Join(",", models.Reference.Tokenizer.EndOfGenerationIds.Select(id => $"\"{id}\":-100"));
        string body = "{\"model\":\"" + ModelFixture.ModelId + "\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"context_length\":40,"
            + "\"temperature\":1,\"seed\":1,\"logit_bias\":{" + bans + "}}";
        var response = await server.PostJsonAsync("/v1/chat/completions", body);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(40, json.RootElement.GetProperty("usage").GetProperty("total_tokens").GetInt32());
        Assert.Equal("length", json.RootElement.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        // The model is served with 2048 tokens per slot; this request's slot got a cache of 40.
        Assert.Equal(40, (await server.SchedulerAsync()).SlotContexts.Max());
    }

    [Fact]
    public async Task Health_and_metrics_report_the_models_and_the_work_done()
    {
        await using var server = await RunningServer.StartAsync(models);
        var before = await server.HealthAsync();
        Assert.Equal("ok", before.GetProperty("status").GetString());
        Assert.False(before.GetProperty("models")[0].GetProperty("loaded").GetBoolean());

        Assert.Equal(HttpStatusCode.OK, (await server.PostJsonAsync("/v1/completions", Body(4))).StatusCode);
        var after = await server.HealthAsync();
        Assert.Contains(after.GetProperty("models").EnumerateArray(), m => m.GetProperty("loaded").GetBoolean());

        string metrics = await server.Http.GetStringAsync("/metrics");
        foreach (string name in new[] { "liaoyuan_requests_total", "liaoyuan_completion_tokens_total", "liaoyuan_queue_depth", "liaoyuan_time_to_first_token_seconds", "liaoyuan_decode_rate", "liaoyuan_process_resident_memory_bytes" })
            Assert.Contains(name, metrics);
    }
}

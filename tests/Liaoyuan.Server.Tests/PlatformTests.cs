using System.Net;
using System.Text.Json;
using Liaoyuan.Server.Scheduling;
using Liaoyuan.TestSupport;

namespace Liaoyuan.Server.Tests;

/// <summary>Apps, keys, quotas, rate limits and usage; run once on SQLite and once on PostgreSQL.</summary>
public abstract class PlatformTests(ModelFixture models, ITestBackend backend) : IDisposable
{
    private const string Completions = "/v1/completions";
    private const int PromptTokens = 5;
    private const int MaxTokens = 3;
    private const int RequestTokens = PromptTokens + MaxTokens;

    private readonly TempDirectory _data = new();
    private readonly Lazy<string?> _database = new(backend.NewDatabase);

    private Task<PlatformServer> StartAsync() =>
        PlatformServer.StartAsync(models, _data.Path, _database.Value,
            o => o with { Scheduler = new SchedulerOptions { Slots = 4, QueueCapacity = 128 } });

    /// <summary>A completion of exactly <see cref="RequestTokens"/> tokens: token-id prompt, end-of-generation banned.</summary>
    private string CompletionBody(int maxTokens = MaxTokens, int promptTokens = PromptTokens)
    {
        var tokenizer = models.Reference.Tokenizer;
        var bans = Enumerable.Range(0, tokenizer.VocabSize).Where(tokenizer.IsEndOfGeneration).ToDictionary(t => t.ToString(System.Globalization.CultureInfo.InvariantCulture), _ => -100);
        return JsonSerializer.Serialize(new
        {
            model = ModelFixture.ModelId,
            prompt = Enumerable.Range(10, promptTokens).ToArray(),
            max_tokens = maxTokens,
            temperature = 0,
            logit_bias = bans,
        });
    }

    [Fact]
    public async Task A_key_works_until_revoked_and_revocation_is_immediate()
    {
        await using var server = await StartAsync();
        string app = await server.CreateAppAsync();
        var (firstId, first) = await server.CreateKeyAsync(app);
        var (_, second) = await server.CreateKeyAsync(app);
        Assert.StartsWith("ly-", first);
        Assert.NotEqual(first, second);

        Assert.Equal(HttpStatusCode.OK, (await server.SendAsync(HttpMethod.Get, "/v1/models", first)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await server.SendAsync(HttpMethod.Post, Completions, first, CompletionBody())).StatusCode);

        var revoked = await server.AdminAsync(HttpMethod.Delete, $"/admin/keys/{firstId}");
        Assert.True(revoked.GetProperty("revoked").GetBoolean());
        await BadInputTests.AssertErrorAsync(await server.SendAsync(HttpMethod.Post, Completions, first, CompletionBody()), 401, null, "invalid_api_key");
        await BadInputTests.AssertErrorAsync(await server.SendAsync(HttpMethod.Get, "/v1/models", first), 401, null, "invalid_api_key");
        Assert.Equal(HttpStatusCode.OK, (await server.SendAsync(HttpMethod.Post, Completions, second, CompletionBody())).StatusCode);

        var keys = await server.AdminAsync(HttpMethod.Get, $"/admin/apps/{app}/keys");
        Assert.Equal([true, false], keys.GetProperty("data").EnumerateArray().OrderBy(k => k.GetProperty("id").GetString() == firstId ? 0 : 1).Select(k => k.GetProperty("revoked").GetBoolean()));
        Assert.DoesNotContain(first, keys.GetRawText());
        Assert.Equal((2, 2L * PromptTokens, 2L * MaxTokens), await server.UsageTotalsAsync(app));
    }

    [Fact]
    public async Task The_database_holds_only_hashes_of_keys()
    {
        string[] keys;
        await using (var server = await StartAsync())
        {
            string app = await server.CreateAppAsync();
            keys = [(await server.CreateKeyAsync(app)).Key, (await server.CreateKeyAsync(app)).Key, (await server.CreateKeyAsync(app)).Key];
        }
        var rows = await RawDatabase.RowsAsync(_data.Path, _database.Value, "SELECT * FROM api_keys");
        var settings = await RawDatabase.RowsAsync(_data.Path, _database.Value, "SELECT * FROM settings");
        Assert.Equal(3, rows.Count);
        foreach (string value in rows.Concat(settings).SelectMany(row => row))
        {
            foreach (string secret in keys.Append(PlatformServer.AdminKey)) Assert.DoesNotContain(secret, value);
        }
        var hashes = rows.Select(row => row.Single(value => value.Length == 64 && value.All(char.IsAsciiHexDigitLower))).ToHashSet();
        Assert.Equal(keys.Select(Platform.PlatformKeys.Hash).ToHashSet(), hashes);
        Assert.Contains(settings, row => row.Contains(Platform.PlatformKeys.Hash(PlatformServer.AdminKey)));
    }

    [Fact]
    public async Task Fifty_requests_racing_for_the_last_tokens_of_a_daily_quota_get_exactly_what_fits()
    {
        const int fits = 10;
        const int spare = RequestTokens / 2;
        string app;
        await using (var server = await StartAsync())
        {
            app = await server.CreateAppAsync(dailyTokenQuota: fits * RequestTokens + spare);
            var (keyId, key) = await server.CreateKeyAsync(app);
            var responses = await RaceAsync(server, key, 50);
            AssertAdmitted(responses, fits, "daily_quota_exceeded");
            Assert.All(responses.Where(r => r.Status == 429), r => Assert.InRange(r.RetryAfter!.Value, 1, 86_400));
            Assert.Equal(fits * RequestTokens, responses.Sum(r => r.TotalTokens));
            Assert.Equal((50L, (long)fits * PromptTokens, (long)fits * MaxTokens), await server.UsageTotalsAsync(app));

            // One record per request: who, which model, what it cost, how long it took, how it ended.
            var records = await RawDatabase.RowsAsync(_data.Path, _database.Value,
                "SELECT app_id, key_id, model, prompt_tokens, completion_tokens, latency_ms, status FROM usage_records");
            Assert.Equal(50, records.Count);
            Assert.All(records, r => Assert.Equal((app, keyId, ModelFixture.ModelId), (r[0], r[1], r[2])));
            Assert.All(records, r => Assert.True(long.Parse(r[5], System.Globalization.CultureInfo.InvariantCulture) >= 0));
            Assert.Equal(fits, records.Count(r => r[6] == "200" && r[3] == $"{PromptTokens}" && r[4] == $"{MaxTokens}"));
            Assert.Equal(50 - fits, records.Count(r => r[6] == "429" && r[3] == "0" && r[4] == "0"));
        }

        // After a restart the quota still stands, and the spare tokens are still there for a request that fits them.
        await using (var server = await StartAsync())
        {
            var (_, key) = await server.CreateKeyAsync(app);
            await BadInputTests.AssertErrorAsync(await server.SendAsync(HttpMethod.Post, Completions, key, CompletionBody()), 429, null, "daily_quota_exceeded");
            var small = await server.SendAsync(HttpMethod.Post, Completions, key, CompletionBody(maxTokens: spare - 1, promptTokens: 1));
            Assert.Equal(HttpStatusCode.OK, small.StatusCode);
            await BadInputTests.AssertErrorAsync(await server.SendAsync(HttpMethod.Post, Completions, key, CompletionBody(maxTokens: 1, promptTokens: 1)), 429, null, "daily_quota_exceeded");
        }
    }

    [Fact]
    public async Task Requests_per_minute_and_tokens_per_minute_admit_exactly_their_limit_under_concurrency()
    {
        await using var server = await StartAsync();
        string byRequests = await server.CreateAppAsync(requestsPerMinute: 7);
        string byTokens = await server.CreateAppAsync(tokensPerMinute: 5 * RequestTokens + RequestTokens - 1);
        var requestsKey = (await server.CreateKeyAsync(byRequests)).Key;
        var tokensKey = (await server.CreateKeyAsync(byTokens)).Key;

        var races = await Task.WhenAll(RaceAsync(server, requestsKey, 50), RaceAsync(server, tokensKey, 50));
        AssertAdmitted(races[0], 7, "requests_per_minute_exceeded");
        AssertAdmitted(races[1], 5, "tokens_per_minute_exceeded");
        Assert.All(races.SelectMany(r => r).Where(r => r.Status == 429), r => Assert.InRange(r.RetryAfter!.Value, 1, 60));
    }

    [Fact]
    public async Task Usage_totals_equal_the_sum_of_the_responses_usage()
    {
        await using var server = await StartAsync();
        string app = await server.CreateAppAsync();
        var (_, key) = await server.CreateKeyAsync(app);
        const string chat = """{"model":"tiny-qwen","messages":[{"role":"user","content":"hello there"}],"max_tokens":6,"temperature":0.9,"seed":3}""";
        const string streamed = """{"model":"tiny-qwen","messages":[{"role":"user","content":"stream it"}],"max_tokens":5,"stream":true,"stream_options":{"include_usage":true}}""";
        const string completion = """{"model":"tiny-qwen","prompt":["one","two words"],"max_tokens":4,"n":2}""";
        var bodies = new[] { ("/v1/chat/completions", chat), ("/v1/chat/completions", streamed), (Completions, completion), (Completions, CompletionBody()) };
        var usages = await Task.WhenAll(Enumerable.Range(0, 12).Select(async i =>
        {
            var (path, body) = bodies[i % bodies.Length];
            var response = await server.SendAsync(HttpMethod.Post, path, key, body);
            string text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, text);
            return UsageOf(text);
        }));
        Assert.Equal((12L, usages.Sum(u => (long)u.Prompt), usages.Sum(u => (long)u.Completion)), await server.UsageTotalsAsync(app));
        Assert.All(usages, u => Assert.True(u.Prompt > 0 && u.Completion > 0));
    }

    [Fact]
    public async Task Bad_admin_input_and_bad_keys_get_OpenAI_errors()
    {
        await using var server = await StartAsync();
        string app = await server.CreateAppAsync();
        var (_, key) = await server.CreateKeyAsync(app);
        async Task Expect(HttpMethod method, string path, string? bearer, string? json, int status, string? param, string? code) =>
            await BadInputTests.AssertErrorAsync(await server.SendAsync(method, path, bearer, json), status, param, code);
        string admin = PlatformServer.AdminKey;

        await Expect(HttpMethod.Post, "/admin/apps", admin, """{"name":"x","daily_token_quota":-1}""", 400, "daily_token_quota", "invalid_value");
        await Expect(HttpMethod.Post, "/admin/apps", admin, """{"name":"x","tokens_per_minute":-5}""", 400, "tokens_per_minute", "invalid_value");
        await Expect(HttpMethod.Post, "/admin/apps", admin, """{"daily_token_quota":10}""", 400, "name", "missing_required_parameter");
        await Expect(HttpMethod.Post, "/admin/apps", admin, """{"name":"x","requests_per_minute":"many"}""", 400, "requests_per_minute", "invalid_type");
        await Expect(HttpMethod.Post, "/admin/apps/app_nope/keys", admin, null, 404, "app", "not_found");
        await Expect(HttpMethod.Get, "/admin/usage?app=app_nope", admin, null, 404, "app", "not_found");
        await Expect(HttpMethod.Get, "/admin/usage", admin, null, 400, "app", "invalid_value");
        await Expect(HttpMethod.Get, $"/admin/usage?app={app}&from=yesterday", admin, null, 400, "from", "invalid_value");
        await Expect(HttpMethod.Delete, "/admin/keys/key_nope", admin, null, 404, "id", "not_found");

        await Expect(HttpMethod.Get, "/admin/apps", null, null, 401, null, "invalid_api_key");
        await Expect(HttpMethod.Get, "/admin/apps", "not-the-admin-key-at-all", null, 401, null, "invalid_api_key");
        await Expect(HttpMethod.Get, "/admin/apps", key, null, 403, null, "admin_key_required");
        await Expect(HttpMethod.Post, "/admin/apps", key, """{"name":"x"}""", 403, null, "admin_key_required");
        await Expect(HttpMethod.Get, "/v1/models", "sk-malformed", null, 401, null, "invalid_api_key");
        await Expect(HttpMethod.Get, "/v1/models", Platform.PlatformKeys.NewAppKey(), null, 401, null, "invalid_api_key");
        await Expect(HttpMethod.Get, "/v1/models", admin, null, 403, null, "app_key_required");
        Assert.Equal(HttpStatusCode.OK, (await server.SendAsync(HttpMethod.Post, Completions, key, CompletionBody())).StatusCode);
    }

    private sealed record Answer(int Status, int? RetryAfter, string? Code, int TotalTokens);

    private async Task<Answer[]> RaceAsync(PlatformServer server, string key, int count)
    {
        string body = CompletionBody();
        using var start = new SemaphoreSlim(0);
        var racers = Enumerable.Range(0, count).Select(async _ =>
        {
            await start.WaitAsync();
            var response = await server.SendAsync(HttpMethod.Post, Completions, key, body);
            string text = await response.Content.ReadAsStringAsync();
            using var json = JsonDocument.Parse(text);
            var root = json.RootElement;
            int? retry = response.Headers.RetryAfter?.Delta is { } delta ? (int)delta.TotalSeconds : null;
            string? code = root.TryGetProperty("error", out var error) ? error.GetProperty("code").GetString() : null;
            int tokens = root.TryGetProperty("usage", out var usage) ? usage.GetProperty("total_tokens").GetInt32() : 0;
            return new Answer((int)response.StatusCode, retry, code, tokens);
        }).ToList();
        start.Release(count);
        return await Task.WhenAll(racers);
    }

    private static void AssertAdmitted(Answer[] answers, int admitted, string refusal)
    {
        Assert.Equal(admitted, answers.Count(a => a.Status == 200));
        Assert.All(answers.Where(a => a.Status != 200), a => Assert.Equal((429, refusal), (a.Status, a.Code)));
        Assert.All(answers.Where(a => a.Status == 200), a => Assert.Equal(RequestTokens, a.TotalTokens));
    }

    /// <summary>The usage of a JSON response or of an event stream's usage chunk.</summary>
    private static (int Prompt, int Completion) UsageOf(string text)
    {
        string json = text.StartsWith("data: ", StringComparison.Ordinal)
            ? text.Split("\n\n").Select(e => e.Trim()).Where(e => e.StartsWith("data: {", StringComparison.Ordinal)).Select(e => e[6..]).Last(e => e.Contains("\"usage\"", StringComparison.Ordinal))
            : text;
        var usage = JsonDocument.Parse(json).RootElement.GetProperty("usage");
        return (usage.GetProperty("prompt_tokens").GetInt32(), usage.GetProperty("completion_tokens").GetInt32());
    }

    public void Dispose()
    {
        _data.Dispose();
        GC.SuppressFinalize(this);
    }
}

[Collection(ServerCollection.Name)]
public sealed class SqlitePlatformTests(ModelFixture models) : PlatformTests(models, new SqliteBackend());

[Collection(ServerCollection.Name)]
public sealed class PostgresPlatformTests(ModelFixture models) : PlatformTests(models, new PostgresBackend());

using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Liaoyuan.TestSupport;

namespace Liaoyuan.Server.Tests;

/// <summary>A server in platform mode (apps and keys) on SQLite in a temp folder or on a PostgreSQL schema.</summary>
public sealed class PlatformServer : IAsyncDisposable
{
    public const string AdminKey = "test-admin-key-0123456789";

    private PlatformServer(RunningServer running) => Running = running;

    public RunningServer Running { get; }
    public HttpClient Http => Running.Http;

    public static async Task<PlatformServer> StartAsync(ModelFixture models, string dataDirectory, string? database, Func<ServerOptions, ServerOptions>? configure = null)
    {
        var running = await RunningServer.StartAsync(models, o =>
        {
            var platform = o with { NoAuth = false, DataDirectory = dataDirectory, Database = database, AdminKey = AdminKey };
            return configure?.Invoke(platform) ?? platform;
        });
        return new PlatformServer(running);
    }

    public Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string? key, string? json = null)
    {
        var request = new HttpRequestMessage(method, path);
        if (key is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        if (json is not null) request.Content = new StringContent(json, System.Text.Encoding.UTF8, "application/json");
        return Http.SendAsync(request);
    }

    public async Task<JsonElement> AdminAsync(HttpMethod method, string path, string? json = null)
    {
        var response = await SendAsync(method, path, AdminKey, json);
        string text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{method} {path}: {(int)response.StatusCode} {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    public async Task<string> CreateAppAsync(long? dailyTokenQuota = null, long? requestsPerMinute = null, long? tokensPerMinute = null, string name = "test app")
    {
        var app = await AdminAsync(HttpMethod.Post, "/admin/apps", JsonSerializer.Serialize(new
        {
            name,
            daily_token_quota = dailyTokenQuota,
            requests_per_minute = requestsPerMinute,
            tokens_per_minute = tokensPerMinute,
        }));
        Assert.Equal(name, app.GetProperty("name").GetString());
        return app.GetProperty("id").GetString()!;
    }

    public async Task<(string Id, string Key)> CreateKeyAsync(string app)
    {
        var key = await AdminAsync(HttpMethod.Post, $"/admin/apps/{app}/keys");
        return (key.GetProperty("id").GetString()!, key.GetProperty("key").GetString()!);
    }

    /// <summary>The app's usage rows summed over days: requests, prompt and completion tokens.</summary>
    public async Task<(long Requests, long Prompt, long Completion)> UsageTotalsAsync(string app)
    {
        var usage = await AdminAsync(HttpMethod.Get, $"/admin/usage?app={app}");
        var rows = usage.GetProperty("data").EnumerateArray().ToList();
        Assert.All(rows, row => Assert.Equal(app, row.GetProperty("app").GetString()));
        return (rows.Sum(r => r.GetProperty("requests").GetInt64()), rows.Sum(r => r.GetProperty("prompt_tokens").GetInt64()),
            rows.Sum(r => r.GetProperty("completion_tokens").GetInt64()));
    }

    public ValueTask DisposeAsync() => Running.DisposeAsync();
}

/// <summary>Where a platform test's database lives; each test gets a fresh one.</summary>
public interface ITestBackend
{
    /// <summary>The <c>--database</c> value: null for SQLite in the data folder, a connection string for PostgreSQL.</summary>
    string? NewDatabase();
}

public sealed class SqliteBackend : ITestBackend
{
    public string? NewDatabase() => null;
}

public sealed class PostgresBackend : ITestBackend
{
    public string? NewDatabase() => PostgresTestDatabase.NewSchema();
}

using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Liaoyuan.Server.Platform.Storage;
using Liaoyuan.TestSupport;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Liaoyuan.Cli.Tests;

/// <summary>
/// kill -9 of a server under load: every request that got a complete response has its usage record, and the
/// database opens cleanly after. Run on SQLite and on PostgreSQL.
/// </summary>
public abstract class ServerCrashTests(string? database) : IDisposable
{
    private const string AdminKey = "crash-test-admin-key-0123";
    private readonly TempDirectory _folder = new();

    private string[] ServeArguments(string model) =>
        ["--model", "tiny=" + model, "--data", _folder.Path, "--admin-key", AdminKey, "--threads", "1", "--parallel", "4", "--queue", "256",
            .. database is null ? Array.Empty<string>() : ["--database", database]];

    [Fact]
    public async Task Every_complete_response_has_its_usage_record_after_kill_9()
    {
        string model = _folder.File("tiny.gguf");
        TestModelBuilder.Write(model, new TestModelShape { Architecture = "qwen2", Context = 256 }, TestVocabularies.Multilingual());
        var completed = new ConcurrentBag<string>();
        string key;
        using (var server = await ServerProcess.StartAsync(ServeArguments(model)))
        {
            using var http = new HttpClient { BaseAddress = server.Address, Timeout = TimeSpan.FromSeconds(60) };
            key = await CreateKeyAsync(http);
            using var stop = new CancellationTokenSource();
            var clients = Enumerable.Range(0, 16).Select(i => LoadAsync(http, key, stream: i % 2 == 1, completed, stop.Token)).ToList();
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (completed.Count < 30 && DateTime.UtcNow < deadline) await Task.Delay(20);
            await server.KillAsync();
            await stop.CancelAsync();
            await Task.WhenAll(clients);
        }
        Assert.True(completed.Count >= 30, $"only {completed.Count} requests completed before the deadline");

        await using (var store = await PlatformStores.OpenAsync(database, _folder.Path))
        {
            Assert.Equal(1, await store.SchemaVersionAsync());
            if (store is SqlitePlatformStore sqlite) Assert.Equal("ok", await sqlite.IntegrityCheckAsync());
        }
        var recorded = await RecordedRequestIdsAsync();
        Assert.All(completed, id => Assert.Contains(id, recorded));

        using (var restarted = await ServerProcess.StartAsync(ServeArguments(model)))
        {
            using var http = new HttpClient { BaseAddress = restarted.Address };
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
            {
                Content = new StringContent("""{"model":"tiny","messages":[{"role":"user","content":"again"}],"max_tokens":2}""", Encoding.UTF8, "application/json"),
            };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
            Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(request)).StatusCode);
        }
    }

    private static async Task<string> CreateKeyAsync(HttpClient http)
    {
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminKey);
        var app = await http.PostAsync("/admin/apps", new StringContent("""{"name":"load"}""", Encoding.UTF8, "application/json"));
        string appId = JsonDocument.Parse(await app.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetString()!;
        var key = await http.PostAsync($"/admin/apps/{appId}/keys", null);
        http.DefaultRequestHeaders.Authorization = null;
        return JsonDocument.Parse(await key.Content.ReadAsStringAsync()).RootElement.GetProperty("key").GetString()!;
    }

    /// <summary>Sends requests until stopped or the server dies; collects the ids of responses that arrived whole.</summary>
    private static async Task LoadAsync(HttpClient http, string key, bool stream, ConcurrentBag<string> completed, CancellationToken stop)
    {
        string body = $$"""{"model":"tiny","messages":[{"role":"user","content":"tell me"}],"max_tokens":6,"stream":{{(stream ? "true" : "false")}}}""";
        while (!stop.IsCancellationRequested)
        {
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
                using var response = await http.SendAsync(request, stop);
                string text = await response.Content.ReadAsStringAsync(stop);
                if (response.StatusCode != HttpStatusCode.OK) continue;
                if (!stream) completed.Add(JsonDocument.Parse(text).RootElement.GetProperty("id").GetString()!);
                else if (text.TrimEnd().EndsWith("data: [DONE]", StringComparison.Ordinal))
                    completed.Add(JsonDocument.Parse(text[6..text.IndexOf('\n')]).RootElement.GetProperty("id").GetString()!);
            }
            catch (Exception problem) when (problem is HttpRequestException or OperationCanceledException or IOException)
            {
                if (stop.IsCancellationRequested) return;
                await Task.Delay(10, CancellationToken.None);
            }
        }
    }

    private async Task<HashSet<string>> RecordedRequestIdsAsync()
    {
        await using System.Data.Common.DbConnection connection = database is null
            ? new SqliteConnection($"Data Source={_folder.File(SqlitePlatformStore.FileName)};Pooling=False")
            : new NpgsqlConnection(database + ";Pooling=false");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT request_id FROM usage_records WHERE status = 200";
        await using var reader = await command.ExecuteReaderAsync();
        var ids = new HashSet<string>();
        while (await reader.ReadAsync()) ids.Add(reader.GetString(0));
        return ids;
    }

    public void Dispose()
    {
        _folder.Dispose();
        GC.SuppressFinalize(this);
    }
}

public sealed class SqliteServerCrashTests() : ServerCrashTests(null);

public sealed class PostgresServerCrashTests() : ServerCrashTests(PostgresTestDatabase.NewSchema());

using System.Text.Json;
using Liaoyuan.Server;
using Liaoyuan.Server.Platform;
using Liaoyuan.TestSupport;

namespace Liaoyuan.Cli.Tests;

/// <summary>`liaoyuan apps` directly on the database (SQLite and PostgreSQL) and against a running server.</summary>
public abstract class AppsCommandTests(string? database) : IDisposable
{
    private readonly TempDirectory _folder = new();

    private string[] Target => database is null ? ["--data", _folder.Path] : ["--database", database];

    private JsonElement Ok(params string[] args)
    {
        var result = CliRunner.Run(["apps", .. args, .. Target]);
        Assert.True(result.ExitCode == 0, result.Error);
        return JsonDocument.Parse(result.Out).RootElement.Clone();
    }

    private string Fails(params string[] args)
    {
        var result = CliRunner.Run(["apps", .. args, .. Target]);
        Assert.Equal(LiaoyuanCommand.UsageError, result.ExitCode);
        Assert.Single(result.Error.Trim().Split('\n'));
        return result.Error;
    }

    [Fact]
    public void Apps_and_keys_are_managed_on_the_database_directly()
    {
        var app = Ok("create", "billing bot", "--daily-token-quota", "1000", "--requests-per-minute", "30");
        string id = app.GetProperty("id").GetString()!;
        Assert.Equal((1000, 30), (app.GetProperty("daily_token_quota").GetInt64(), app.GetProperty("requests_per_minute").GetInt32()));
        Assert.Equal(JsonValueKind.Null, app.GetProperty("tokens_per_minute").ValueKind);
        Assert.Contains(Ok("list").GetProperty("data").EnumerateArray(), a => a.GetProperty("id").GetString() == id);

        var key = Ok("key", "create", id);
        string secret = key.GetProperty("key").GetString()!;
        Assert.True(PlatformKeys.IsWellFormedAppKey(secret));
        string keyId = key.GetProperty("id").GetString()!;
        var listed = Ok("key", "list", id).GetProperty("data").EnumerateArray().Single();
        Assert.False(listed.GetProperty("revoked").GetBoolean());
        Assert.False(listed.TryGetProperty("key", out _));
        Assert.True(Ok("key", "revoke", keyId).GetProperty("revoked").GetBoolean());
        Assert.True(Ok("key", "list", id).GetProperty("data")[0].GetProperty("revoked").GetBoolean());
        Assert.Empty(Ok("usage", id, "--from", "2026-01-01").GetProperty("data").EnumerateArray());
    }

    [Fact]
    public void Bad_input_is_one_line_and_exit_code_2()
    {
        string id = Ok("create", "x").GetProperty("id").GetString()!;
        Assert.Contains("daily_token_quota", Fails("create", "y", "--daily-token-quota", "-5"));
        Assert.Contains("no app 'app_nope'", Fails("key", "create", "app_nope"));
        Assert.Contains("no key 'key_nope'", Fails("key", "revoke", "key_nope"));
        Assert.Contains("'from'", Fails("usage", id, "--from", "last week"));
        Assert.Contains("'name'", Fails("create", " "));
    }

    public void Dispose()
    {
        _folder.Dispose();
        GC.SuppressFinalize(this);
    }
}

public sealed class SqliteAppsCommandTests() : AppsCommandTests(null)
{
    [Fact]
    public async Task The_same_commands_work_against_a_running_server_with_the_admin_key()
    {
        using var folder = new TempDirectory();
        const string admin = "remote-admin-key-0123456789";
        await using var server = LiaoyuanServer.Create(new ServerOptions
        {
            Models = [new ModelSource("none", folder.File("none.gguf"))],
            Port = 0,
            DataDirectory = folder.Path,
            AdminKey = admin,
        }, logging => { });
        await server.StartAsync();
        string url = server.BaseAddress.ToString();

        var created = CliRunner.Run("apps", "create", "remote", "--tokens-per-minute", "500", "--url", url, "--admin-key", admin);
        Assert.True(created.ExitCode == 0, created.Error);
        string id = JsonDocument.Parse(created.Out).RootElement.GetProperty("id").GetString()!;
        var key = CliRunner.Run("apps", "key", "create", id, "--url", url, "--admin-key", admin);
        Assert.StartsWith(PlatformKeys.AppKeyPrefix, JsonDocument.Parse(key.Out).RootElement.GetProperty("key").GetString());
        var usage = CliRunner.Run("apps", "usage", id, "--url", url, "--admin-key", admin);
        Assert.Equal(0, JsonDocument.Parse(usage.Out).RootElement.GetProperty("data").GetArrayLength());

        var wrongKey = CliRunner.Run("apps", "list", "--url", url, "--admin-key", "not-the-admin-key-at-all");
        Assert.Equal((LiaoyuanCommand.UsageError, true), (wrongKey.ExitCode, wrongKey.Error.Contains("401", StringComparison.Ordinal)));
        var unknown = CliRunner.Run("apps", "key", "create", "app_nope", "--url", url, "--admin-key", admin);
        Assert.Equal((LiaoyuanCommand.UsageError, true), (unknown.ExitCode, unknown.Error.Contains("404: There is no app", StringComparison.Ordinal)));
        Assert.Equal(LiaoyuanCommand.UsageError, CliRunner.Run("apps", "list", "--url", url).ExitCode);
        await server.StopAsync();
    }
}

public sealed class PostgresAppsCommandTests() : AppsCommandTests(PostgresTestDatabase.NewSchema());

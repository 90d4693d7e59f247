using System.Data;
using System.Data.Common;

namespace Liaoyuan.Server.Platform.Storage;

/// <summary>The queries both backends share (ADO.NET, <c>@name</c> parameters, times as Unix milliseconds).</summary>
public abstract class SqlPlatformStore : IPlatformStore
{
    public abstract string Backend { get; }

    /// <summary>The column type of an auto-numbered 64-bit primary key.</summary>
    protected abstract string AutoIdColumn { get; }

    protected abstract Task<DbConnection> OpenAsync(CancellationToken cancel);

    /// <summary>Starts the transaction that migrations run in, holding a lock that keeps other processes out.</summary>
    protected abstract Task<DbTransaction> BeginMigrationAsync(DbConnection connection, CancellationToken cancel);

    /// <summary>Runs before each write; SQLite serialises writers within the process instead of retrying on busy.</summary>
    protected virtual ValueTask<IDisposable?> EnterWriteAsync(CancellationToken cancel) => ValueTask.FromResult<IDisposable?>(null);

    public async Task MigrateAsync(CancellationToken cancel = default)
    {
        await using var connection = await OpenAsync(cancel);
        await using var transaction = await BeginMigrationAsync(connection, cancel);
        await ExecuteAsync(connection, transaction, "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)", cancel);
        int current = await ReadVersionAsync(connection, transaction, cancel);
        if (current > SchemaMigrations.Latest)
            throw new InvalidDataException($"the {Backend} database is at schema version {current}, newer than this build knows ({SchemaMigrations.Latest}); use a newer liaoyuan");
        foreach (var (version, statements) in SchemaMigrations.Steps.Where(s => s.Version > current))
        {
            foreach (string statement in statements)
                await ExecuteAsync(connection, transaction, statement.Replace(SchemaMigrations.AutoId, AutoIdColumn, StringComparison.Ordinal), cancel);
            await ExecuteAsync(connection, transaction, "INSERT INTO schema_migrations (version, applied_at) VALUES (@version, @at)", cancel,
                ("version", (long)version), ("at", Now()));
        }
        await transaction.CommitAsync(cancel);
    }

    public async Task<int> SchemaVersionAsync(CancellationToken cancel = default)
    {
        await using var connection = await OpenAsync(cancel);
        return await ReadVersionAsync(connection, null, cancel);
    }

    private static async Task<int> ReadVersionAsync(DbConnection connection, DbTransaction? transaction, CancellationToken cancel)
    {
        await using var command = Command(connection, transaction, "SELECT MAX(version) FROM schema_migrations");
        object? value = await command.ExecuteScalarAsync(cancel);
        return value is null or DBNull ? 0 : Convert.ToInt32(value, System.Globalization.CultureInfo.InvariantCulture);
    }

    public async Task<string?> GetSettingAsync(string name, CancellationToken cancel = default)
    {
        await using var connection = await OpenAsync(cancel);
        await using var command = Command(connection, null, "SELECT value FROM settings WHERE name = @name", ("name", name));
        return await command.ExecuteScalarAsync(cancel) as string;
    }

    public Task SetSettingAsync(string name, string value, CancellationToken cancel = default) =>
        WriteAsync("INSERT INTO settings (name, value) VALUES (@name, @value) ON CONFLICT (name) DO UPDATE SET value = excluded.value", cancel,
            ("name", name), ("value", value));

    public async Task<bool> TrySetSettingAsync(string name, string value, CancellationToken cancel = default) =>
        await WriteAsync("INSERT INTO settings (name, value) VALUES (@name, @value) ON CONFLICT (name) DO NOTHING", cancel,
            ("name", name), ("value", value)) == 1;

    public Task InsertAppAsync(AppRecord app, CancellationToken cancel = default) =>
        WriteAsync("""
            INSERT INTO apps (id, name, daily_token_quota, requests_per_minute, tokens_per_minute, created_at)
            VALUES (@id, @name, @quota, @rpm, @tpm, @created)
            """, cancel,
            ("id", app.Id), ("name", app.Name), ("quota", app.DailyTokenQuota), ("rpm", (long?)app.RequestsPerMinute),
            ("tpm", app.TokensPerMinute), ("created", app.CreatedAt.ToUnixTimeMilliseconds()));

    private const string AppColumns = "a.id, a.name, a.daily_token_quota, a.requests_per_minute, a.tokens_per_minute, a.created_at";

    public async Task<AppRecord?> GetAppAsync(string id, CancellationToken cancel = default)
    {
        var apps = await QueryAsync($"SELECT {AppColumns} FROM apps a WHERE a.id = @id", ReadApp, cancel, ("id", id));
        return apps.Count == 0 ? null : apps[0];
    }

    public Task<IReadOnlyList<AppRecord>> ListAppsAsync(CancellationToken cancel = default) =>
        QueryAsync($"SELECT {AppColumns} FROM apps a ORDER BY a.created_at, a.id", ReadApp, cancel);

    public Task InsertKeyAsync(KeyRecord key, string keyHash, CancellationToken cancel = default) =>
        WriteAsync("INSERT INTO api_keys (id, app_id, key_hash, created_at, revoked_at) VALUES (@id, @app, @hash, @created, NULL)", cancel,
            ("id", key.Id), ("app", key.AppId), ("hash", keyHash), ("created", key.CreatedAt.ToUnixTimeMilliseconds()));

    private const string KeyColumns = "id, app_id, created_at, revoked_at";

    public async Task<KeyRecord?> GetKeyAsync(string keyId, CancellationToken cancel = default)
    {
        var keys = await QueryAsync($"SELECT {KeyColumns} FROM api_keys WHERE id = @id", ReadKey, cancel, ("id", keyId));
        return keys.Count == 0 ? null : keys[0];
    }

    public Task<IReadOnlyList<KeyRecord>> ListKeysAsync(string appId, CancellationToken cancel = default) =>
        QueryAsync($"SELECT {KeyColumns} FROM api_keys WHERE app_id = @app ORDER BY created_at, id", ReadKey, cancel, ("app", appId));

    private static KeyRecord ReadKey(DbDataReader r) => new(r.GetString(0), r.GetString(1), Time(r, 2)!.Value, Time(r, 3));

    public async Task<bool> RevokeKeyAsync(string keyId, DateTimeOffset at, CancellationToken cancel = default) =>
        await WriteAsync("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, @at) WHERE id = @id", cancel,
            ("id", keyId), ("at", at.ToUnixTimeMilliseconds())) == 1;

    public async Task<KeyOwner?> FindActiveKeyAsync(string keyHash, CancellationToken cancel = default)
    {
        var owners = await QueryAsync(
            $"SELECT k.id, {AppColumns} FROM api_keys k JOIN apps a ON a.id = k.app_id WHERE k.key_hash = @hash AND k.revoked_at IS NULL",
            r => new KeyOwner(r.GetString(0), ReadApp(r, 1)), cancel, ("hash", keyHash));
        return owners.Count == 0 ? null : owners[0];
    }

    public Task InsertUsageAsync(UsageRecord usage, CancellationToken cancel = default) =>
        WriteAsync("""
            INSERT INTO usage_records (request_id, app_id, key_id, model, prompt_tokens, completion_tokens, latency_ms, status, admitted_at, day)
            VALUES (@request, @app, @key, @model, @prompt, @completion, @latency, @status, @admitted, @day)
            """, cancel,
            ("request", usage.RequestId ?? (object)NullText.Value), ("app", usage.AppId), ("key", usage.KeyId), ("model", usage.Model),
            ("prompt", (long)usage.PromptTokens), ("completion", (long)usage.CompletionTokens), ("latency", usage.LatencyMilliseconds),
            ("status", (long)usage.Status), ("admitted", usage.AdmittedAt.ToUnixTimeMilliseconds()), ("day", usage.Day));

    public Task<IReadOnlyList<DailyUsage>> DailyUsageAsync(string appId, string? fromDay, string? toDay, CancellationToken cancel = default)
    {
        // Open ends are left out of the SQL rather than passed as NULL: PostgreSQL cannot type "@p IS NULL".
        string range = (fromDay is null ? "" : " AND day >= @from") + (toDay is null ? "" : " AND day <= @to");
        return QueryAsync($"""
            SELECT app_id, day, COUNT(*), CAST(SUM(prompt_tokens) AS BIGINT), CAST(SUM(completion_tokens) AS BIGINT)
            FROM usage_records WHERE app_id = @app{range} GROUP BY app_id, day ORDER BY day
            """,
            r => new DailyUsage(r.GetString(0), r.GetString(1), Long(r, 2), Long(r, 3), Long(r, 4)), cancel,
            ("app", appId), ("from", fromDay), ("to", toDay));
    }

    public Task<IReadOnlyList<RecentUsage>> RecentUsageAsync(string appId, DateTimeOffset since, CancellationToken cancel = default) =>
        QueryAsync("SELECT admitted_at, prompt_tokens + completion_tokens FROM usage_records WHERE app_id = @app AND admitted_at >= @since ORDER BY admitted_at",
            r => new RecentUsage(Time(r, 0)!.Value, Long(r, 1)), cancel, ("app", appId), ("since", since.ToUnixTimeMilliseconds()));

    public virtual ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        return ValueTask.CompletedTask;
    }

    private static AppRecord ReadApp(DbDataReader r) => ReadApp(r, 0);

    private static AppRecord ReadApp(DbDataReader r, int at) => new(
        r.GetString(at), r.GetString(at + 1), NullableLong(r, at + 2), (int?)NullableLong(r, at + 3), NullableLong(r, at + 4), Time(r, at + 5)!.Value);

    private static long Long(DbDataReader r, int column) => Convert.ToInt64(r.GetValue(column), System.Globalization.CultureInfo.InvariantCulture);

    private static long? NullableLong(DbDataReader r, int column) => r.IsDBNull(column) ? null : Long(r, column);

    private static DateTimeOffset? Time(DbDataReader r, int column) =>
        NullableLong(r, column) is { } ms ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null;

    /// <summary>A null of type text (a bare null is taken as a null integer).</summary>
    private sealed class NullText
    {
        public static readonly NullText Value = new();
    }

    private static long Now() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    private async Task<int> WriteAsync(string sql, CancellationToken cancel, params (string Name, object? Value)[] parameters)
    {
        using var gate = await EnterWriteAsync(cancel);
        await using var connection = await OpenAsync(cancel);
        await using var command = Command(connection, null, sql, parameters);
        return await command.ExecuteNonQueryAsync(cancel);
    }

    private async Task<IReadOnlyList<T>> QueryAsync<T>(string sql, Func<DbDataReader, T> read, CancellationToken cancel, params (string Name, object? Value)[] parameters)
    {
        await using var connection = await OpenAsync(cancel);
        await using var command = Command(connection, null, sql, parameters);
        await using var reader = await command.ExecuteReaderAsync(cancel);
        var rows = new List<T>();
        while (await reader.ReadAsync(cancel)) rows.Add(read(reader));
        return rows;
    }

    private static Task ExecuteAsync(DbConnection connection, DbTransaction transaction, string sql, CancellationToken cancel,
        params (string Name, object? Value)[] parameters)
    {
        var command = Command(connection, transaction, sql, parameters);
        return Run();

        async Task Run()
        {
            await using (command) await command.ExecuteNonQueryAsync(cancel);
        }
    }

    private static DbCommand Command(DbConnection connection, DbTransaction? transaction, string sql, params (string Name, object? Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        foreach (var (name, value) in parameters)
        {
            if (!sql.Contains("@" + name, StringComparison.Ordinal)) continue;
            var parameter = command.CreateParameter();
            parameter.ParameterName = "@" + name;
            parameter.Value = value is null or NullText ? DBNull.Value : value;
            // Nulls need their type named: PostgreSQL cannot infer it from an untyped NULL in every position.
            parameter.DbType = value is string or NullText ? DbType.String : DbType.Int64;
            command.Parameters.Add(parameter);
        }
        return command;
    }
}

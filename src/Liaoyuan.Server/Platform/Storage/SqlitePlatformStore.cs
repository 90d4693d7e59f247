using System.Data.Common;
using Microsoft.Data.Sqlite;

namespace Liaoyuan.Server.Platform.Storage;

/// <summary>
/// The default store: one SQLite file in WAL mode with <c>synchronous=FULL</c>, so a committed usage record
/// survives a killed process (and power loss). Writers within the process take turns; another process
/// (the CLI beside a running server) waits on SQLite's lock for up to the command timeout.
/// </summary>
public sealed class SqlitePlatformStore(string path) : SqlPlatformStore
{
    private readonly string _connectionString = new SqliteConnectionStringBuilder
    {
        DataSource = path,
        Mode = SqliteOpenMode.ReadWriteCreate,
        Pooling = true,
        DefaultTimeout = 30,
    }.ToString();

    private readonly SemaphoreSlim _writer = new(1, 1);

    public const string FileName = "liaoyuan.db";

    public string Path { get; } = path;

    public override string Backend => "sqlite";

    protected override string AutoIdColumn => "INTEGER PRIMARY KEY AUTOINCREMENT";

    protected override async Task<DbConnection> OpenAsync(CancellationToken cancel)
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancel);
            await using var pragmas = connection.CreateCommand();
            pragmas.CommandText = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 30000;";
            await pragmas.ExecuteNonQueryAsync(cancel);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    // BEGIN IMMEDIATE: takes the write lock now, so two processes cannot both run the same step.
    protected override Task<DbTransaction> BeginMigrationAsync(DbConnection connection, CancellationToken cancel) =>
        Task.FromResult<DbTransaction>(((SqliteConnection)connection).BeginTransaction(deferred: false));

    protected override async ValueTask<IDisposable?> EnterWriteAsync(CancellationToken cancel)
    {
        await _writer.WaitAsync(cancel);
        return new Release(_writer);
    }

    /// <summary>Runs SQLite's own consistency check; "ok" when the file is sound.</summary>
    public async Task<string> IntegrityCheckAsync(CancellationToken cancel = default)
    {
        await using var connection = await OpenAsync(cancel);
        await using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA integrity_check";
        return (string)(await command.ExecuteScalarAsync(cancel))!;
    }

    public override async ValueTask DisposeAsync()
    {
        // Closes pooled connections so the WAL is checkpointed and the file can be moved or deleted.
        SqliteConnection.ClearPool(new SqliteConnection(_connectionString));
        _writer.Dispose();
        await base.DisposeAsync();
    }

    private sealed class Release(SemaphoreSlim gate) : IDisposable
    {
        public void Dispose() => gate.Release();
    }
}

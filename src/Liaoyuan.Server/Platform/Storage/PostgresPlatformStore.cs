using System.Data.Common;
using Npgsql;

namespace Liaoyuan.Server.Platform.Storage;

/// <summary>The PostgreSQL store: the same schema as SQLite, over a pooled Npgsql data source.</summary>
public sealed class PostgresPlatformStore : SqlPlatformStore
{
    // Any fixed number: migrations from several processes queue on this advisory lock.
    private const long MigrationLockId = 0x4C59_4D49_4752;

    private readonly NpgsqlDataSource _source;

    public const int DefaultMaxPoolSize = 16;

    public PostgresPlatformStore(string connectionString)
    {
        NpgsqlConnectionStringBuilder builder;
        try
        {
            builder = new NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (ArgumentException problem)
        {
            throw new ArgumentException($"not a PostgreSQL connection string: {problem.Message}", problem);
        }
        // A burst of requests would otherwise open up to 100 backend processes; a few connections serve the
        // short key lookups and usage inserts faster. An explicit Maximum Pool Size wins.
        if (!connectionString.Contains("pool size", StringComparison.OrdinalIgnoreCase)) builder.MaxPoolSize = DefaultMaxPoolSize;
        Description = $"{builder.Host}:{builder.Port}/{builder.Database}";
        _source = NpgsqlDataSource.Create(builder);
    }

    /// <summary>Host, port and database, without credentials.</summary>
    public string Description { get; }

    public override string Backend => "postgresql";

    protected override string AutoIdColumn => "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY";

    protected override async Task<DbConnection> OpenAsync(CancellationToken cancel) => await _source.OpenConnectionAsync(cancel);

    protected override async Task<DbTransaction> BeginMigrationAsync(DbConnection connection, CancellationToken cancel)
    {
        var transaction = await connection.BeginTransactionAsync(cancel);
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = $"SELECT pg_advisory_xact_lock({MigrationLockId})";
        await command.ExecuteNonQueryAsync(cancel);
        return transaction;
    }

    public override async ValueTask DisposeAsync()
    {
        await _source.DisposeAsync();
        await base.DisposeAsync();
    }
}

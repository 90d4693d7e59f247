namespace Liaoyuan.Server.Platform.Storage;

/// <summary>
/// Where apps, key hashes, usage and the admin key hash live: SQLite or PostgreSQL, the same schema and
/// behaviour. Every write is committed before the call returns.
/// </summary>
public interface IPlatformStore : IAsyncDisposable
{
    /// <summary>"sqlite" or "postgresql".</summary>
    string Backend { get; }

    /// <summary>Creates or upgrades the schema to the newest version this build knows; safe to call from several processes.</summary>
    Task MigrateAsync(CancellationToken cancel = default);

    /// <summary>The schema version the database is at.</summary>
    Task<int> SchemaVersionAsync(CancellationToken cancel = default);

    Task<string?> GetSettingAsync(string name, CancellationToken cancel = default);

    Task SetSettingAsync(string name, string value, CancellationToken cancel = default);

    /// <summary>Sets a setting only if it has no value yet; returns whether this call set it.</summary>
    Task<bool> TrySetSettingAsync(string name, string value, CancellationToken cancel = default);

    Task InsertAppAsync(AppRecord app, CancellationToken cancel = default);

    Task<AppRecord?> GetAppAsync(string id, CancellationToken cancel = default);

    Task<IReadOnlyList<AppRecord>> ListAppsAsync(CancellationToken cancel = default);

    Task InsertKeyAsync(KeyRecord key, string keyHash, CancellationToken cancel = default);

    Task<KeyRecord?> GetKeyAsync(string keyId, CancellationToken cancel = default);

    Task<IReadOnlyList<KeyRecord>> ListKeysAsync(string appId, CancellationToken cancel = default);

    /// <summary>Marks a key revoked; false when there is no such key. Revoking twice keeps the first time.</summary>
    Task<bool> RevokeKeyAsync(string keyId, DateTimeOffset at, CancellationToken cancel = default);

    /// <summary>The owner of the unrevoked key with this hash, or null.</summary>
    Task<KeyOwner?> FindActiveKeyAsync(string keyHash, CancellationToken cancel = default);

    Task InsertUsageAsync(UsageRecord usage, CancellationToken cancel = default);

    /// <summary>Per-day totals of one app, days from <paramref name="fromDay"/> to <paramref name="toDay"/> inclusive (null = open).</summary>
    Task<IReadOnlyList<DailyUsage>> DailyUsageAsync(string appId, string? fromDay, string? toDay, CancellationToken cancel = default);

    /// <summary>Requests admitted since <paramref name="since"/>, with their tokens: rebuilds rate windows after a restart.</summary>
    Task<IReadOnlyList<RecentUsage>> RecentUsageAsync(string appId, DateTimeOffset since, CancellationToken cancel = default);
}

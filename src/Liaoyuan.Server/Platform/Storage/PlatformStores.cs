namespace Liaoyuan.Server.Platform.Storage;

/// <summary>Opens the store a server or CLI command was pointed at.</summary>
public static class PlatformStores
{
    /// <summary>
    /// PostgreSQL when <paramref name="database"/> is a connection string (it has an '='), else SQLite: the file
    /// <paramref name="database"/> names, or <c>liaoyuan.db</c> in the data folder. The schema is brought up to date.
    /// </summary>
    public static async Task<IPlatformStore> OpenAsync(string? database, string dataDirectory, CancellationToken cancel = default)
    {
        IPlatformStore store;
        if (database is not null && database.Contains('=', StringComparison.Ordinal)) store = new PostgresPlatformStore(database);
        else
        {
            string path = database ?? Path.Combine(dataDirectory, SqlitePlatformStore.FileName);
            string? folder = Path.GetDirectoryName(Path.GetFullPath(path));
            if (folder is not null) Directory.CreateDirectory(folder);
            store = new SqlitePlatformStore(path);
        }
        try
        {
            await store.MigrateAsync(cancel);
            return store;
        }
        catch
        {
            await store.DisposeAsync();
            throw;
        }
    }
}

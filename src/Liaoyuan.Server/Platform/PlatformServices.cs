using Liaoyuan.Server.Platform.Storage;

namespace Liaoyuan.Server.Platform;

/// <summary>The server's platform state once started: the store, the limiter and the admin key's hash.</summary>
public sealed class PlatformServices : IAsyncDisposable
{
    public const string AdminKeySetting = "admin_key_sha256";

    private PlatformServices(IPlatformStore store, string adminKeyHash, string? generatedAdminKey)
    {
        Store = store;
        Limiter = new UsageLimiter(store, TimeProvider.System);
        AdminKeyHash = adminKeyHash;
        GeneratedAdminKey = generatedAdminKey;
    }

    public IPlatformStore Store { get; }
    public UsageLimiter Limiter { get; }
    public string AdminKeyHash { get; }

    /// <summary>The admin key made at this start because none was given or stored; shown once, never again.</summary>
    public string? GeneratedAdminKey { get; }

    public static async Task<PlatformServices> StartAsync(ServerOptions options, CancellationToken cancel)
    {
        if (options.DataDirectory is null && options.Database is null)
            throw new ArgumentException("the server needs a data folder or a database for apps and keys, or no-auth mode");
        var store = await PlatformStores.OpenAsync(options.Database, options.DataDirectory ?? ".", cancel);
        try
        {
            var (hash, generated) = await ResolveAdminKeyAsync(store, options.AdminKey, cancel);
            return new PlatformServices(store, hash, generated);
        }
        catch
        {
            await store.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// A given admin key replaces the stored one (its hash is kept, so the CLI and later starts know it); without
    /// one, the stored hash stays in force; with neither, a new key is made and its hash stored.
    /// </summary>
    public static async Task<(string Hash, string? Generated)> ResolveAdminKeyAsync(IPlatformStore store, string? given, CancellationToken cancel)
    {
        if (given is not null)
        {
            if (given.Length < 16 || given.Any(char.IsWhiteSpace))
                throw new ArgumentException("the admin key must be at least 16 characters without spaces");
            string hash = PlatformKeys.Hash(given);
            await store.SetSettingAsync(AdminKeySetting, hash, cancel);
            return (hash, null);
        }
        if (await store.GetSettingAsync(AdminKeySetting, cancel) is { } stored) return (stored, null);
        string key = PlatformKeys.NewAdminKey();
        if (await store.TrySetSettingAsync(AdminKeySetting, PlatformKeys.Hash(key), cancel)) return (PlatformKeys.Hash(key), key);
        // Another process stored one first; its key is the admin key.
        return ((await store.GetSettingAsync(AdminKeySetting, cancel))!, null);
    }

    public ValueTask DisposeAsync() => Store.DisposeAsync();
}

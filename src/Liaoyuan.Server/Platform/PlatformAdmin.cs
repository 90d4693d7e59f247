using System.Text.Json.Serialization;
using Liaoyuan.Server.Platform.Storage;

namespace Liaoyuan.Server.Platform;

/// <summary>
/// The admin operations — apps, keys, usage — with their validation, shared by the HTTP admin API and
/// <c>liaoyuan apps</c> working directly on a data folder. Results are the admin API's JSON shapes.
/// </summary>
public sealed class PlatformAdmin(IPlatformStore store, TimeProvider clock)
{
    public const int MaxNameLength = 200;

    public async Task<AppDto> CreateAppAsync(string? name, long? dailyTokenQuota, long? requestsPerMinute, long? tokensPerMinute, CancellationToken cancel = default)
    {
        if (string.IsNullOrWhiteSpace(name)) throw new PlatformInputException("'name' must be a non-empty string", param: "name");
        if (name.Length > MaxNameLength) throw new PlatformInputException($"'name' must be at most {MaxNameLength} characters", param: "name");
        NonNegative(dailyTokenQuota, "daily_token_quota");
        NonNegative(requestsPerMinute, "requests_per_minute");
        NonNegative(tokensPerMinute, "tokens_per_minute");
        if (requestsPerMinute > int.MaxValue) throw new PlatformInputException($"'requests_per_minute' must be at most {int.MaxValue}", param: "requests_per_minute");
        var app = new AppRecord(PlatformKeys.NewId("app_"), name.Trim(), dailyTokenQuota, (int?)requestsPerMinute, tokensPerMinute, Now());
        await store.InsertAppAsync(app, cancel);
        return AppDto.Of(app);
    }

    public async Task<IReadOnlyList<AppDto>> ListAppsAsync(CancellationToken cancel = default) =>
        (await store.ListAppsAsync(cancel)).Select(AppDto.Of).ToList();

    public async Task<CreatedKeyDto> CreateKeyAsync(string appId, CancellationToken cancel = default)
    {
        await RequireAppAsync(appId, cancel);
        string key = PlatformKeys.NewAppKey();
        var record = new KeyRecord(PlatformKeys.NewId("key_"), appId, Now(), null);
        await store.InsertKeyAsync(record, PlatformKeys.Hash(key), cancel);
        return new CreatedKeyDto(record.Id, key, appId, record.CreatedAt.ToUnixTimeSeconds());
    }

    public async Task<IReadOnlyList<KeyDto>> ListKeysAsync(string appId, CancellationToken cancel = default)
    {
        await RequireAppAsync(appId, cancel);
        return (await store.ListKeysAsync(appId, cancel)).Select(KeyDto.Of).ToList();
    }

    public async Task<KeyDto> RevokeKeyAsync(string keyId, CancellationToken cancel = default)
    {
        if (!await store.RevokeKeyAsync(keyId, Now(), cancel) || await store.GetKeyAsync(keyId, cancel) is not { } key)
            throw new PlatformInputException($"There is no key '{keyId}'", notFound: true, param: "id");
        return KeyDto.Of(key);
    }

    public async Task<IReadOnlyList<UsageDto>> UsageAsync(string? appId, string? from, string? to, CancellationToken cancel = default)
    {
        if (string.IsNullOrEmpty(appId)) throw new PlatformInputException("'app' is required: the id of the app whose usage to report", param: "app");
        string? fromDay = Day(from, "from"), toDay = Day(to, "to");
        if (fromDay is not null && toDay is not null && string.CompareOrdinal(fromDay, toDay) > 0)
            throw new PlatformInputException($"'from' ({fromDay}) is after 'to' ({toDay})", param: "from");
        await RequireAppAsync(appId, cancel);
        return (await store.DailyUsageAsync(appId, fromDay, toDay, cancel))
            .Select(d => new UsageDto(d.App, d.Day, d.Requests, d.PromptTokens, d.CompletionTokens)).ToList();
    }

    private async Task RequireAppAsync(string appId, CancellationToken cancel)
    {
        if (await store.GetAppAsync(appId, cancel) is null) throw new PlatformInputException($"There is no app '{appId}'", notFound: true, param: "app");
    }

    private static string? Day(string? text, string param)
    {
        if (string.IsNullOrEmpty(text)) return null;
        return PlatformClock.TryParseDay(text, out string day) ? day : throw new PlatformInputException($"'{param}' must be a date as yyyy-MM-dd, got '{text}'", param: param);
    }

    private static void NonNegative(long? value, string param)
    {
        if (value < 0) throw new PlatformInputException($"'{param}' must be a non-negative integer (or null for no limit), got {value}", param: param);
    }

    private DateTimeOffset Now() => clock.GetUtcNow();
}

public sealed record AppDto(string Id, string Name, long? DailyTokenQuota, int? RequestsPerMinute, long? TokensPerMinute, long CreatedAt)
{
    public string Object => "app";

    public static AppDto Of(AppRecord app) =>
        new(app.Id, app.Name, app.DailyTokenQuota, app.RequestsPerMinute, app.TokensPerMinute, app.CreatedAt.ToUnixTimeSeconds());
}

public sealed record CreatedKeyDto(string Id, string Key, string App, long CreatedAt)
{
    public string Object => "api_key";
}

public sealed record KeyDto(string Id, string App, long CreatedAt, long? RevokedAt)
{
    public string Object => "api_key";
    public bool Revoked => RevokedAt is not null;

    public static KeyDto Of(KeyRecord key) => new(key.Id, key.AppId, key.CreatedAt.ToUnixTimeSeconds(), key.RevokedAt?.ToUnixTimeSeconds());
}

public sealed record UsageDto(string App, string Day, long Requests, long PromptTokens, long CompletionTokens);

public sealed record AdminList<T>(IReadOnlyList<T> Data)
{
    public string Object => "list";
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = false)]
[JsonSerializable(typeof(AppDto))]
[JsonSerializable(typeof(CreatedKeyDto))]
[JsonSerializable(typeof(KeyDto))]
[JsonSerializable(typeof(AdminList<AppDto>))]
[JsonSerializable(typeof(AdminList<KeyDto>))]
[JsonSerializable(typeof(AdminList<UsageDto>))]
public sealed partial class AdminJsonContext : JsonSerializerContext;

namespace Liaoyuan.Server.Platform;

/// <summary>An app: the unit that owns keys, quotas and usage. A null limit means unlimited.</summary>
public sealed record AppRecord(string Id, string Name, long? DailyTokenQuota, int? RequestsPerMinute, long? TokensPerMinute, DateTimeOffset CreatedAt);

/// <summary>An API key as stored: never the key itself, only its SHA-256.</summary>
public sealed record KeyRecord(string Id, string AppId, DateTimeOffset CreatedAt, DateTimeOffset? RevokedAt);

/// <summary>A key that was just created: the only place its plain text ever appears.</summary>
public sealed record CreatedKey(string Id, string AppId, string Key);

/// <summary>The app a valid, unrevoked key belongs to.</summary>
public sealed record KeyOwner(string KeyId, AppRecord App);

/// <summary>
/// One API request by an app key. <see cref="Day"/> (UTC, yyyy-MM-dd) and <see cref="AdmittedAt"/> are when it
/// was admitted, so tokens count against the day and minute whose limits let them in.
/// </summary>
public sealed record UsageRecord(
    string? RequestId, string AppId, string KeyId, string Model, int PromptTokens, int CompletionTokens,
    long LatencyMilliseconds, int Status, DateTimeOffset AdmittedAt)
{
    public string Day => PlatformClock.Day(AdmittedAt);
}

/// <summary>One app's totals for one UTC day.</summary>
public sealed record DailyUsage(string App, string Day, long Requests, long PromptTokens, long CompletionTokens);

/// <summary>Tokens an app spent since some moment, by admission time: what rebuilds its minute window after a restart.</summary>
public sealed record RecentUsage(DateTimeOffset AdmittedAt, long Tokens);

/// <summary>A request to the platform's admin operations that cannot be honoured: unknown ids or invalid values.</summary>
public sealed class PlatformInputException(string message, bool notFound = false, string? param = null) : Exception(message)
{
    public bool NotFound { get; } = notFound;
    public string? Param { get; } = param;
}

/// <summary>Days are UTC calendar days, written yyyy-MM-dd.</summary>
public static class PlatformClock
{
    public static string Day(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);

    public static bool TryParseDay(string text, out string day)
    {
        day = "";
        if (!DateOnly.TryParseExact(text, "yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture,
                System.Globalization.DateTimeStyles.None, out var date)) return false;
        day = date.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
        return true;
    }
}

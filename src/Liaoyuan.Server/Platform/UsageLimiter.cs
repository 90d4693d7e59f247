using System.Collections.Concurrent;
using Liaoyuan.Server.Platform.Storage;

namespace Liaoyuan.Server.Platform;

/// <summary>
/// Enforces each app's daily token quota and per-minute request and token limits, exactly, however many
/// requests race. A request is admitted only if its whole reservation fits — prompt tokens plus every choice's
/// max_tokens (without max_tokens, the rest of the context) — so the generated tokens can never overshoot a
/// limit; when it finishes, the reservation is settled down to the tokens actually used. The per-minute limits
/// are sliding 60-second windows over admission times. State lives in this process, rebuilt from the usage
/// table when an app is first seen (today's tokens and the last minute's requests), so limits hold across
/// restarts; with several servers on one database each enforces them on its own.
/// </summary>
public sealed class UsageLimiter(IPlatformStore store, TimeProvider clock)
{
    private static readonly TimeSpan Window = TimeSpan.FromMinutes(1);
    private readonly ConcurrentDictionary<string, Lazy<Task<AppWindow>>> _apps = new(StringComparer.Ordinal);

    public TimeProvider Clock => clock;

    /// <summary>A reservation, or why the request must wait and for how long.</summary>
    public async Task<Admission> AdmitAsync(AppRecord app, long tokens, CancellationToken cancel)
    {
        var lazy = _apps.GetOrAdd(app.Id, id => new Lazy<Task<AppWindow>>(() => LoadAsync(id)));
        AppWindow window;
        try
        {
            window = await lazy.Value.WaitAsync(cancel);
        }
        catch (Exception) when (lazy.Value.IsFaulted)
        {
            // A failed load (database briefly away) is retried by the next request rather than cached.
            _apps.TryRemove(new KeyValuePair<string, Lazy<Task<AppWindow>>>(app.Id, lazy));
            throw;
        }
        return window.TryAdmit(app, tokens, clock.GetUtcNow());
    }

    private async Task<AppWindow> LoadAsync(string appId)
    {
        var now = clock.GetUtcNow();
        string today = PlatformClock.Day(now);
        var daily = await store.DailyUsageAsync(appId, today, today);
        var recent = await store.RecentUsageAsync(appId, now - Window);
        return new AppWindow(today, daily.Sum(d => d.PromptTokens + d.CompletionTokens), recent);
    }

    internal sealed class Spend(DateTimeOffset at, long tokens)
    {
        public DateTimeOffset At { get; } = at;
        public long Tokens { get; set; } = tokens;
    }

    /// <summary>One app's counters; every read and change happens under its lock.</summary>
    internal sealed class AppWindow
    {
        private readonly Lock _lock = new();
        private readonly Queue<Spend> _minute = new();
        private string _day;
        private long _dayTokens;

        public AppWindow(string day, long dayTokens, IEnumerable<RecentUsage> recent)
        {
            _day = day;
            _dayTokens = dayTokens;
            foreach (var usage in recent) _minute.Enqueue(new Spend(usage.AdmittedAt, usage.Tokens));
        }

        public Admission TryAdmit(AppRecord app, long tokens, DateTimeOffset now)
        {
            lock (_lock)
            {
                string today = PlatformClock.Day(now);
                if (today != _day)
                {
                    _day = today;
                    _dayTokens = 0;
                }
                while (_minute.Count > 0 && _minute.Peek().At <= now - Window) _minute.Dequeue();

                if (app.DailyTokenQuota is { } quota && _dayTokens + tokens > quota)
                {
                    var midnight = new DateTimeOffset(now.UtcDateTime.Date.AddDays(1), TimeSpan.Zero);
                    string why = tokens > quota
                        ? $"This request reserves {tokens} tokens (prompt + max_tokens), more than the app's daily quota of {quota}; lower max_tokens"
                        : $"The app's daily token quota of {quota} is used up ({_dayTokens} used or reserved today, this request reserves {tokens}; the quota resets at 00:00 UTC)";
                    return Admission.Refuse(why, "daily_quota_exceeded", midnight - now);
                }
                if (app.RequestsPerMinute is { } rpm && _minute.Count >= rpm)
                {
                    var wait = _minute.Count > 0 ? _minute.ElementAt(_minute.Count - rpm).At + Window - now : Window;
                    return Admission.Refuse($"The app's limit of {rpm} requests per minute is reached", "requests_per_minute_exceeded", wait);
                }
                if (app.TokensPerMinute is { } tpm && MinuteTokens() + tokens > tpm)
                {
                    if (tokens > tpm)
                        return Admission.Refuse($"This request reserves {tokens} tokens (prompt + max_tokens), more than the app's limit of {tpm} tokens per minute; lower max_tokens",
                            "tokens_per_minute_exceeded", Window);
                    return Admission.Refuse($"The app's limit of {tpm} tokens per minute is reached ({MinuteTokens()} used or reserved in the last minute, this request reserves {tokens})",
                        "tokens_per_minute_exceeded", TimeUntilTokensFit(tpm - tokens, now));
                }

                var spend = new Spend(now, tokens);
                _minute.Enqueue(spend);
                _dayTokens += tokens;
                return Admission.Admit(new Reservation(this, _day, spend, tokens, now));
            }
        }

        public void Settle(Reservation reservation, long actual)
        {
            lock (_lock)
            {
                long change = actual - reservation.Tokens;
                reservation.Spend.Tokens = actual;
                if (reservation.Day == _day) _dayTokens += change;
            }
        }

        private long MinuteTokens() => _minute.Sum(s => s.Tokens);

        /// <summary>How long until enough of the window's spends expire that at most <paramref name="allowed"/> tokens remain.</summary>
        private TimeSpan TimeUntilTokensFit(long allowed, DateTimeOffset now)
        {
            long remaining = MinuteTokens();
            foreach (var spend in _minute)
            {
                remaining -= spend.Tokens;
                if (remaining <= allowed) return spend.At + Window - now;
            }
            return Window;
        }
    }

    /// <summary>Tokens held for an admitted request until it settles.</summary>
    public sealed class Reservation
    {
        private readonly AppWindow _window;
        private int _settled;

        internal Reservation(AppWindow window, string day, Spend spend, long tokens, DateTimeOffset admittedAt)
        {
            _window = window;
            Day = day;
            Spend = spend;
            Tokens = tokens;
            AdmittedAt = admittedAt;
        }

        internal string Day { get; }
        internal Spend Spend { get; }
        public long Tokens { get; }
        public DateTimeOffset AdmittedAt { get; }

        /// <summary>Replaces the reservation by what the request used; only the first call counts.</summary>
        public void Settle(long actualTokens)
        {
            if (Interlocked.Exchange(ref _settled, 1) == 0) _window.Settle(this, actualTokens);
        }
    }
}

/// <summary>The answer to an admission request.</summary>
public sealed record Admission(UsageLimiter.Reservation? Reservation, string? Refusal, string? Code, TimeSpan RetryAfter)
{
    public static Admission Admit(UsageLimiter.Reservation reservation) => new(reservation, null, null, TimeSpan.Zero);

    public static Admission Refuse(string why, string code, TimeSpan retryAfter) =>
        new(null, why, code, retryAfter < TimeSpan.Zero ? TimeSpan.Zero : retryAfter);
}

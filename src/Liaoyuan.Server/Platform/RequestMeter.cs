using System.Diagnostics;
using Liaoyuan.Server.Api;
using Liaoyuan.Server.Platform.Storage;
using Microsoft.AspNetCore.Http;

namespace Liaoyuan.Server.Platform;

/// <summary>
/// Meters one generation request of an app key: admits it against the app's limits, and writes its usage record
/// exactly once — on success before the response's last byte is sent, so a client that saw a complete answer
/// can rely on the record being committed.
/// </summary>
internal sealed class RequestMeter(KeyOwner owner, IPlatformStore store, UsageLimiter limiter)
{
    private readonly long _started = Stopwatch.GetTimestamp();
    private UsageLimiter.Reservation? _reservation;
    private string _model = "";
    private int _promptTokens;
    private Func<int>? _completionSoFar;
    private int _recorded;

    public KeyOwner Owner => owner;

    /// <summary>The meter of this request, or null when the server runs without auth.</summary>
    public static RequestMeter? Of(HttpContext http) => http.Features.Get<RequestMeter>();

    /// <summary>Reserves <paramref name="promptTokens"/> + <paramref name="completionBudget"/> tokens or refuses with 429.</summary>
    public async Task AdmitAsync(string model, int promptTokens, long completionBudget, CancellationToken cancel)
    {
        _model = model;
        _promptTokens = promptTokens;
        var admission = await limiter.AdmitAsync(owner.App, promptTokens + completionBudget, cancel);
        if (admission.Reservation is null)
        {
            throw new ApiException(StatusCodes.Status429TooManyRequests, admission.Refusal!, ApiErrorTypes.RateLimit, null, admission.Code)
            {
                RetryAfterSeconds = Math.Max(1, (int)Math.Ceiling(admission.RetryAfter.TotalSeconds)),
            };
        }
        _reservation = admission.Reservation;
    }

    /// <summary>How to count the tokens produced so far, should the request end early.</summary>
    public void Track(Func<int> completionSoFar) => _completionSoFar = completionSoFar;

    /// <summary>Settles and records a successful request; call before sending the response's end.</summary>
    public Task CompleteAsync(string requestId, Usage usage) =>
        RecordAsync(requestId, StatusCodes.Status200OK, usage.PromptTokens, usage.CompletionTokens);

    /// <summary>
    /// Records a request that ended without a complete answer (no-op when already recorded). It costs what it
    /// produced: its prompt and completion tokens once any were generated, nothing if it never got that far.
    /// </summary>
    public Task FailAsync(int status)
    {
        int completion = _completionSoFar?.Invoke() ?? 0;
        return RecordAsync(null, status, completion > 0 ? _promptTokens : 0, completion);
    }

    public bool Recorded => Volatile.Read(ref _recorded) == 1;

    private async Task RecordAsync(string? requestId, int status, int prompt, int completion)
    {
        if (Interlocked.Exchange(ref _recorded, 1) == 1) return;
        _reservation?.Settle(prompt + completion);
        var admitted = _reservation?.AdmittedAt ?? limiter.Clock.GetUtcNow();
        long latency = (long)Stopwatch.GetElapsedTime(_started).TotalMilliseconds;
        await store.InsertUsageAsync(new UsageRecord(requestId, owner.App.Id, owner.KeyId, _model, prompt, completion, latency, status, admitted),
            CancellationToken.None);
    }
}

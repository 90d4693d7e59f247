using System.Diagnostics.Metrics;

namespace Liaoyuan.Server;

/// <summary>
/// The server's instruments, on the "Liaoyuan.Server" meter; OpenTelemetry exports them on /metrics in Prometheus
/// format (names there gain unit suffixes, e.g. liaoyuan_time_to_first_token_seconds).
/// </summary>
public sealed class ServerMetrics : IDisposable
{
    public const string MeterName = "Liaoyuan.Server";

    private readonly Meter _meter;
    private readonly Counter<long> _requests;
    private readonly Counter<long> _promptTokens;
    private readonly Counter<long> _completionTokens;
    private readonly Counter<long> _rejected;
    private readonly Histogram<double> _timeToFirstToken;
    private readonly Histogram<double> _tokensPerSecond;
    private readonly Histogram<int> _stepSequences;
    private readonly List<Func<(string Model, int Queued, int Active, long SessionBytes)>> _schedulers = [];

    public ServerMetrics()
    {
        _meter = new Meter(MeterName);
        _requests = _meter.CreateCounter<long>("liaoyuan.requests", "{request}", "HTTP API requests answered, by endpoint and status");
        _promptTokens = _meter.CreateCounter<long>("liaoyuan.prompt_tokens", "{token}", "Prompt tokens processed");
        _completionTokens = _meter.CreateCounter<long>("liaoyuan.completion_tokens", "{token}", "Tokens generated");
        _rejected = _meter.CreateCounter<long>("liaoyuan.rejected_requests", "{request}", "Requests refused with 429 because the queue was full");
        _timeToFirstToken = _meter.CreateHistogram<double>("liaoyuan.time_to_first_token", "s", "From arrival in the queue to the first generated token");
        _stepSequences = _meter.CreateHistogram<int>("liaoyuan.step_sequences", "{sequence}", "Sequences sharing each batched forward pass (how full continuous batching keeps the steps)",
            advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = [1, 2, 4, 8, 16, 32, 64] });
        _tokensPerSecond = _meter.CreateHistogram<double>("liaoyuan.decode_rate", "{token}/s", "Generated tokens per second of each finished sequence, after its first token");
        _meter.CreateObservableGauge("liaoyuan.queue_depth", () => Observe(s => s.Queued), "{request}", "Sequences waiting for a slot");
        _meter.CreateObservableGauge("liaoyuan.active_sequences", () => Observe(s => s.Active), "{sequence}", "Sequences being decoded");
        _meter.CreateObservableGauge("liaoyuan.session_memory", () => Observe(s => s.SessionBytes), "By",
            "Memory a model's sequences keep: KV caches and logits of its sessions (bounded by the KV budget) and the scheduler's shared buffers");
        // Read by the load bench's soak mode, which watches for growth over a long run.
        _meter.CreateObservableGauge("liaoyuan.process.resident_memory", ResidentBytes, "By", "Resident memory of the server process");
    }

    public void RequestAnswered(string endpoint, int status) =>
        _requests.Add(1, new("endpoint", endpoint), new("status", status));

    public void Rejected(string model) => _rejected.Add(1, new KeyValuePair<string, object?>("model", model));

    public void SequenceFinished(string model, int promptTokens, int completionTokens, double? timeToFirstToken, double? decodeSeconds)
    {
        var tag = new KeyValuePair<string, object?>("model", model);
        _promptTokens.Add(promptTokens, tag);
        _completionTokens.Add(completionTokens, tag);
        if (timeToFirstToken is { } ttft) _timeToFirstToken.Record(ttft, tag);
        if (decodeSeconds is > 0 && completionTokens > 1) _tokensPerSecond.Record((completionTokens - 1) / decodeSeconds.Value, tag);
    }

    public void StepRan(string model, int sequences) => _stepSequences.Record(sequences, new KeyValuePair<string, object?>("model", model));

    internal void Track(Func<(string Model, int Queued, int Active, long SessionBytes)> scheduler)
    {
        lock (_schedulers) _schedulers.Add(scheduler);
    }

    internal void Untrack(Func<(string Model, int Queued, int Active, long SessionBytes)> scheduler)
    {
        lock (_schedulers) _schedulers.Remove(scheduler);
    }

    private List<Measurement<T>> Observe<T>(Func<(string Model, int Queued, int Active, long SessionBytes), T> pick) where T : struct
    {
        lock (_schedulers)
        {
            return _schedulers.Select(s => s()).Select(s => new Measurement<T>(pick(s), new KeyValuePair<string, object?>("model", s.Model))).ToList();
        }
    }

    private static long ResidentBytes()
    {
        using var process = System.Diagnostics.Process.GetCurrentProcess();
        return process.WorkingSet64;
    }

    public void Dispose() => _meter.Dispose();
}

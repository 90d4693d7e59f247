using System.Diagnostics;
using Liaoyuan.Engine.Models;
using Liaoyuan.Operators.Tensors;
using Liaoyuan.Server.Api;

namespace Liaoyuan.Server.Scheduling;

public sealed record SchedulerOptions
{
    /// <summary>Sequences decoded together (each one holds a KV cache of <see cref="ContextLength"/> at most).</summary>
    public int Slots { get; init; } = 4;

    /// <summary>Sequences that may wait for a slot; beyond that requests are refused with 429.</summary>
    public int QueueCapacity { get; init; } = 64;

    /// <summary>Tokens per sequence; 0 takes the model's context, at most 4096.</summary>
    public int ContextLength { get; init; }

    /// <summary>Bytes that the slots' sessions (KV caches and logits, idle ones kept for prefix reuse included) may take
    /// together; 0 lets every slot hold a full-context session. Least recently used idle sessions are evicted to fit.</summary>
    public long KvBudgetBytes { get; init; }

    public GgmlType KvType { get; init; } = GgmlType.F16;

    /// <summary>Prompt tokens fed per step, shared by the sequences still reading their prompts, so that a long
    /// prompt delays the others' next tokens by a bounded amount.</summary>
    public int PrefillTokensPerStep { get; init; } = 256;
}

/// <summary>
/// Owns one model's sessions and runs its decode loop on a dedicated thread. Requests wait in a bounded queue;
/// between steps, waiting requests are admitted into free slots and finished or abandoned ones leave; each step
/// feeds prompt chunks to newly admitted sequences and decodes one token for every other active sequence.
/// </summary>
public sealed class ModelScheduler : IDisposable
{
    private readonly LoadedModel _model;
    private readonly SchedulerOptions _options;
    private readonly IDecodeStepExecutor _executor;
    private readonly ServerMetrics? _metrics;
    private readonly SessionPool _pool;
    private readonly SequenceScratch _scratch = new();
    private readonly List<(ActiveSequence Sequence, int[] Tokens)> _step = [];
    private readonly Queue<SequenceRequest> _waiting = new();
    private readonly List<ActiveSequence> _active = [];
    private readonly SemaphoreSlim _wake = new(0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread _worker;
    private readonly Func<(string, int, int, long)> _gauges;
    private volatile bool _paused;
    private int _activeCount;
    private long _reusedPromptTokens;
    private long _abandoned;
    private int _disposed;

    public ModelScheduler(string modelId, LoadedModel model, SchedulerOptions options, IDecodeStepExecutor? executor = null, ServerMetrics? metrics = null)
    {
        if (options.Slots < 1) throw new ArgumentOutOfRangeException(nameof(options), "slots must be ≥ 1");
        if (options.QueueCapacity < 0) throw new ArgumentOutOfRangeException(nameof(options), "queue capacity must be ≥ 0");
        ModelId = modelId;
        _model = model;
        _options = options;
        if (options.PrefillTokensPerStep < 1) throw new ArgumentOutOfRangeException(nameof(options), "prefill tokens per step must be ≥ 1");
        _executor = executor ?? new BatchedDecodeStepExecutor(model.Model, options.Slots + options.PrefillTokensPerStep);
        _metrics = metrics;
        _pool = new SessionPool(model.Model, options.Slots, options.ContextLength, options.KvType, options.KvBudgetBytes);
        _gauges = () => (ModelId, Queued, Active, SessionBytes + ScratchBytes);
        _metrics?.Track(_gauges);
        _worker = new Thread(Run) { IsBackground = true, Name = $"liaoyuan-scheduler-{modelId}" };
        _worker.Start();
    }

    public string ModelId { get; }
    public int ContextLength => _pool.ContextLength;

    /// <summary>The most the sessions take: what the budget allows (KV caches and logits rows).</summary>
    public long SessionBudgetBytes => _pool.BudgetBytes;

    /// <summary>What the kept sessions take now; updated by the scheduler thread, read as a snapshot.</summary>
    public long SessionBytes => _pool.KeptBytes;

    /// <summary>The buffers the scheduler's sequences share (sampling, masking, echo scoring).</summary>
    internal long ScratchBytes => _scratch.Bytes;
    public int Queued { get { lock (_waiting) return _waiting.Count; } }
    public int Active => Volatile.Read(ref _activeCount);

    /// <summary>The context of each slot's KV cache (0 for a slot never used); a snapshot that may be out of date.</summary>
    internal int[] SlotContexts => _pool.SessionContexts();

    /// <summary>Prompt tokens that came from a cached prefix instead of being evaluated, since start.</summary>
    public long ReusedPromptTokens => Interlocked.Read(ref _reusedPromptTokens);

    /// <summary>Sequences dropped because their client went away, since start.</summary>
    public long AbandonedSequences => Interlocked.Read(ref _abandoned);

    /// <summary>Queues sequences all together or not at all.</summary>
    /// <exception cref="ApiException">429 when the queue has no room for all of them.</exception>
    public void Submit(IReadOnlyList<SequenceRequest> requests)
    {
        lock (_waiting)
        {
            if (_waiting.Count + requests.Count > _options.QueueCapacity + FreeSlotsNotYetClaimed())
            {
                _metrics?.Rejected(ModelId);
                throw new ApiException(429, $"the server is busy: {_waiting.Count} requests are waiting for model '{ModelId}'; try again shortly",
                    ApiErrorTypes.RateLimit, code: "queue_full")
                { RetryAfterSeconds = 1 };
            }
            foreach (var request in requests)
            {
                request.EnqueuedAt = Stopwatch.GetTimestamp();
                _waiting.Enqueue(request);
            }
        }
        _wake.Release();
    }

    // Requests that will go straight into an idle slot do not count against the queue's capacity.
    private int FreeSlotsNotYetClaimed() => _paused ? 0 : Math.Max(0, _options.Slots - Active);

    /// <summary>Stops admitting queued requests (active ones go on) until <see cref="Resume"/>; used to drain.</summary>
    internal void Pause() => _paused = true;

    internal void Resume()
    {
        _paused = false;
        _wake.Release();
    }

    private void Run()
    {
        var stop = _stop.Token;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                if (_active.Count == 0 && (_paused || Queued == 0))
                {
                    _wake.Wait(stop);
                    continue;
                }
                Step();
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                break;
            }
        }
        foreach (var sequence in _active) sequence.Fail(new ObjectDisposedException(nameof(ModelScheduler), "the server is shutting down"));
        lock (_waiting)
        {
            foreach (var request in _waiting) request.Events.Writer.TryComplete(new ObjectDisposedException(nameof(ModelScheduler), "the server is shutting down"));
            _waiting.Clear();
        }
    }

    /// <summary>One scheduler step: admit, drop the abandoned, prefill, decode, retire.</summary>
    private void Step()
    {
        Admit();
        foreach (var sequence in _active)
        {
            if (sequence.Finished || !sequence.Request.Cancel.IsCancellationRequested) continue;
            sequence.Abandon();
            Interlocked.Increment(ref _abandoned);
        }
        Retire();

        // Prompt chunks (within the step's prefill budget) and every decoding sequence's next token share one pass.
        _step.Clear();
        int budget = _options.PrefillTokensPerStep;
        foreach (var sequence in _active)
        {
            if (!sequence.Prefilling || budget <= 0 || sequence.Finished) continue;
            if (sequence.ScoresPrompt) Guard(sequence, () => budget -= sequence.ScorePromptChunk(budget));
            else
            {
                var chunk = sequence.NextPromptChunk(budget);
                budget -= chunk.Length;
                Join(sequence, chunk);
            }
        }
        foreach (var sequence in _active)
        {
            if (!sequence.Finished && !sequence.Prefilling && sequence.NextToken >= 0) Join(sequence, [sequence.NextToken]);
        }
        if (_step.Count > 0)
        {
            try
            {
                _executor.Decode(_step.Select(s => (s.Sequence.Session, s.Tokens)).ToList());
                _metrics?.StepRan(ModelId, _step.Count);
            }
            catch (Exception problem) when (problem is not OperationCanceledException)
            {
                foreach (var (sequence, _) in _step) sequence.Fail(problem);
            }
            foreach (var (sequence, tokens) in _step)
            {
                if (sequence.Finished) continue;
                if (sequence.Prefilling) Guard(sequence, () => sequence.Prefilled(tokens.Length));
                else Guard(sequence, sequence.SampleNext);
            }
        }
        Retire();
    }

    /// <summary>Adds a sequence's tokens to the step, unless they would overflow its cache (which would fail the whole pass).</summary>
    private void Join(ActiveSequence sequence, int[] tokens)
    {
        var session = sequence.Session;
        if (session.Position + tokens.Length > session.ContextLength)
            sequence.Fail(new ContextOverflowException(session.Position + tokens.Length, session.ContextLength));
        else _step.Add((sequence, tokens));
    }

    private void Admit()
    {
        while (!_paused && _pool.HasFreeSlot)
        {
            SequenceRequest? request;
            lock (_waiting)
            {
                if (!_waiting.TryPeek(out request)) return;
                if (request.Cancel.IsCancellationRequested)
                {
                    _waiting.Dequeue();
                    request.Events.Writer.TryComplete(new OperationCanceledException(request.Cancel));
                    continue;
                }
            }
            // Null when the KV budget has no room until an active sequence finishes: the request keeps its place.
            if (_pool.TryAcquire(request.Prompt, request.Parameters.ContextLength, request.Adapter) is not var (slot, reusable)) return;
            lock (_waiting) _waiting.Dequeue();
            var sequence = new ActiveSequence(request, slot, _pool.Session(slot), reusable, _model.Tokenizer, _scratch);
            Interlocked.Add(ref _reusedPromptTokens, sequence.ReusedTokens);
            _active.Add(sequence);
            Interlocked.Increment(ref _activeCount);
        }
    }

    private void Retire()
    {
        for (int i = _active.Count - 1; i >= 0; i--)
        {
            var sequence = _active[i];
            if (!sequence.Finished) continue;
            _active.RemoveAt(i);
            _pool.Release(sequence.Slot);
            Interlocked.Decrement(ref _activeCount);
            Record(sequence);
        }
    }

    private void Record(ActiveSequence sequence)
    {
        if (_metrics is null) return;
        long now = Stopwatch.GetTimestamp();
        double? ttft = sequence.FirstTokenAt is { } first ? Stopwatch.GetElapsedTime(sequence.Request.EnqueuedAt, first).TotalSeconds : null;
        double? decode = sequence.FirstTokenAt is { } start ? Stopwatch.GetElapsedTime(start, now).TotalSeconds : null;
        _metrics.SequenceFinished(ModelId, sequence.Request.Prompt.Count, sequence.CompletionTokens, ttft, decode);
    }

    private static void Guard(ActiveSequence sequence, Action action)
    {
        try
        {
            action();
        }
        catch (Exception problem) when (problem is not OperationCanceledException)
        {
            sequence.Fail(problem);
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        _metrics?.Untrack(_gauges);
        _stop.Cancel();
        _worker.Join();
        _stop.Dispose();
        _wake.Dispose();
    }
}

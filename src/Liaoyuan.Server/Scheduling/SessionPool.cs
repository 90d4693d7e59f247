using Liaoyuan.Engine.Models;
using Liaoyuan.Operators.Tensors;

namespace Liaoyuan.Server.Scheduling;

/// <summary>
/// The scheduler's sequence slots: <see cref="InferenceSession"/>s whose KV caches outlive the requests that used
/// them, so a new request can start from the idle session sharing the longest prompt prefix (a system prompt, an
/// earlier turn of the same conversation) and skip recomputing it. Sessions are created on first use with the
/// context their request needs, and replaced by a larger one only when a request needs more.
/// Memory is bounded by design: the sessions kept, idle or active, never take more than <see cref="BudgetBytes"/>
/// (<see cref="SessionBytes"/> each: KV cache and logits row). A new session first evicts idle ones, least recently
/// used first; when the active ones leave no room, the request waits until one finishes.
/// </summary>
internal sealed class SessionPool
{
    private readonly TransformerModel _model;
    private readonly GgmlType _kvType;
    private readonly InferenceSession?[] _sessions;
    private readonly bool[] _inUse;
    private readonly long[] _lastUsed;
    private long _clock;

    /// <param name="budgetBytes">Bytes all kept sessions may take; 0 lets every slot hold a full-context session.</param>
    /// <exception cref="ArgumentException">When the budget cannot hold one full-context session.</exception>
    public SessionPool(TransformerModel model, int slots, int contextLength, GgmlType kvType, long budgetBytes = 0)
    {
        _model = model;
        _kvType = kvType;
        _sessions = new InferenceSession?[slots];
        _inUse = new bool[slots];
        _lastUsed = new long[slots];
        ContextLength = ContextFor(model.Config, contextLength);
        BudgetBytes = budgetBytes > 0 ? budgetBytes : slots * SessionBytes(model.Config, ContextLength, kvType);
        CheckBudget(model.Config, ContextLength, kvType, BudgetBytes);
    }

    /// <summary>The context of a full session: the one asked for, else the model's, at most 4096.</summary>
    public static int ContextFor(ModelHyperparameters config, int contextLength) =>
        contextLength > 0 ? contextLength : Math.Min(config.ContextLength, 4096);

    /// <exception cref="ArgumentException">When <paramref name="budgetBytes"/> cannot hold one full-context session.</exception>
    public static void CheckBudget(ModelHyperparameters config, int contextLength, GgmlType kvType, long budgetBytes)
    {
        long full = SessionBytes(config, contextLength, kvType);
        if (budgetBytes < full)
            throw new ArgumentException($"the KV cache budget of {budgetBytes / 1048576.0:F1} MiB cannot hold one sequence of {contextLength} tokens ({full / 1048576.0:F1} MiB); raise it or lower the context");
    }

    public int Slots => _sessions.Length;
    public int ContextLength { get; }

    /// <summary>The most that the kept sessions take together.</summary>
    public long BudgetBytes { get; }

    /// <summary>What the kept sessions take now (≤ <see cref="BudgetBytes"/>).</summary>
    public long KeptBytes { get; private set; }

    public int InUse => _inUse.Count(used => used);
    public bool HasFreeSlot => _inUse.Any(used => !used);

    /// <summary>
    /// Takes the idle slot whose session shares the longest prefix with <paramref name="prompt"/> and holds
    /// <paramref name="contextLength"/> tokens (0: the pool's context). A slot whose session is too small, or that has
    /// none yet, gets a new one of just that size, so requests asking for a small context take a small KV cache;
    /// on ties a slot that needs no new cache wins, then the least recently used. A cached prefix counts only when it
    /// was computed with the same <paramref name="adapter"/> (keys and values depend on it).
    /// </summary>
    /// <returns>The slot index and how many leading prompt tokens its cache already holds; null when no slot is free
    /// or a new session would not fit the budget even with every idle session evicted (try again after a release).</returns>
    public (int Slot, int Reusable)? TryAcquire(IReadOnlyList<int> prompt, int contextLength = 0, LoraWeights? adapter = null)
    {
        int needed = contextLength > 0 ? Math.Min(contextLength, ContextLength) : ContextLength;
        int bestSlot = -1, bestShared = -1;
        bool bestFits = false;
        for (int slot = 0; slot < Slots; slot++)
        {
            if (_inUse[slot]) continue;
            bool fits = _sessions[slot] is { } session && session.ContextLength >= needed;
            int shared = fits && _sessions[slot]!.Adapter == adapter ? CommonPrefix(_sessions[slot]!.Tokens, prompt) : 0;
            bool better = shared != bestShared ? shared > bestShared
                : fits != bestFits ? fits
                : _lastUsed[slot] < _lastUsed[bestSlot];
            if (bestSlot < 0 || better)
            {
                bestSlot = slot;
                bestShared = shared;
                bestFits = fits;
            }
        }
        if (bestSlot < 0) return null;
        if (!bestFits && !MakeRoom(bestSlot, SessionBytes(_model.Config, needed, _kvType))) return null;
        if (!bestFits)
        {
            _sessions[bestSlot] = new InferenceSession(_model, needed, _kvType);
            KeptBytes += SessionBytes(_sessions[bestSlot]!);
        }
        _inUse[bestSlot] = true;
        _lastUsed[bestSlot] = ++_clock;
        return (bestSlot, bestShared);
    }

    /// <summary>Drops <paramref name="slot"/>'s old session, then idle ones least recently used first, until <paramref name="bytes"/> more fit.</summary>
    private bool MakeRoom(int slot, long bytes)
    {
        long replaced = _sessions[slot] is { } old ? SessionBytes(old) : 0;
        long evictable = replaced + Enumerable.Range(0, Slots).Where(s => s != slot && !_inUse[s] && _sessions[s] is not null).Sum(s => SessionBytes(_sessions[s]!));
        if (KeptBytes - evictable + bytes > BudgetBytes) return false;
        Drop(slot);
        while (KeptBytes + bytes > BudgetBytes)
        {
            int oldest = Enumerable.Range(0, Slots).Where(s => !_inUse[s] && _sessions[s] is not null).MinBy(s => _lastUsed[s]);
            Drop(oldest);
        }
        return true;
    }

    private void Drop(int slot)
    {
        if (_sessions[slot] is not { } session) return;
        KeptBytes -= SessionBytes(session);
        _sessions[slot] = null;
    }

    /// <summary>The session of a slot that <see cref="TryAcquire"/> handed out.</summary>
    public InferenceSession Session(int slot) => _sessions[slot] ?? throw new InvalidOperationException($"slot {slot} has not been acquired");

    public void Release(int slot)
    {
        _inUse[slot] = false;
        _lastUsed[slot] = ++_clock;
    }

    /// <summary>The context each slot's session holds (0 for a slot without one), for tests and diagnostics.</summary>
    public int[] SessionContexts() => _sessions.Select(s => s?.ContextLength ?? 0).ToArray();

    /// <summary>Bytes of KV cache one sequence of <paramref name="contextLength"/> takes (keys and values, all layers).</summary>
    public static long KvBytes(ModelHyperparameters config, int contextLength, GgmlType kvType)
    {
        long perToken = (long)config.BlockCount * config.KvHeadCount * (config.KeyLength + config.ValueLength);
        return perToken * contextLength * (kvType == GgmlType.F32 ? 4 : 2);
    }

    /// <summary>What one kept session takes: its KV cache and its row of logits.</summary>
    public static long SessionBytes(ModelHyperparameters config, int contextLength, GgmlType kvType) =>
        KvBytes(config, contextLength, kvType) + 4L * config.VocabSize;

    private static long SessionBytes(InferenceSession session) => SessionBytes(session.Model.Config, session.ContextLength, session.Cache.Type);

    private static int CommonPrefix(IReadOnlyList<int> a, IReadOnlyList<int> b)
    {
        int n = Math.Min(a.Count, b.Count), i = 0;
        while (i < n && a[i] == b[i]) i++;
        return i;
    }
}

using Liaoyuan.Engine.Models;
using Liaoyuan.Operators.Tensors;

namespace Liaoyuan.Server.Scheduling;

/// <summary>
/// The scheduler's sequence slots: a fixed number of <see cref="InferenceSession"/>s whose KV caches outlive the
/// requests that used them, so a new request can start from the idle session sharing the longest prompt prefix
/// (a system prompt, an earlier turn of the same conversation) and skip recomputing it. Sessions are created on
/// first use with the context their request needs, and replaced by a larger one only when a request needs more.
/// </summary>
internal sealed class SessionPool(TransformerModel model, int slots, int contextLength, GgmlType kvType)
{
    private readonly InferenceSession?[] _sessions = new InferenceSession?[slots];
    private readonly bool[] _inUse = new bool[slots];
    private readonly long[] _lastUsed = new long[slots];
    private long _clock;

    public int Slots => slots;
    public int ContextLength { get; } = contextLength > 0 ? contextLength : Math.Min(model.Config.ContextLength, 4096);
    public int InUse => _inUse.Count(used => used);
    public bool HasFreeSlot => _inUse.Any(used => !used);

    /// <summary>
    /// Takes the idle slot whose session shares the longest prefix with <paramref name="prompt"/> and holds
    /// <paramref name="contextLength"/> tokens (0: the pool's context). A slot whose session is too small, or that has
    /// none yet, gets a new one of just that size, so requests asking for a small context take a small KV cache;
    /// on ties a slot that needs no new cache wins, then the least recently used. A cached prefix counts only when it
    /// was computed with the same <paramref name="adapter"/> (keys and values depend on it).
    /// </summary>
    /// <returns>The slot index and how many leading prompt tokens its cache already holds.</returns>
    public (int Slot, int Reusable) Acquire(IReadOnlyList<int> prompt, int contextLength = 0, LoraWeights? adapter = null)
    {
        int needed = contextLength > 0 ? Math.Min(contextLength, ContextLength) : ContextLength;
        int bestSlot = -1, bestShared = -1;
        bool bestFits = false;
        for (int slot = 0; slot < slots; slot++)
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
        if (bestSlot < 0) throw new InvalidOperationException("no free slot");
        if (!bestFits) _sessions[bestSlot] = new InferenceSession(model, needed, kvType);
        _inUse[bestSlot] = true;
        _lastUsed[bestSlot] = ++_clock;
        return (bestSlot, bestShared);
    }

    /// <summary>The session of a slot that <see cref="Acquire"/> handed out.</summary>
    public InferenceSession Session(int slot) => _sessions[slot] ?? throw new InvalidOperationException($"slot {slot} has not been acquired");

    public void Release(int slot)
    {
        _inUse[slot] = false;
        _lastUsed[slot] = ++_clock;
    }

    /// <summary>The context each slot's session holds (0 for a slot never used), for tests and diagnostics.</summary>
    public int[] SessionContexts() => _sessions.Select(s => s?.ContextLength ?? 0).ToArray();

    /// <summary>Bytes of KV cache one slot takes once created (keys and values, all layers).</summary>
    public static long KvBytesPerSlot(ModelHyperparameters config, int contextLength, GgmlType kvType)
    {
        long perToken = (long)config.BlockCount * config.KvHeadCount * (config.KeyLength + config.ValueLength);
        return perToken * contextLength * (kvType == GgmlType.F32 ? 4 : 2);
    }

    private static int CommonPrefix(IReadOnlyList<int> a, IReadOnlyList<int> b)
    {
        int n = Math.Min(a.Count, b.Count), i = 0;
        while (i < n && a[i] == b[i]) i++;
        return i;
    }
}

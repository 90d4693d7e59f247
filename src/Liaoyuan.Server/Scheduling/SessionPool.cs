using Liaoyuan.Engine.Models;
using Liaoyuan.Operators.Tensors;

namespace Liaoyuan.Server.Scheduling;

/// <summary>
/// The scheduler's sequence slots: a fixed number of <see cref="InferenceSession"/>s whose KV caches outlive the
/// requests that used them, so a new request can start from the idle session sharing the longest prompt prefix
/// (a system prompt, an earlier turn of the same conversation) and skip recomputing it.
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

    /// <summary>Takes the idle session sharing the longest prefix with <paramref name="prompt"/> (least recently used on ties).</summary>
    /// <returns>The slot index and how many leading prompt tokens its cache already holds.</returns>
    public (int Slot, int Reusable) Acquire(IReadOnlyList<int> prompt)
    {
        int bestSlot = -1, bestShared = -1;
        for (int slot = 0; slot < slots; slot++)
        {
            if (_inUse[slot]) continue;
            int shared = _sessions[slot] is { } session ? CommonPrefix(session.Tokens, prompt) : 0;
            if (shared > bestShared || (shared == bestShared && _lastUsed[slot] < _lastUsed[bestSlot]))
            {
                bestSlot = slot;
                bestShared = shared;
            }
        }
        if (bestSlot < 0) throw new InvalidOperationException("no free slot");
        _inUse[bestSlot] = true;
        _lastUsed[bestSlot] = ++_clock;
        return (bestSlot, bestShared);
    }

    public InferenceSession Session(int slot) =>
        _sessions[slot] ??= new InferenceSession(model, ContextLength, kvType);

    public void Release(int slot)
    {
        _inUse[slot] = false;
        _lastUsed[slot] = ++_clock;
    }

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

using Liaoyuan.Operators.Tensors;
using Liaoyuan.Server.Scheduling;

namespace Liaoyuan.Server.Tests;

/// <summary>
/// Slots' KV caches are sized to what their requests ask for, prefixes are reused only where they fit, and the
/// sessions kept never take more than the pool's byte budget.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class SessionPoolTests(ModelFixture models)
{
    [Fact]
    public void A_slot_gets_a_cache_of_the_requested_context_and_a_larger_one_only_when_a_request_needs_more()
    {
        var pool = new SessionPool(models.Reference.Model, slots: 2, contextLength: 256, GgmlType.F16);
        var (small, reused) = pool.TryAcquire([1, 2, 3], contextLength: 32)!.Value;
        Assert.Equal(0, reused);
        Assert.Equal(32, pool.Session(small).ContextLength);
        pool.Session(small).Evaluate([1, 2, 3]);
        pool.Release(small);

        // The cached prefix sits in a cache too small for the next request, which gets a full-size one instead.
        var (full, reusedFull) = pool.TryAcquire([1, 2, 3, 4], contextLength: 0)!.Value;
        Assert.NotEqual(small, full);
        Assert.Equal(0, reusedFull);
        Assert.Equal(256, pool.Session(full).ContextLength);
        pool.Release(full);

        // A small request finds its prefix in the small cache.
        var (again, reusedAgain) = pool.TryAcquire([1, 2, 3, 9], contextLength: 16)!.Value;
        Assert.Equal(small, again);
        Assert.Equal(3, reusedAgain);
        Assert.Equal([32, 256], pool.SessionContexts().Order());
    }

    [Fact]
    public void Kept_sessions_never_exceed_the_budget_and_the_least_recently_used_idle_ones_are_evicted_first()
    {
        var config = models.Reference.Config;
        long full = SessionPool.SessionBytes(config, 256, GgmlType.F16);
        // Eight slots, but room for only 2.5 full-context sessions.
        var pool = new SessionPool(models.Reference.Model, slots: 8, contextLength: 256, GgmlType.F16, budgetBytes: full * 5 / 2);
        var random = new Random(7);
        int[] contexts = [0, 64, 128, 256, 32];
        int[]? previous = null;
        for (int n = 0; n < 40; n++)
        {
            int[] prompt = Enumerable.Range(0, 40 + random.Next(60)).Select(_ => random.Next(1, 200)).ToArray();
            var (slot, reused) = pool.TryAcquire(prompt, contexts[n % contexts.Length])!.Value;
            var session = pool.Session(slot);
            session.TruncateTo(reused);
            session.Evaluate(prompt[reused..Math.Min(prompt.Length, session.ContextLength)]);
            Assert.True(pool.KeptBytes <= pool.BudgetBytes, $"after prompt {n}: {pool.KeptBytes} > {pool.BudgetBytes}");
            Assert.Equal(pool.SessionContexts().Where(c => c > 0).Sum(c => SessionPool.SessionBytes(config, c, GgmlType.F16)), pool.KeptBytes);
            pool.Release(slot);

            // The most recently used session survives the evictions: the previous prompt's prefix is still there.
            if (previous is not null && previous.Length <= 32)
            {
                var (again, reusedAgain) = pool.TryAcquire(previous, 32)!.Value;
                Assert.Equal(previous.Length, reusedAgain);
                pool.Release(again);
            }
            previous = prompt[..Math.Min(prompt.Length, session.ContextLength)];
        }
    }

    [Fact]
    public void When_active_sessions_fill_the_budget_a_new_one_waits_until_one_is_released()
    {
        long full = SessionPool.SessionBytes(models.Reference.Config, 256, GgmlType.F16);
        var pool = new SessionPool(models.Reference.Model, slots: 4, contextLength: 256, GgmlType.F16, budgetBytes: full * 2);
        var (first, _) = pool.TryAcquire([1, 2])!.Value;
        var (second, _) = pool.TryAcquire([3, 4])!.Value;
        Assert.True(pool.HasFreeSlot);
        Assert.Null(pool.TryAcquire([5, 6]));
        pool.Release(first);
        var (third, _) = pool.TryAcquire([5, 6])!.Value;
        Assert.Equal(first, third);
        Assert.Equal(2 * full, pool.KeptBytes);
        Assert.Throws<ArgumentException>(() => new SessionPool(models.Reference.Model, 4, 256, GgmlType.F16, budgetBytes: full - 1));
        pool.Release(second);
    }
}

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
    public void Kept_sessions_never_exceed_the_budget_however_many_distinct_prompts_and_contexts_come()
    {
        var config = models.Reference.Config;
        long full = SessionPool.SessionBytes(config, 256, GgmlType.F16);
        // Eight slots, but room for only 2.5 full-context sessions.
        var pool = new SessionPool(models.Reference.Model, slots: 8, contextLength: 256, GgmlType.F16, budgetBytes: full * 5 / 2);
        var random = new Random(7);
        int[] contexts = [32, 64, 128, 256];
        int refused = 0, evicted = 0;
        for (int n = 0; n < 40; n++)
        {
            // A few sequences at once, so that distinct sessions must exist side by side.
            var held = new List<int>();
            for (int j = 0; j < 1 + random.Next(4); j++)
            {
                int context = contexts[random.Next(contexts.Length)];
                int[] prompt = Enumerable.Range(0, 20 + random.Next(40)).Select(_ => random.Next(1, 200)).ToArray();
                var before = pool.SessionContexts();
                if (pool.TryAcquire(prompt, context) is not var (slot, reused))
                {
                    long active = held.Sum(h => SessionPool.SessionBytes(config, pool.Session(h).ContextLength, GgmlType.F16));
                    Assert.True(active + SessionPool.SessionBytes(config, context, GgmlType.F16) > pool.BudgetBytes, "refused although it fitted");
                    refused++;
                    break;
                }
                var after = pool.SessionContexts();
                evicted += Enumerable.Range(0, pool.Slots).Count(s => s != slot && before[s] > 0 && after[s] == 0);
                held.Add(slot);
                var session = pool.Session(slot);
                session.TruncateTo(reused);
                session.Evaluate(prompt[reused..Math.Min(prompt.Length, session.ContextLength)]);
                Assert.True(pool.KeptBytes <= pool.BudgetBytes, $"round {n}: {pool.KeptBytes} > {pool.BudgetBytes}");
                Assert.Equal(pool.SessionContexts().Where(c => c > 0).Sum(c => SessionPool.SessionBytes(config, c, GgmlType.F16)), pool.KeptBytes);
            }
            foreach (int slot in held) pool.Release(slot);
        }
        Assert.True(evicted > 0, "no idle session was ever evicted: the budget was never put to the test");
        Assert.True(refused > 0, "no request ever had to wait: the budget was never full");
    }

    [Fact]
    public void The_least_recently_used_idle_session_is_evicted_first()
    {
        long full = SessionPool.SessionBytes(models.Reference.Config, 256, GgmlType.F16), half = SessionPool.SessionBytes(models.Reference.Config, 128, GgmlType.F16);
        var pool = new SessionPool(models.Reference.Model, slots: 4, contextLength: 256, GgmlType.F16, budgetBytes: full + 2 * half);
        int[][] prompts = [[10, 11, 12], [20, 21, 22], [30, 31, 32]];
        var slots = prompts.Select(prompt =>
        {
            var (slot, _) = pool.TryAcquire(prompt, 128)!.Value;
            pool.Session(slot).Evaluate(prompt);
            return slot;
        }).ToList();
        foreach (int slot in slots) pool.Release(slot); // the first prompt's session is now the least recently used
        // A full-context session does not fit beside three half-size ones: the oldest (the first prompt's) goes.
        var (big, _) = pool.TryAcquire([40, 41], 256)!.Value;
        Assert.Equal([0, 128, 128, 256], pool.SessionContexts().Order());
        pool.Release(big);
        foreach (var kept in prompts[1..]) Assert.Equal(kept.Length, pool.TryAcquire(kept, 128)!.Value.Reusable);
        Assert.Equal(0, pool.TryAcquire(prompts[0], 128)!.Value.Reusable);
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

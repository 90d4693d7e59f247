using Liaoyuan.Operators.Tensors;
using Liaoyuan.Server.Scheduling;

namespace Liaoyuan.Server.Tests;

/// <summary>Slots' KV caches are sized to what their requests ask for, and prefixes are reused only where they fit.</summary>
[Collection(ServerCollection.Name)]
public sealed class SessionPoolTests(ModelFixture models)
{
    [Fact]
    public void A_slot_gets_a_cache_of_the_requested_context_and_a_larger_one_only_when_a_request_needs_more()
    {
        var pool = new SessionPool(models.Reference.Model, slots: 2, contextLength: 256, GgmlType.F16);
        var (small, reused) = pool.Acquire([1, 2, 3], contextLength: 32);
        Assert.Equal(0, reused);
        Assert.Equal(32, pool.Session(small).ContextLength);
        pool.Session(small).Evaluate([1, 2, 3]);
        pool.Release(small);

        // The cached prefix sits in a cache too small for the next request, which gets a full-size one instead.
        var (full, reusedFull) = pool.Acquire([1, 2, 3, 4], contextLength: 0);
        Assert.NotEqual(small, full);
        Assert.Equal(0, reusedFull);
        Assert.Equal(256, pool.Session(full).ContextLength);
        pool.Release(full);

        // A small request finds its prefix in the small cache.
        var (again, reusedAgain) = pool.Acquire([1, 2, 3, 9], contextLength: 16);
        Assert.Equal(small, again);
        Assert.Equal(3, reusedAgain);
        Assert.Equal([32, 256], pool.SessionContexts().Order());
    }
}

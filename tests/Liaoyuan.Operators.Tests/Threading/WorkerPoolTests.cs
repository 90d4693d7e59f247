using Liaoyuan.Operators.Threading;

namespace Liaoyuan.Operators.Tests.Threading;

public sealed class WorkerPoolTests
{
    private sealed class CountingWork(int count) : IParallelWork
    {
        public readonly int[] Hits = new int[count];
        public void Execute(int index) => Interlocked.Increment(ref Hits[index]);
    }

    private sealed class FailingWork : IParallelWork
    {
        public void Execute(int index)
        {
            if (index == 7) throw new InvalidOperationException("boom at 7");
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    public void EveryIndexRunsExactlyOnceAcrossManyOperations(int threads)
    {
        using var pool = new WorkerPool(threads);
        for (int round = 0; round < 200; round++)
        {
            int count = 1 + round % 37;
            var work = new CountingWork(count);
            pool.Run(work, count);
            Assert.All(work.Hits, hits => Assert.Equal(1, hits));
        }
    }

    [Fact]
    public void AFailureOnAnyThreadReachesTheCallerAndThePoolKeepsWorking()
    {
        using var pool = new WorkerPool(2);
        var error = Record.Exception(() => pool.Run(new FailingWork(), 64));
        Assert.NotNull(error);
        Assert.Contains("boom at 7", error is AggregateException a ? a.InnerException!.Message : error.Message);
        var work = new CountingWork(10);
        pool.Run(work, 10);
        Assert.All(work.Hits, hits => Assert.Equal(1, hits));
    }
}

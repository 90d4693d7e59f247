namespace Liaoyuan.Operators.Threading;

/// <summary>A unit of parallel work: <see cref="Execute"/> runs once for each index in [0, count).</summary>
public interface IParallelWork
{
    void Execute(int index);
}

/// <summary>
/// A persistent pool of worker threads for the kernels. One operation at a time: the caller publishes the work,
/// every thread (the caller included) takes indices from a shared counter until none are left, and the caller
/// waits at a barrier. Workers spin briefly between operations, because a decode step issues hundreds of short
/// operations and waking a sleeping thread costs more than most of them; after that they sleep.
/// Nothing is allocated per operation.
/// </summary>
public sealed class WorkerPool : IDisposable
{
    /// <summary>SpinWait rounds before a worker blocks: the first ten busy-wait, the rest yield the core.</summary>
    private const int SpinRounds = 60;

    private readonly Thread[] _threads;
    private readonly ManualResetEventSlim _wake = new(false);
    private IParallelWork? _work;
    private int _count;
    private int _next;
    private int _pending;
    private long _generation;
    private volatile bool _disposed;
    private Exception? _failure;

    public WorkerPool(int threads)
    {
        Threads = Math.Max(1, threads);
        _threads = new Thread[Threads - 1];
        for (int i = 0; i < _threads.Length; i++)
        {
            _threads[i] = new Thread(WorkerLoop) { IsBackground = true, Name = $"liaoyuan-worker-{i + 1}" };
            _threads[i].Start();
        }
    }

    public int Threads { get; }

    /// <summary>Runs <paramref name="work"/> for indices 0..count-1 on all threads and returns when all are done.</summary>
    public void Run(IParallelWork work, int count)
    {
        if (count <= 0) return;
        if (_threads.Length == 0 || count == 1)
        {
            for (int i = 0; i < count; i++) work.Execute(i);
            return;
        }
        lock (_threads)
        {
            _work = work;
            _count = count;
            _next = 0;
            _failure = null;
            Volatile.Write(ref _pending, _threads.Length);
            Interlocked.Increment(ref _generation);
            _wake.Set();
            try
            {
                Drain(work, count);
            }
            catch (Exception e)
            {
                // Still wait for the workers below: returning early would let the next operation start under them.
                Interlocked.CompareExchange(ref _failure, e, null);
            }
            var spin = new SpinWait();
            while (Volatile.Read(ref _pending) > 0) spin.SpinOnce(sleep1Threshold: -1);
            _wake.Reset();
            _work = null;
            if (_failure is { } failure) throw new AggregateException("a kernel failed on a worker thread", failure);
        }
    }

    private void Drain(IParallelWork work, int count)
    {
        int index;
        while ((index = Interlocked.Increment(ref _next) - 1) < count) work.Execute(index);
    }

    private void WorkerLoop()
    {
        long seen = 0;
        while (true)
        {
            // Yielding spins keep the hand-off fast between the hundreds of operations in a decode step, yet
            // give the core away when the machine is oversubscribed instead of starving the thread we wait for.
            var spinner = new SpinWait();
            while (Volatile.Read(ref _generation) == seen && !_disposed)
            {
                if (spinner.Count < SpinRounds) spinner.SpinOnce(sleep1Threshold: -1);
                else _wake.Wait(20);
            }
            if (_disposed) return;
            seen = Volatile.Read(ref _generation);
            var work = _work;
            try
            {
                if (work is not null) Drain(work, _count);
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref _failure, e, null);
            }
            Interlocked.Decrement(ref _pending);
        }
    }

    public void Dispose()
    {
        _disposed = true;
        _wake.Set();
        foreach (var thread in _threads) thread.Join();
        _wake.Dispose();
    }
}

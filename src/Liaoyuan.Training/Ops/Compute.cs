namespace Liaoyuan.Training.Ops;

/// <summary>
/// Where the training ops run: a thread budget. Every sum runs in a fixed order inside one part of the work, and
/// parts depend only on the problem size (or, where the cut changes no sum, as in the GEMM's tiles, on the thread
/// count too), so a training run gives bit-identical numbers however many threads execute it.
/// </summary>
public sealed class Compute
{
    private readonly ParallelOptions _options;

    public Compute(int threads = 0)
    {
        Threads = threads > 0 ? threads : Environment.ProcessorCount;
        _options = new ParallelOptions { MaxDegreeOfParallelism = Threads };
    }

    public int Threads { get; }

    /// <summary>Runs body(0..count-1), in parallel when there is more than one part and more than one thread.</summary>
    public void For(int count, Action<int> body)
    {
        if (Threads == 1 || count <= 1)
        {
            for (int i = 0; i < count; i++) body(i);
        }
        else
        {
            Parallel.For(0, count, _options, body);
        }
    }

    /// <summary>Runs body(start, end) over [0, n) cut into fixed parts of <paramref name="grain"/> items.</summary>
    public void ForRanges(int n, int grain, Action<int, int> body)
    {
        int parts = (n + grain - 1) / grain;
        For(parts, p => body(p * grain, Math.Min(n, (p + 1) * grain)));
    }
}

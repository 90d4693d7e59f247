using System.Diagnostics;
using System.Numerics;
using System.Runtime.InteropServices;

namespace Liaoyuan.Bench;

/// <summary>Memory read bandwidth, the ceiling on decode speed: every weight is read once per generated token.</summary>
public static class Bandwidth
{
    private const long Bytes = 2L << 30;

    public static void Report()
    {
        var data = Allocate();
        for (int threads = 1; threads <= Environment.ProcessorCount; threads++)
        {
            var rates = Rates(data, threads);
            Console.WriteLine($"read bandwidth, {threads} thread(s): {rates[2]:F1} GB/s (median of 5, {rates[0]:F1}–{rates[4]:F1})");
        }
    }

    /// <summary>Median of five read-bandwidth measurements at <paramref name="threads"/> threads, in GB/s.</summary>
    public static double Measure(int threads) => Rates(Allocate(), threads)[2];

    private static float[] Allocate()
    {
        var data = new float[Bytes / sizeof(float)];
        new Random(1).NextBytes(MemoryMarshal.AsBytes(data.AsSpan(0, 1 << 20)));
        Time(data, Environment.ProcessorCount); // first touch maps the pages; not a bandwidth figure
        return data;
    }

    private static List<double> Rates(float[] data, int threads)
    {
        var rates = new List<double>();
        for (int rep = 0; rep < 5; rep++) rates.Add(Bytes / 1e9 / Time(data, threads));
        rates.Sort();
        return rates;
    }

    private static double Time(float[] data, int threads)
    {
        int chunk = data.Length / threads;
        var watch = Stopwatch.StartNew();
        var sums = new float[threads];
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
        {
            var span = data.AsSpan(t * chunk, chunk);
            var acc = Vector<float>.Zero;
            var vectors = MemoryMarshal.Cast<float, Vector<float>>(span);
            foreach (var v in vectors) acc += v;
            sums[t] = Vector.Sum(acc);
        });
        double seconds = watch.Elapsed.TotalSeconds;
        GC.KeepAlive(sums);
        return seconds;
    }
}

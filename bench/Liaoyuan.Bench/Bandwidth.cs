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

    /// <summary>A buffer for <see cref="Measure"/>, allocated and touched once.</summary>
    public static float[] Buffer() => Allocate();

    /// <summary>Median of five read-bandwidth measurements at <paramref name="threads"/> threads, in GB/s.</summary>
    public static double Measure(float[] buffer, int threads) => Rates(buffer, threads)[2];

    private static float[] Allocate()
    {
        // Every page is written: a page that is only ever read maps the kernel's one shared zero page, and
        // reading 2 GiB of that page measures the cache (this probe once printed 151 GB/s so).
        var data = new float[Bytes / sizeof(float)];
        var random = new Random(1);
        var pattern = new float[1 << 16];
        for (int i = 0; i < pattern.Length; i++) pattern[i] = random.NextSingle();
        for (long offset = 0; offset < data.LongLength; offset += pattern.Length) pattern.CopyTo(data.AsSpan((int)offset));
        Time(data, Environment.ProcessorCount); // warms the threads; not a bandwidth figure
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
            // Eight independent sums: one chain of adds would bound a core at one vector per add latency
            // (~8 bytes a cycle), below what the memory system delivers.
            var vectors = MemoryMarshal.Cast<float, Vector<float>>(data.AsSpan(t * chunk, chunk));
            Vector<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
            int i = 0;
            for (; i + 8 <= vectors.Length; i += 8)
            {
                a0 += vectors[i];
                a1 += vectors[i + 1];
                a2 += vectors[i + 2];
                a3 += vectors[i + 3];
                a4 += vectors[i + 4];
                a5 += vectors[i + 5];
                a6 += vectors[i + 6];
                a7 += vectors[i + 7];
            }
            for (; i < vectors.Length; i++) a0 += vectors[i];
            sums[t] = Vector.Sum(((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)));
        });
        double seconds = watch.Elapsed.TotalSeconds;
        GC.KeepAlive(sums);
        return seconds;
    }
}

using System.Diagnostics;
using System.Runtime.InteropServices;
using Liaoyuan.Operators.Kernels;
using Liaoyuan.Operators.Quantization;
using Liaoyuan.Operators.Tensors;

namespace Liaoyuan.Bench;

/// <summary>
/// One matrix product at a time, per weight type: a decode product (one token) and a prompt batch, on the
/// Qwen2.5-0.5B FFN down shape (896 × 4864). Reports the fastest and the median of many repetitions; the fastest is the figure
/// least disturbed by other processes, which is what comparing two kernel versions on a shared machine needs.
/// </summary>
public static class KernelBench
{
    public static int Run(string[] args)
    {
        int threads = Option(args, "-t", Environment.ProcessorCount), reps = Option(args, "-r", 30);
        int rows = Option(args, "--rows", 896), columns = Option(args, "--cols", 4864), batch = Option(args, "-b", 64);
        string[] types = Value(args, "--types")?.Split(',') ?? ["F16", "Q8_0", "Q4_0", "Q4_K", "Q6_K"];
        using var kernels = new CpuKernels(threads);
        var random = new Random(7);
        Console.WriteLine($"matmul {rows}x{columns}, {threads} thread(s), best / median of {reps}");
        foreach (string name in types)
        {
            var type = Enum.Parse<GgmlType>(name, ignoreCase: true);
            long rowBytes = GgmlTypeInfo.RowBytes(type, columns);
            byte[] data = new byte[rowBytes * rows];
            var values = new float[columns];
            for (int r = 0; r < rows; r++)
            {
                for (int c = 0; c < columns; c++) values[c] = (float)(random.NextDouble() * 2 - 1);
                Quantizer.QuantizeRow(type, values, data.AsSpan((int)(r * rowBytes), (int)rowBytes));
            }
            var x = new float[batch * columns];
            for (int i = 0; i < x.Length; i++) x[i] = (float)(random.NextDouble() * 2 - 1);
            var y = new float[batch * rows];
            // The file's layout and, where the backend makes one, its prepared copy (what the engine runs on).
            foreach ((int tokens, bool prepared) in new[] { (1, false), (batch, false), (1, true), (batch, true) })
            {
                var times = new List<double>();
                string layout = "file";
                unsafe
                {
                    fixed (byte* weights = data)
                    {
                        var matrix = new WeightMatrix(weights, type, rows, columns);
                        if (prepared)
                        {
                            matrix = kernels.Prepare(matrix);
                            if (matrix.Interleaved == null) continue;
                            layout = "interleaved";
                        }
                        // Warm up past tiered compilation (tier 0, then the optimised tier after ~30 calls).
                        var warmUp = Stopwatch.StartNew();
                        for (int call = 0; call < 60 || warmUp.Elapsed.TotalSeconds < 1; call++)
                            kernels.MatMul(matrix, x.AsSpan(0, tokens * columns), y, tokens);
                        for (int rep = 0; rep < reps; rep++)
                        {
                            var watch = Stopwatch.StartNew();
                            kernels.MatMul(matrix, x.AsSpan(0, tokens * columns), y, tokens);
                            times.Add(watch.Elapsed.TotalSeconds);
                        }
                    }
                }
                times.Sort();
                double best = times[0], median = times[times.Count / 2];
                double gmac = (double)rows * columns * tokens / best / 1e9;
                string traffic = tokens == 1 ? $", {data.Length / best / 1e9,6:F1} GB/s" : "";
                Console.WriteLine($"{name,-5} {layout,-11} tokens {tokens,3}: best {best * 1e6,8:F1} µs, median {median * 1e6,8:F1} µs, {gmac,6:F1} GMAC/s{traffic}");
            }
        }
        return 0;
    }

    private static int Option(string[] args, string name, int fallback) =>
        Value(args, name) is { } text ? int.Parse(text) : fallback;

    private static string? Value(string[] args, string name)
    {
        int at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? args[at + 1] : null;
    }
}

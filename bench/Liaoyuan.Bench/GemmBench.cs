using System.Diagnostics;
using System.Globalization;
using Liaoyuan.Training.Ops;

namespace Liaoyuan.Bench;

/// <summary>
/// The training GEMM alone: a linear layer's forward, input-gradient and weight-gradient products at the sizes the
/// train-speed shapes use, in GFLOP/s and as a share of the measured FMA peak (best of the repetitions).
/// </summary>
internal static class GemmBench
{
    public static int Run(string[] args)
    {
        int threads = Environment.ProcessorCount, reps = 5;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "-t": threads = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "-r": reps = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                default: Console.Error.WriteLine($"unknown option '{args[i]}' (-t N, -r R)"); return 2;
            }
        }
        var compute = new Compute(threads);
        double peak = Enumerable.Range(0, 3).Max(_ => TrainSpeed.FmaPeak(threads));
        Console.WriteLine($"FMA peak with {threads} threads: {peak / 1e9:F1} GFLOP/s");
        Console.WriteLine("| rows × in → out | forward | input gradient | weight gradient |");
        Console.WriteLine("| --- | --- | --- | --- |");
        foreach (var (rows, inputs, outputs) in new[] { (4096, 256, 768), (4096, 768, 256), (4096, 384, 1024), (4096, 256, 8192), (1024, 768, 2048) })
        {
            var random = new Random(1);
            float[] Fill(long n) => Enumerable.Range(0, (int)n).Select(_ => (float)random.NextDouble() - 0.5f).ToArray();
            float[] x = Fill((long)rows * inputs), w = Fill((long)outputs * inputs), dy = Fill((long)rows * outputs);
            float[] y = new float[(long)rows * outputs], dx = new float[(long)rows * inputs], dw = new float[(long)outputs * inputs];
            double flops = 2.0 * rows * inputs * outputs;
            string Rate(Action product)
            {
                product();
                double best = double.MaxValue;
                for (int r = 0; r < reps; r++)
                {
                    var clock = Stopwatch.StartNew();
                    product();
                    best = Math.Min(best, clock.Elapsed.TotalSeconds);
                }
                return $"{flops / best / 1e9:F1} GFLOP/s ({flops / best / peak:P0})";
            }
            Console.WriteLine($"| {rows} × {inputs} → {outputs} | {Rate(() => MatMul.Forward(compute, x, w, y, rows, inputs, outputs))} | " +
                $"{Rate(() => MatMul.Backward(compute, x, w, dy, dx, null, rows, inputs, outputs))} | " +
                $"{Rate(() => MatMul.Backward(compute, x, w, dy, null, dw, rows, inputs, outputs))} |");
        }
        return 0;
    }
}

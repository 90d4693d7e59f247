using System.Diagnostics;
using System.Globalization;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Liaoyuan.Training;
using Liaoyuan.Training.Model;

namespace Liaoyuan.Bench;

/// <summary>
/// Training throughput for the shapes of issue 4, with model FLOP utilisation against the machine's FMA peak and
/// the ratio to the PyTorch 2.10 CPU figures measured for GPT-2-style blocks of the same width and depth. Our
/// blocks are llama's (SwiGLU with ffn = 8/3·dim, which has GPT-2's 8·dim² MLP parameters; RMSNorm; RoPE).
/// </summary>
internal static class TrainSpeed
{
    private sealed record Case(string Name, int Layers, int Dim, int Heads, int Vocab, int Batch, int Context, double PyTorchTokensPerSecond);

    private static readonly Case[] Cases =
    [
        new("4L-256-v8k", 4, 256, 4, 8192, 16, 256, 1850),
        new("6L-384-v8k", 6, 384, 6, 8192, 16, 256, 830),
        new("6L-384-v32k", 6, 384, 6, 32768, 16, 256, 470),
        new("12L-768-v50k", 12, 768, 12, 50257, 4, 256, 94),
    ];

    public static int Run(string[] args)
    {
        int threads = 2, steps = 3;
        string? only = null;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "-t": threads = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--steps": steps = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--shape": only = args[++i]; break;
                default: Console.Error.WriteLine($"unknown option '{args[i]}' (-t N, --steps K, --shape NAME)"); return 2;
            }
        }
        var cases = Cases.Where(c => only is null || c.Name == only).ToArray();
        if (cases.Length == 0)
        {
            Console.Error.WriteLine($"unknown shape '{only}' (shapes: {string.Join(", ", Cases.Select(c => c.Name))})");
            return 2;
        }
        // The best of three, as other processes on the machine can only slow a run down.
        double peak = Enumerable.Range(0, 3).Max(_ => FmaPeak(threads));
        Console.WriteLine(FormattableString.Invariant($"FMA peak with {threads} threads: {peak / 1e9:F1} GFLOP/s ({(Avx512F.IsSupported ? "AVX-512" : "AVX2")})"));
        Console.WriteLine("| shape | batch × ctx | tok/s | model GFLOP/s | MFU | PyTorch tok/s | ratio |");
        Console.WriteLine("| --- | --- | --- | --- | --- | --- | --- |");
        foreach (var c in cases)
        {
            var shape = new LlamaShape
            {
                Vocab = c.Vocab,
                Layers = c.Layers,
                Dim = c.Dim,
                Heads = c.Heads,
                KvHeads = c.Heads,
                FeedForward = (8 * c.Dim / 3 + 31) / 32 * 32,
                Context = c.Context,
            };
            var settings = new TrainingSettings { Shape = shape, BatchSize = c.Batch, Steps = steps + 1, LearningRate = 1e-4f };
            var random = new Random(1);
            var data = Enumerable.Range(0, c.Batch * c.Context * (steps + 2) + 1).Select(_ => random.Next(c.Vocab)).ToArray();
            var trainer = new Trainer(settings, data, threads);
            trainer.TrainStep(); // warm-up: JIT, first-touch of buffers
            var clock = Stopwatch.StartNew();
            for (int s = 0; s < steps; s++) trainer.TrainStep();
            double seconds = clock.Elapsed.TotalSeconds;
            double tokensPerSecond = (double)c.Batch * c.Context * steps / seconds;
            double flops = FlopsPerToken(shape) * tokensPerSecond;
            Console.WriteLine(FormattableString.Invariant(
                $"| {c.Name} | {c.Batch} × {c.Context} | {tokensPerSecond:F0} | {flops / 1e9:F1} | {100 * flops / peak:F1}% | {c.PyTorchTokensPerSecond:F0} | {tokensPerSecond / c.PyTorchTokensPerSecond:F2}× |"));
        }
        return 0;
    }

    /// <summary>
    /// Training FLOPs per token as PaLM's appendix counts them: 6 per weight of every matrix product (forward 2,
    /// backward 4; the embedding lookup is not a product) plus 12·layers·ctx·dim for the attention scores and mix.
    /// </summary>
    private static double FlopsPerToken(LlamaShape s)
    {
        double matrices = s.Layers * ((double)s.Dim * (s.QueryWidth + 2 * s.KeyWidth) + (double)s.QueryWidth * s.Dim + 3.0 * s.Dim * s.FeedForward)
            + (double)s.Dim * s.Vocab;
        return 6 * matrices + 12.0 * s.Layers * s.Context * s.Dim;
    }

    /// <summary>Fused multiply-adds per second on independent accumulators in every thread: the arithmetic ceiling.</summary>
    internal static double FmaPeak(int threads)
    {
        const long iterations = 20_000_000;
        double lanes = Avx512F.IsSupported ? 16 : 8;
        var clock = Stopwatch.StartNew();
        var sums = new float[threads];
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t => sums[t] = Avx512F.IsSupported ? Fma512(iterations) : Fma256(iterations));
        double seconds = clock.Elapsed.TotalSeconds;
        if (sums.Any(float.IsNaN)) throw new InvalidOperationException("unexpected NaN");
        // 12 accumulators × lanes × 2 FLOPs per FMA, per iteration and thread. Twelve independent chains cover the
        // FMA latency on cores with two 512-bit FMA pipes (eight capped the measured peak at about 60% there).
        return threads * iterations * 12 * lanes * 2 / seconds;
    }

    private static float Fma512(long iterations)
    {
        var m = Vector512.Create(0.999999f);
        var a = Vector512.Create(1e-7f);
        Vector512<float> s0 = Vector512.Create(1f), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0, s8 = s0, s9 = s0, s10 = s0, s11 = s0;
        for (long i = 0; i < iterations; i++)
        {
            s0 = Avx512F.FusedMultiplyAdd(s0, m, a); s1 = Avx512F.FusedMultiplyAdd(s1, m, a);
            s2 = Avx512F.FusedMultiplyAdd(s2, m, a); s3 = Avx512F.FusedMultiplyAdd(s3, m, a);
            s4 = Avx512F.FusedMultiplyAdd(s4, m, a); s5 = Avx512F.FusedMultiplyAdd(s5, m, a);
            s6 = Avx512F.FusedMultiplyAdd(s6, m, a); s7 = Avx512F.FusedMultiplyAdd(s7, m, a);
            s8 = Avx512F.FusedMultiplyAdd(s8, m, a); s9 = Avx512F.FusedMultiplyAdd(s9, m, a);
            s10 = Avx512F.FusedMultiplyAdd(s10, m, a); s11 = Avx512F.FusedMultiplyAdd(s11, m, a);
        }
        return Vector512.Sum(s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7 + s8 + s9 + s10 + s11);
    }

    private static float Fma256(long iterations)
    {
        var m = Vector256.Create(0.999999f);
        var a = Vector256.Create(1e-7f);
        Vector256<float> s0 = Vector256.Create(1f), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0, s8 = s0, s9 = s0, s10 = s0, s11 = s0;
        for (long i = 0; i < iterations; i++)
        {
            s0 = Fma.MultiplyAdd(s0, m, a); s1 = Fma.MultiplyAdd(s1, m, a);
            s2 = Fma.MultiplyAdd(s2, m, a); s3 = Fma.MultiplyAdd(s3, m, a);
            s4 = Fma.MultiplyAdd(s4, m, a); s5 = Fma.MultiplyAdd(s5, m, a);
            s6 = Fma.MultiplyAdd(s6, m, a); s7 = Fma.MultiplyAdd(s7, m, a);
            s8 = Fma.MultiplyAdd(s8, m, a); s9 = Fma.MultiplyAdd(s9, m, a);
            s10 = Fma.MultiplyAdd(s10, m, a); s11 = Fma.MultiplyAdd(s11, m, a);
        }
        return Vector256.Sum(s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7 + s8 + s9 + s10 + s11);
    }
}

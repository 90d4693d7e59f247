using System.Diagnostics;
using System.Globalization;
using Liaoyuan.Engine.Models;
using Liaoyuan.Operators.Kernels;
using Liaoyuan.Operators.Tensors;
using LLama;
using LLama.Common;
using LLama.Native;

namespace Liaoyuan.Bench;

/// <summary>
/// Liaoyuan and llama.cpp on the same GGUF file and thread count, runs alternating so drift and noise hit both
/// alike; prints the median and spread of each and the ratio.
/// </summary>
public static class SideBySide
{
    public static int Run(string[] args)
    {
        string path = args[0];
        int threads = Option(args, "-t", 2), reps = Option(args, "-r", 5), promptTokens = Option(args, "-p", 512), genTokens = Option(args, "-n", 128);
        var random = new Random(1);

        using var ours = ModelLoader.Load(path, new CpuKernels(threads));
        var session = new InferenceSession(ours.Model, promptTokens + genTokens + 1, GgmlType.F16);
        int[] tokens = Enumerable.Range(0, Math.Max(promptTokens, genTokens)).Select(_ => random.Next(ours.Config.VocabSize)).ToArray();

        NativeApi.llama_empty_call();
        var parameters = new ModelParams(path)
        {
            ContextSize = (uint)(promptTokens + genTokens + 1),
            BatchSize = (uint)promptTokens,
            UBatchSize = (uint)promptTokens,
            Threads = threads,
            BatchThreads = threads,
            GpuLayerCount = 0,
        };
        using var weights = LLamaWeights.LoadFromFile(parameters);
        using var context = weights.CreateContext(parameters);

        var tests = new List<(string Name, int Tokens, Action Ours, Action Theirs)>();
        if (promptTokens > 0)
            tests.Add(($"pp{promptTokens}", promptTokens,
                () => { session.Reset(); session.Evaluate(tokens.AsSpan(0, promptTokens)); },
                () => LlamaDecode(context, tokens, promptTokens, batch: true)));
        if (genTokens > 0)
            tests.Add(($"tg{genTokens}", genTokens,
                () => { session.Reset(); for (int i = 0; i < genTokens; i++) session.Evaluate(tokens.AsSpan(i, 1)); },
                () => LlamaDecode(context, tokens, genTokens, batch: false)));

        Console.WriteLine($"model {Path.GetFileName(path)}, {threads} threads, {reps} alternating repetitions");
        // The machine's bandwidth drifts with its neighbours: it is measured before every decode repetition, and
        // each engine's rate is compared with the limit of its own moment.
        float[] bandwidthBuffer = Bandwidth.Buffer();
        bool tied = ours.File.FindTensor("output.weight") is null;
        long bytesPerToken = ours.File.Tensors.Where(t => tied || t.Name != "token_embd.weight").Sum(t => t.ByteSize);
        var bandwidths = new List<double>();
        var oursShare = new List<double>();
        var theirShare = new List<double>();
        foreach (var test in tests)
        {
            bool decode = test.Name.StartsWith("tg", StringComparison.Ordinal);
            test.Ours(); test.Theirs(); // warm-up
            var oursRates = new List<double>();
            var theirRates = new List<double>();
            for (int r = 0; r < reps; r++)
            {
                double limit = 0;
                if (decode)
                {
                    bandwidths.Add(Bandwidth.Measure(bandwidthBuffer, threads));
                    limit = bandwidths[^1] * 1e9 / bytesPerToken;
                }
                oursRates.Add(test.Tokens / Time(test.Ours));
                theirRates.Add(test.Tokens / Time(test.Theirs));
                if (decode)
                {
                    oursShare.Add(oursRates[^1] / limit);
                    theirShare.Add(theirRates[^1] / limit);
                }
            }
            double a = Median(oursRates), b = Median(theirRates);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{test.Name,-6} liaoyuan {a,8:F2} t/s [{oursRates.Min():F2}–{oursRates.Max():F2}]   llama.cpp {b,8:F2} t/s [{theirRates.Min():F2}–{theirRates.Max():F2}]   ratio {a / b:F2}x"));
        }
        if (bandwidths.Count > 0)
        {
            double bandwidth = Median(bandwidths);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"decode limit {bandwidth * 1e9 / bytesPerToken:F1} t/s (read bandwidth {bandwidth:F1} GB/s [{bandwidths.Min():F1}–{bandwidths.Max():F1}] at {threads} threads, measured before each repetition / {bytesPerToken / 1e6:F0} MB per token): liaoyuan {Median(oursShare):P0}, llama.cpp {Median(theirShare):P0} of the limit"));
        }
        return 0;
    }

    private static void LlamaDecode(LLamaContext context, int[] tokens, int count, bool batch)
    {
        context.NativeHandle.MemoryClear(true);
        var b = new LLamaBatch();
        if (batch)
        {
            for (int i = 0; i < count; i++) b.Add((LLamaToken)tokens[i], i, LLamaSeqId.Zero, i == count - 1);
            Check(context.NativeHandle.Decode(b));
            return;
        }
        for (int i = 0; i < count; i++)
        {
            b.Clear();
            b.Add((LLamaToken)tokens[i], i, LLamaSeqId.Zero, true);
            Check(context.NativeHandle.Decode(b));
        }
    }

    private static void Check(DecodeResult result)
    {
        if (result != DecodeResult.Ok) throw new InvalidOperationException($"llama.cpp decode failed: {result}");
    }

    private static double Time(Action action)
    {
        var watch = Stopwatch.StartNew();
        action();
        return watch.Elapsed.TotalSeconds;
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    }

    private static int Option(string[] args, string name, int fallback)
    {
        int at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? int.Parse(args[at + 1], CultureInfo.InvariantCulture) : fallback;
    }
}

using System.Diagnostics;
using System.Globalization;
using Liaoyuan.Engine.Generation;
using Liaoyuan.Engine.Models;
using Liaoyuan.Operators.Kernels;
using Spectre.Console;

namespace Liaoyuan.Bench;

/// <summary>
/// One server decode step without HTTP: n sequences advance one token in one batched forward pass, then each
/// samples with OpenAI's defaults (temperature 0.8, no top-k/top-p cut) as the scheduler does. Separates the pass
/// (matrix products, attention) from the serial sampling, per batch size, to see where continuous batching stops scaling.
/// </summary>
public static class StepBench
{
    private const string Usage = "usage: step MODEL [-t THREADS] [--sequences 1,2,4,8] [--steps 16] [--prompt 32]";

    public static int Run(string[] args)
    {
        if (args.Length == 0 || args[0].StartsWith("--", StringComparison.Ordinal))
        {
            Console.Error.WriteLine(Usage);
            return 2;
        }
        int threads = Number(args, "-t", 0), steps = Number(args, "--steps", 16), promptLength = Number(args, "--prompt", 32);
        int[] counts = (Text(args, "--sequences") ?? "1,2,4,8").Split(',').Select(c => int.Parse(c, CultureInfo.InvariantCulture)).ToArray();
        using var model = ModelLoader.Load(args[0], new CpuKernels(threads));
        var table = new Table().AddColumns("sequences", "pass ms/step", "sampling ms/step", "aggregate t/s", "vs 1 sequence");
        double? single = null;
        foreach (int n in counts)
        {
            var (pass, sampling) = AnsiConsole.Status().Start($"{n} sequences, {steps} steps...", _ => Measure(model, n, steps, promptLength));
            double rate = n * 1000 / (pass + sampling);
            single ??= n == 1 ? rate : null;
            table.AddRow(n.ToString(CultureInfo.InvariantCulture), F(pass), F(sampling), F(rate), single is { } one ? $"{rate / one:F2}x" : "-");
        }
        AnsiConsole.Write(table);
        return 0;
    }

    /// <summary>Milliseconds per step in the forward pass and in sampling, after a prefill and a warm-up step.</summary>
    private static (double Pass, double Sampling) Measure(LoadedModel model, int n, int steps, int promptLength)
    {
        var evaluator = new BatchEvaluator(model.Model, n * Math.Max(promptLength, 1));
        var sessions = Enumerable.Range(0, n).Select(_ => new InferenceSession(model.Model, promptLength + steps + 8)).ToList();
        var scratch = new SamplerScratch();
        var samplers = Enumerable.Range(0, n)
            .Select(s => new Sampler(new SamplingOptions { Temperature = 0.8f, TopK = 0, TopP = 1, MinP = 0, Seed = (ulong)s + 1 }, scratch)).ToList();
        var histories = Enumerable.Range(0, n).Select(_ => new List<int>()).ToList();
        int vocab = model.Config.VocabSize;
        evaluator.Evaluate(sessions, Enumerable.Range(0, n).Select(s => Enumerable.Range(0, promptLength).Select(i => (s * 131 + i * 17) % vocab).ToArray()).ToList());
        var next = new List<int[]>();
        double pass = 0, sampling = 0;
        for (int step = -1; step < steps; step++)
        {
            long start = Stopwatch.GetTimestamp();
            next.Clear();
            for (int s = 0; s < n; s++)
            {
                int token = samplers[s].Sample(sessions[s].LastLogits, histories[s]);
                histories[s].Add(token);
                next.Add([token]);
            }
            long sampled = Stopwatch.GetTimestamp();
            evaluator.Evaluate(sessions, next);
            if (step < 0) continue; // warm-up
            sampling += Stopwatch.GetElapsedTime(start, sampled).TotalMilliseconds;
            pass += Stopwatch.GetElapsedTime(sampled).TotalMilliseconds;
        }
        return (pass / steps, sampling / steps);
    }

    private static string F(double value) => value.ToString("F1", CultureInfo.InvariantCulture);

    private static string? Text(string[] args, string name)
    {
        int at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? args[at + 1] : null;
    }

    private static int Number(string[] args, string name, int fallback) =>
        Text(args, name) is { } text ? int.Parse(text, CultureInfo.InvariantCulture) : fallback;
}

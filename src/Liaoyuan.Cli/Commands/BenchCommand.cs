using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Liaoyuan.Engine.Gguf;
using Liaoyuan.Engine.Models;
using Liaoyuan.Engine.Quantization;
using Liaoyuan.Operators.Kernels;
using Liaoyuan.Operators.Tensors;

namespace Liaoyuan.Cli.Commands;

/// <summary>
/// `liaoyuan bench MODEL`: prompt processing (pp) and token generation (tg) speed, measured as llama-bench
/// measures them — pp evaluates N tokens in one batch from an empty cache, tg decodes N tokens one at a time.
/// </summary>
internal static class BenchCommand
{
    public sealed record BenchResult(string Test, int Threads, double AvgTs, double StddevTs, int Repetitions, string Model, string Type);

    public static Command Create(Terminal terminal)
    {
        var model = new Argument<string>("model") { Description = "Path to a GGUF model" };
        var prompt = new Option<int>("-p", "--n-prompt") { Description = "Prompt tokens for the pp test (0 to skip)", DefaultValueFactory = _ => 512 };
        var generate = new Option<int>("-n", "--n-gen") { Description = "Generated tokens for the tg test (0 to skip)", DefaultValueFactory = _ => 128 };
        var threads = new Option<int>("-t", "--threads") { Description = "Worker threads (default: all cores)" };
        var repetitions = new Option<int>("-r", "--repetitions") { Description = "Repetitions of each test", DefaultValueFactory = _ => 5 };
        var json = new Option<bool>("--json") { Description = "Print one JSON object per test, like llama-bench -o jsonl" };
        var command = new Command("bench", "Measure prompt-processing and generation speed (tokens/s)")
        {
            model, prompt, generate, threads, repetitions, json,
        };
        command.SetAction(parse =>
        {
            string path = ModelLocator.Resolve(parse.GetValue(model));
            int p = parse.GetValue(prompt), n = parse.GetValue(generate), reps = parse.GetValue(repetitions);
            int t = parse.GetValue(threads);
            if (p < 0 || n < 0 || reps <= 0 || t < 0) throw new UserInputException("-p, -n and -t must be ≥ 0 and -r > 0");
            using var loaded = ModelLoader.Load(path, new CpuKernels(t));
            var kernels = loaded.Model.Kernels;
            var session = new InferenceSession(loaded.Model, Math.Max(p, n) + 1, GgmlType.F16);
            // The file's own quantization name (Q4_K_M), as llama-bench prints it; else the first FFN matrix's type.
            string type = loaded.File.GetIntegerOrNull("general.file_type") is { } fileType && Enum.IsDefined((LlamaFileType)fileType)
                ? ((LlamaFileType)fileType).ToString().Replace("Mostly", "", StringComparison.Ordinal)
                : loaded.File.Tensors.FirstOrDefault(x => x.Name == "blk.0.ffn_down.weight")?.Type.ToString() ?? "?";
            var random = new Random(1);
            int[] tokens = Enumerable.Range(0, Math.Max(p, n)).Select(_ => random.Next(loaded.Config.VocabSize)).ToArray();
            var results = new List<BenchResult>();

            // One untimed warm-up so the JIT and page cache do not count, as llama-bench does.
            session.Reset();
            session.Evaluate(tokens.AsSpan(0, Math.Min(16, tokens.Length)));
            if (p > 0) results.Add(Measure($"pp{p}", reps, () => { session.Reset(); session.Evaluate(tokens.AsSpan(0, p)); }, p));
            if (n > 0)
            {
                results.Add(Measure($"tg{n}", reps, () =>
                {
                    session.Reset();
                    for (int i = 0; i < n; i++) session.Evaluate(tokens.AsSpan(i, 1));
                }, n));
            }
            foreach (var r in results)
            {
                var result = r with { Threads = kernels.Threads, Model = Path.GetFileName(path), Type = type };
                if (parse.GetValue(json))
                {
                    terminal.Out.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
                    {
                        ["model"] = result.Model,
                        ["type"] = result.Type,
                        ["test"] = result.Test,
                        ["threads"] = result.Threads,
                        ["avg_ts"] = Math.Round(result.AvgTs, 3),
                        ["stddev_ts"] = Math.Round(result.StddevTs, 3),
                        ["repetitions"] = result.Repetitions,
                    }));
                }
                else
                {
                    terminal.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{result.Model,-28} {result.Type,-6} threads {result.Threads,2}  {result.Test,-6} {result.AvgTs,9:F2} ± {result.StddevTs:F2} t/s"));
                }
            }
            return 0;
        });
        return command;
    }

    private static BenchResult Measure(string test, int repetitions, Action run, int tokens)
    {
        var rates = new double[repetitions];
        for (int i = 0; i < repetitions; i++)
        {
            var watch = Stopwatch.StartNew();
            run();
            rates[i] = tokens / watch.Elapsed.TotalSeconds;
        }
        double mean = rates.Average();
        double stddev = repetitions > 1 ? Math.Sqrt(rates.Sum(r => (r - mean) * (r - mean)) / (repetitions - 1)) : 0;
        return new BenchResult(test, 0, mean, stddev, repetitions, "", "");
    }
}

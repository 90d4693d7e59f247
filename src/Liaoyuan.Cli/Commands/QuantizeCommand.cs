using System.CommandLine;
using System.Globalization;
using Liaoyuan.Engine.Quantization;
using Spectre.Console;

namespace Liaoyuan.Cli.Commands;

/// <summary>`liaoyuan quantize IN OUT TYPE`: a quantized copy of a model, as llama-quantize writes it.</summary>
internal static class QuantizeCommand
{
    public static Command Create(Terminal terminal)
    {
        var input = new Argument<string>("input") { Description = "GGUF model to quantize (F32, F16, BF16 or already quantized)" };
        var output = new Argument<string>("output") { Description = "Path of the quantized GGUF to write" };
        var type = new Argument<string>("type") { Description = $"Target: {QuantizationTarget.ValidNames}" };
        var threads = new Option<int>("--threads", "-t") { Description = "Worker threads (default: all cores)" };
        var command = new Command("quantize", "Write a quantized copy of a GGUF model, tensor for tensor as llama.cpp's quantizer does")
        {
            input, output, type, threads,
        };
        command.SetAction((parse, cancel) =>
        {
            string inPath = parse.GetValue(input)!, outPath = parse.GetValue(output)!, typeName = parse.GetValue(type)!;
            var target = QuantizationTarget.Find(typeName)
                ?? throw new UserInputException($"unknown quantization type '{typeName}'; valid types: {QuantizationTarget.ValidNames}");
            int threadCount = parse.GetValue(threads);
            if (threadCount < 0) throw new UserInputException($"--threads must be ≥ 0, got {threadCount}");
            if (!File.Exists(inPath)) throw new UserInputException($"{inPath}: no such file");
            if (Directory.Exists(outPath)) throw new UserInputException($"{outPath} is a directory; give a file path");

            QuantizationSummary summary;
            try
            {
                summary = UseProgressBar(terminal)
                    ? WithProgressBar(bar => ModelQuantizer.Quantize(inPath, outPath, target, threadCount, bar, cancel))
                    : ModelQuantizer.Quantize(inPath, outPath, target, threadCount, p => terminal.Error.WriteLine(Line(p)), cancel);
            }
            catch (QuantizationException e)
            {
                throw new UserInputException(e.Message);
            }
            var o = terminal.Out;
            o.WriteLine($"quantized {inPath} -> {outPath} ({target.Name}, general.file_type {(uint)target.FileType})");
            o.WriteLine($"tensors: {summary.Tensors.Count} ({summary.Converted} converted, {summary.FellBack} fell back to a 32-block type)");
            o.WriteLine($"size: {Mib(summary.InputBytes)} -> {Mib(summary.OutputBytes)} ({Ratio(summary)})");
            o.WriteLine($"time: {summary.Elapsed.TotalSeconds.ToString("F2", CultureInfo.InvariantCulture)} s");
            if (summary.Requantized)
                terminal.Error.WriteLine("warning: some tensors were already quantized and were requantized; quality is lower than quantizing the original weights");
            return Task.FromResult(0);
        });
        return command;
    }

    /// <summary>A live bar only for a real, interactive stderr; tests and pipes get one plain line per tensor.</summary>
    private static bool UseProgressBar(Terminal terminal) =>
        ReferenceEquals(terminal.Error, Console.Error) && !Console.IsErrorRedirected;

    private static QuantizationSummary WithProgressBar(Func<Action<TensorProgress>, QuantizationSummary> run)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        return console.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .Start(context =>
            {
                var task = context.AddTask("quantizing", maxValue: 1);
                return run(p =>
                {
                    task.MaxValue = p.Count;
                    task.Value = p.Index;
                    task.Description = Markup.Escape($"{p.Tensor.Name} → {p.Tensor.Type}");
                });
            });
    }

    private static string Line(TensorProgress p)
    {
        var t = p.Tensor;
        string width = p.Count.ToString(CultureInfo.InvariantCulture);
        string index = p.Index.ToString(CultureInfo.InvariantCulture).PadLeft(width.Length);
        string change = t.Converts ? $"{t.Source.Type} -> {t.Type}{(t.FellBack ? " (fallback)" : "")}" : $"{t.Type} (kept)";
        return $"[{index}/{width}] {t.Name} [{string.Join(", ", t.Shape)}] {change}, {Mib(t.OutputBytes)}";
    }

    private static string Mib(long bytes) =>
        (bytes / 1048576.0).ToString("F2", CultureInfo.InvariantCulture) + " MiB";

    private static string Ratio(QuantizationSummary s) =>
        s.InputBytes == 0 ? "-" : (100.0 * s.OutputBytes / s.InputBytes).ToString("F1", CultureInfo.InvariantCulture) + "% of the input";
}

using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Liaoyuan.Operators.Tensors;
using Liaoyuan.Training;
using Liaoyuan.Training.Data;
using Liaoyuan.Training.Export;
using Liaoyuan.Training.Reporting;
using Spectre.Console;

namespace Liaoyuan.Cli.Commands;

/// <summary>
/// `liaoyuan train [CONFIG] --data FILES (--vocab N | --tokenizer T) ...`: trains a llama model from scratch with
/// live progress, periodic held-out loss and checkpoints, then writes the model as GGUF with its tokenizer and the
/// loss curve as SVG. `--resume` continues the run in the checkpoint exactly where it stopped.
/// </summary>
internal static class TrainCommand
{
    public static Command Create(Terminal terminal)
    {
        var options = new TrainOptions();
        var command = new Command("train", "Train a llama-architecture model on text and write it as GGUF");
        options.AddTo(command);
        command.SetAction((parse, cancel) => Task.FromResult(Run(options.Read(parse), terminal, cancel)));
        return command;
    }

    private static int Run(TrainPlan plan, Terminal terminal, CancellationToken cancel)
    {
        var log = terminal.Error;
        bool resuming = plan.Resume && File.Exists(plan.CheckpointPath);
        if (plan.Resume && !resuming) throw new UserInputException($"{plan.CheckpointPath}: no checkpoint to resume");

        using var prepared = plan.DataFiles.Length == 1 && PreparedData.IsPrepared(plan.DataFiles[0]) ? PreparedData.Open(plan.DataFiles[0]) : null;
        var (tokenizer, train, heldOut) = prepared is not null ? (prepared.Tokenizer, prepared.Train, prepared.HeldOut) : ReadText(plan, resuming, log);
        var settings = plan.Settings with { Shape = plan.Settings.Shape with { Vocab = tokenizer.VocabSize } };
        log.WriteLine($"data: {train.Length:N0} training tokens, {heldOut.Length:N0} held out; vocabulary {tokenizer.VocabSize:N0}");

        Trainer trainer;
        if (resuming)
        {
            trainer = Trainer.Resume(plan.CheckpointPath, train, plan.Threads);
            log.WriteLine($"resumed {plan.CheckpointPath} at step {trainer.Step}/{trainer.Settings.Steps}");
        }
        else
        {
            trainer = new Trainer(settings, train, plan.Threads);
            tokenizer.Save(plan.TokenizerCopyPath);
        }
        var s = trainer.Settings.Shape;
        log.WriteLine($"model: {s.Layers} layers, dim {s.Dim}, {s.Heads} heads ({s.KvHeads} kv), ffn {s.FeedForward}, ctx {s.Context}: {trainer.Model.ParameterCount:N0} parameters");

        bool live = ReferenceEquals(terminal.Error, Console.Error) && !Console.IsErrorRedirected && AnsiConsole.Profile.Capabilities.Interactive;
        try
        {
            if (live) TrainWithProgressBar(trainer, plan, heldOut, cancel);
            else TrainWithLogLines(trainer, plan, heldOut, log, cancel);
        }
        catch (OperationCanceledException)
        {
            trainer.SaveCheckpoint(plan.CheckpointPath);
            log.WriteLine($"interrupted at step {trainer.Step}; checkpoint saved to {plan.CheckpointPath} (continue with --resume)");
            throw;
        }

        trainer.SaveCheckpoint(plan.CheckpointPath);
        GgufExport.Write(plan.Output, trainer.Model, tokenizer.WriteTo, plan.F16 ? GgmlType.F16 : GgmlType.F32, Path.GetFileNameWithoutExtension(plan.Output));
        File.WriteAllText(plan.ChartPath, LossChart.Svg(trainer.TrainLosses, trainer.Evaluations, $"{Path.GetFileName(plan.Output)}: loss"));
        terminal.Out.WriteLine($"model: {plan.Output}");
        terminal.Out.WriteLine($"loss curve: {plan.ChartPath}");
        return 0;
    }

    /// <summary>Reads and tokenizes text files, training the tokenizer first when asked to, and holds out the tail.</summary>
    private static (TrainingTokenizer, TokenSource, TokenSource) ReadText(TrainPlan plan, bool resuming, TextWriter log)
    {
        var documents = TextCorpus.ReadDocuments(plan.DataFiles).ToList();
        TrainingTokenizer tokenizer;
        if (resuming && File.Exists(plan.TokenizerCopyPath)) tokenizer = TrainingTokenizer.Load(plan.TokenizerCopyPath);
        else if (plan.TokenizerPath is { } path) tokenizer = TrainingTokenizer.Load(path);
        else
        {
            log.WriteLine($"training a {plan.Vocab}-token byte-level BPE tokenizer");
            tokenizer = TrainingTokenizer.Train(documents, plan.Vocab ?? 0);
        }
        var tokens = TextCorpus.Tokenize(tokenizer.Tokenizer, documents);
        var (train, heldOut) = TextCorpus.Split(tokens, plan.HeldOutFraction, plan.Settings.Shape.Context, plan.Settings.BatchSize);
        return (tokenizer, train, heldOut);
    }

    /// <summary>Runs the steps, calling <paramref name="report"/> after each and doing evaluations and checkpoints on schedule.</summary>
    private static void Loop(Trainer trainer, TrainPlan plan, TokenSource heldOut, CancellationToken cancel,
        Action<StepReport, double, TimeSpan> report, Action<long, double> evaluated)
    {
        var clock = Stopwatch.StartNew();
        long firstStep = trainer.Step;
        var shape = trainer.Settings.Shape;
        bool evaluate = heldOut.Length > 0 && (heldOut.Length - 1) / shape.Context >= trainer.Settings.BatchSize;
        while (!trainer.Finished)
        {
            cancel.ThrowIfCancellationRequested();
            var step = trainer.TrainStep();
            double seconds = clock.Elapsed.TotalSeconds;
            long done = step.Step - firstStep;
            double tokensPerSecond = done * trainer.TokensPerStep / Math.Max(seconds, 1e-9);
            var eta = TimeSpan.FromSeconds(seconds / done * (trainer.Settings.Steps - step.Step));
            report(step, tokensPerSecond, eta);
            if (evaluate && (step.Step % plan.EvalEvery == 0 || trainer.Finished))
                evaluated(step.Step, trainer.Evaluate(heldOut, plan.EvalBatches));
            if (step.Step % plan.CheckpointEvery == 0) trainer.SaveCheckpoint(plan.CheckpointPath);
        }
    }

    private static void TrainWithLogLines(Trainer trainer, TrainPlan plan, TokenSource heldOut, TextWriter log, CancellationToken cancel) =>
        Loop(trainer, plan, heldOut, cancel,
            (step, tps, eta) => log.WriteLine(FormattableString.Invariant(
                $"step {step.Step}/{trainer.Settings.Steps} loss {step.Loss:F4} lr {step.LearningRate:E2} grad-norm {step.GradientNorm:F3} {tps:F0} tok/s eta {eta:hh\\:mm\\:ss}")),
            (step, loss) => log.WriteLine(FormattableString.Invariant($"step {step} held-out loss {loss:F4}")));

    private static void TrainWithProgressBar(Trainer trainer, TrainPlan plan, TokenSource heldOut, CancellationToken cancel)
    {
        AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(context =>
            {
                var task = context.AddTask("starting", maxValue: trainer.Settings.Steps);
                task.Value = trainer.Step;
                Loop(trainer, plan, heldOut, cancel,
                    (step, tps, eta) =>
                    {
                        task.Description = string.Create(CultureInfo.InvariantCulture,
                            $"step {step.Step}/{trainer.Settings.Steps}  loss {step.Loss:F4}  {tps:F0} tok/s  eta {eta:hh\\:mm\\:ss}");
                        task.Value = step.Step;
                    },
                    (step, loss) => AnsiConsole.MarkupLine(string.Create(CultureInfo.InvariantCulture, $"[grey]step {step}[/] held-out loss [bold]{loss:F4}[/]")));
            });
    }
}

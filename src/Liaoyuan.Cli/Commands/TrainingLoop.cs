using System.Diagnostics;
using System.Globalization;
using Liaoyuan.Training;
using Spectre.Console;

namespace Liaoyuan.Cli.Commands;

/// <summary>When a run evaluates and checkpoints; <c>Evaluate</c> is null when there is no held-out data.</summary>
internal sealed record LoopSchedule(int EvalEvery, int CheckpointEvery, string CheckpointPath, Func<double>? Evaluate);

/// <summary>
/// The step loop shared by `train` and `finetune`: a live progress bar on an interactive terminal (log lines
/// otherwise) with step, loss, tokens/s and ETA, held-out loss and checkpoints on schedule, and a checkpoint on
/// Ctrl+C so that --resume continues where the run stopped.
/// </summary>
internal static class TrainingLoop
{
    public static void Run(Trainer trainer, LoopSchedule schedule, Terminal terminal, CancellationToken cancel)
    {
        var log = terminal.Error;
        bool live = ReferenceEquals(terminal.Error, Console.Error) && !Console.IsErrorRedirected && AnsiConsole.Profile.Capabilities.Interactive;
        try
        {
            if (live) WithProgressBar(trainer, schedule, cancel);
            else WithLogLines(trainer, schedule, log, cancel);
        }
        catch (OperationCanceledException)
        {
            trainer.SaveCheckpoint(schedule.CheckpointPath);
            log.WriteLine($"interrupted at step {trainer.Step}; checkpoint saved to {schedule.CheckpointPath} (continue with --resume)");
            throw;
        }
        trainer.SaveCheckpoint(schedule.CheckpointPath);
    }

    /// <summary>Runs the steps, calling <paramref name="report"/> after each and doing evaluations and checkpoints on schedule.</summary>
    private static void Loop(Trainer trainer, LoopSchedule schedule, CancellationToken cancel,
        Action<StepReport, double, TimeSpan> report, Action<long, double> evaluated)
    {
        var clock = Stopwatch.StartNew();
        long firstStep = trainer.Step;
        while (!trainer.Finished)
        {
            cancel.ThrowIfCancellationRequested();
            var step = trainer.TrainStep();
            double seconds = clock.Elapsed.TotalSeconds;
            long done = step.Step - firstStep;
            double tokensPerSecond = done * trainer.TokensPerStep / Math.Max(seconds, 1e-9);
            var eta = TimeSpan.FromSeconds(seconds / done * (trainer.Settings.Steps - step.Step));
            report(step, tokensPerSecond, eta);
            if (schedule.Evaluate is { } evaluate && (step.Step % schedule.EvalEvery == 0 || trainer.Finished))
                evaluated(step.Step, evaluate());
            if (step.Step % schedule.CheckpointEvery == 0) trainer.SaveCheckpoint(schedule.CheckpointPath);
        }
    }

    private static void WithLogLines(Trainer trainer, LoopSchedule schedule, TextWriter log, CancellationToken cancel) =>
        Loop(trainer, schedule, cancel,
            (step, tps, eta) => log.WriteLine(FormattableString.Invariant(
                $"step {step.Step}/{trainer.Settings.Steps} loss {step.Loss:F4} lr {step.LearningRate:E2} grad-norm {step.GradientNorm:F3} {tps:F0} tok/s eta {eta:hh\\:mm\\:ss}")),
            (step, loss) => log.WriteLine(FormattableString.Invariant($"step {step} held-out loss {loss:F4}")));

    private static void WithProgressBar(Trainer trainer, LoopSchedule schedule, CancellationToken cancel)
    {
        AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(context =>
            {
                var task = context.AddTask("starting", maxValue: trainer.Settings.Steps);
                task.Value = trainer.Step;
                Loop(trainer, schedule, cancel,
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

using System.CommandLine;
using Liaoyuan.Operators.Tensors;
using Liaoyuan.Training;
using Liaoyuan.Training.Data;
using Liaoyuan.Training.Export;
using Liaoyuan.Training.Reporting;

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

        bool evaluable = heldOut.Length > 0 && (heldOut.Length - 1) / s.Context >= trainer.Settings.BatchSize;
        TrainingLoop.Run(trainer, new LoopSchedule(plan.EvalEvery, plan.CheckpointEvery, plan.CheckpointPath,
            evaluable ? () => trainer.Evaluate(heldOut, plan.EvalBatches) : null), terminal, cancel);

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
}

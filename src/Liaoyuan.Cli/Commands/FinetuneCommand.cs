using System.CommandLine;
using System.Globalization;
using Liaoyuan.Engine.Gguf;
using Liaoyuan.Engine.Models;
using Liaoyuan.Engine.Templates;
using Liaoyuan.Engine.Tokenization;
using Liaoyuan.Operators.Tensors;
using Liaoyuan.Training;
using Liaoyuan.Training.Data;
using Liaoyuan.Training.Export;
using Liaoyuan.Training.Model;
using Liaoyuan.Training.Optimization;
using Liaoyuan.Training.Reporting;

namespace Liaoyuan.Cli.Commands;

/// <summary>
/// `liaoyuan finetune --model BASE.gguf --data chat.jsonl --out OUT.gguf`: trains a model on conversations through
/// its chat template, scoring only the assistant's tokens. Full fine-tuning writes the whole model; with LoRA it
/// writes a llama.cpp adapter, or with --merge the base with the adapter folded in.
/// </summary>
internal static class FinetuneCommand
{
    private const int LongestDefaultContext = 1024;

    public static Command Create(Terminal terminal)
    {
        var options = new FinetuneOptions();
        var command = new Command("finetune", "Fine-tune a model on chat conversations (full or LoRA), loss on assistant tokens only");
        options.AddTo(command);
        command.SetAction((parse, cancel) => Task.FromResult(Run(options.Read(parse), terminal, cancel)));
        return command;
    }

    private static int Run(FinetunePlan plan, Terminal terminal, CancellationToken cancel)
    {
        var log = terminal.Error;
        bool resuming = plan.Resume && File.Exists(plan.CheckpointPath);
        if (plan.Resume && !resuming) throw new UserInputException($"{plan.CheckpointPath}: no checkpoint to resume");
        if (!File.Exists(plan.ModelPath)) throw new UserInputException($"{plan.ModelPath}: no such file");
        using var baseFile = GgufFile.Open(plan.ModelPath);
        PretrainedModel.ReadShape(baseFile, 1); // refuses an unsupported architecture before the data is read
        var tokenizer = Tokenizer.FromGguf(baseFile);
        var template = ChatTemplate.FromModelOrFallback(tokenizer.ChatTemplate, message => log.WriteLine($"note: {message}"));
        var encoder = new ChatEncoder(template, tokenizer);
        var trainChats = Encode(plan.DataFiles, encoder);
        var heldOutChats = plan.EvalFile is null ? null : Encode([plan.EvalFile], encoder);

        int modelContext = ModelHyperparameters.Read(baseFile, tokenizer.VocabSize).ContextLength;
        int context = plan.Context ?? DefaultContext(trainChats, Math.Min(modelContext, LongestDefaultContext));
        if (context > modelContext) throw new UserInputException($"--ctx {context} exceeds the model's context of {modelContext} tokens");
        var shape = PretrainedModel.ReadShape(baseFile, context);
        int padding = tokenizer.PaddingId >= 0 ? tokenizer.PaddingId : Math.Max(tokenizer.EosId, 0);
        var (train, report) = ChatWindows.Build(trainChats, context, plan.Pack, padding);
        log.WriteLine($"data: {report.Conversations:N0} conversations in {report.Windows:N0} windows of {context} tokens, {report.ScoredTokens:N0} assistant tokens scored"
            + (report.Truncated > 0 ? $"; {report.Truncated} cut to the window" : "")
            + (report.Dropped > 0 ? $"; {report.Dropped} dropped (no assistant token within the window)" : ""));
        if (report.Windows == 0) throw new UserInputException("no conversation has an assistant token to learn within the window; raise --ctx");
        ArrayWindows? heldOut = null;
        if (heldOutChats is not null)
        {
            var (windows, heldReport) = ChatWindows.Build(heldOutChats, context, plan.Pack, padding);
            log.WriteLine($"held out: {heldReport.Conversations:N0} conversations, {heldReport.ScoredTokens:N0} assistant tokens");
            heldOut = windows.Count > 0 ? windows : null;
        }

        LlamaTrainingModel CreateModel(TrainingSettings settings)
        {
            var model = PretrainedModel.Load(baseFile, settings.Shape);
            if (settings.Lora is { } lora) model.AttachLora(lora, new TrainingRandom(settings.Seed));
            return model;
        }

        Trainer trainer;
        if (resuming)
        {
            trainer = Trainer.Resume(plan.CheckpointPath, train, CreateModel, plan.Threads);
            log.WriteLine($"resumed {plan.CheckpointPath} at step {trainer.Step}/{trainer.Settings.Steps}");
        }
        else
        {
            var settings = Settings(plan, shape, train.Count);
            trainer = new Trainer(settings, train, CreateModel(settings), plan.Threads);
        }
        var model = trainer.Model;
        long trainable = trainer.Optimizer.Parameters.Sum(p => (long)p.Value.Length);
        log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"model: {shape.Layers} layers, dim {shape.Dim}, vocab {shape.Vocab}{(shape.TiedEmbeddings ? " (tied output)" : "")}: {model.ParameterCount:N0} parameters, {trainable:N0} trained")
            + (trainer.Settings.Lora is { } l ? $" (LoRA r={l.Rank} alpha={l.Alpha.ToString(CultureInfo.InvariantCulture)} on {string.Join(",", l.Targets)})" : ""));

        Func<double>? evaluate = heldOut is null ? null : () => trainer.Evaluate(heldOut, plan.EvalBatches, padLastBatch: true);
        if (evaluate is not null && trainer.Step == 0)
            log.WriteLine(FormattableString.Invariant($"step 0 held-out loss {evaluate():F4}"));
        TrainingLoop.Run(trainer, new LoopSchedule(plan.EvalEvery, plan.CheckpointEvery, plan.CheckpointPath, evaluate), terminal, cancel);

        var matrixType = plan.F16 ? GgmlType.F16 : GgmlType.F32;
        if (trainer.Settings.Lora is { } adapter && !plan.Merge)
        {
            GgufExport.WriteAdapter(plan.Output, model, adapter.Alpha, Path.GetFileNameWithoutExtension(plan.Output));
            terminal.Out.WriteLine($"adapter: {plan.Output}");
        }
        else
        {
            model.MergeAdapters();
            GgufExport.WriteFineTuned(plan.Output, model, baseFile, matrixType);
            terminal.Out.WriteLine($"model: {plan.Output}");
        }
        File.WriteAllText(plan.ChartPath, LossChart.Svg(trainer.TrainLosses, trainer.Evaluations, $"{Path.GetFileName(plan.Output)}: loss"));
        terminal.Out.WriteLine($"loss curve: {plan.ChartPath}");
        return 0;
    }

    private static TrainingSettings Settings(FinetunePlan plan, LlamaShape shape, int windows)
    {
        int perStep = plan.BatchSize * plan.Accumulation;
        int steps = plan.Steps ?? (int)Math.Max(1, ((long)windows * plan.Epochs + perStep - 1) / perStep);
        return new TrainingSettings
        {
            Shape = shape,
            BatchSize = plan.BatchSize,
            AccumulationSteps = plan.Accumulation,
            Steps = steps,
            LearningRate = plan.LearningRate ?? (plan.Lora is null ? 5e-5f : 1e-3f),
            MinLearningRate = plan.MinLearningRate,
            WarmupSteps = plan.Warmup,
            Optimizer = new AdamWSettings { WeightDecay = plan.WeightDecay },
            GradientClip = plan.Clip,
            Seed = plan.Seed,
            Lora = plan.Lora,
        };
    }

    /// <summary>Long enough for the longest conversation, in steps of 64 tokens, within <paramref name="limit"/>.</summary>
    private static int DefaultContext(List<EncodedChat> chats, int limit)
    {
        int longest = chats.Max(c => c.Tokens.Length - 1);
        return Math.Clamp((longest + 63) / 64 * 64, 1, limit);
    }

    private static List<EncodedChat> Encode(string[] files, ChatEncoder encoder)
    {
        var chats = new List<EncodedChat>();
        foreach (string file in files)
        {
            List<ChatExample> examples;
            try
            {
                examples = ChatJsonl.Read(file);
            }
            catch (FileNotFoundException e)
            {
                throw new UserInputException(e.Message);
            }
            foreach (var example in examples)
            {
                try
                {
                    chats.Add(encoder.Encode(example.Messages));
                }
                catch (Exception e) when (e is InvalidDataException or TemplateException)
                {
                    throw new UserInputException($"{file}:{example.Line}: {e.Message}");
                }
            }
        }
        return chats;
    }
}

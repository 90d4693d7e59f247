using Liaoyuan.Training.Data;
using Liaoyuan.Training.Model;
using Liaoyuan.Training.Ops;
using Liaoyuan.Training.Optimization;

namespace Liaoyuan.Training;

/// <summary>What one optimizer step did.</summary>
public sealed record StepReport(long Step, double Loss, float LearningRate, double GradientNorm, long Tokens);

/// <summary>A held-out loss measured after <c>Step</c> updates.</summary>
public sealed record EvaluationPoint(long Step, double Loss);

/// <summary>
/// The training loop: micro-batches from a <see cref="BatchSampler"/>, gradient accumulation, global-norm clipping,
/// the warmup + cosine schedule and AdamW. Its whole state (parameters, moments, step, data cursor, loss history)
/// goes into a checkpoint, and a trainer built from that checkpoint takes exactly the steps the original would have.
/// </summary>
public sealed class Trainer
{
    private readonly Compute _compute;
    private readonly Activations _activations;

    /// <summary>Pretraining: a freshly initialised model on a token stream.</summary>
    public Trainer(TrainingSettings settings, TokenSource trainTokens, int threads = 0)
        : this(settings, Windows(trainTokens, settings), new LlamaTrainingModel(settings.Shape), threads, cursor: null)
    {
        Model.Initialize(new TrainingRandom(settings.Seed));
    }

    /// <summary>
    /// Fine-tuning: <paramref name="model"/> as given (loaded weights, LoRA attached or not; its shape must be
    /// <paramref name="settings"/>'), trained on <paramref name="windows"/>.
    /// </summary>
    public Trainer(TrainingSettings settings, TrainingWindows windows, LlamaTrainingModel model, int threads = 0)
        : this(settings, windows, model, threads, cursor: null)
    {
    }

    private Trainer(TrainingSettings settings, TrainingWindows windows, LlamaTrainingModel model, int threads, DataCursor? cursor)
    {
        settings.Validate();
        if (model.Shape != settings.Shape) throw new ArgumentException("the model's shape differs from the settings'");
        if (windows.Context != settings.Shape.Context)
            throw new ArgumentException($"the data's windows are {windows.Context} tokens, the model trains on {settings.Shape.Context}");
        Settings = settings;
        Model = model;
        Optimizer = new AdamW(Model.TrainableParameters, settings.Optimizer);
        // The data order has its own stream so that it does not depend on how many numbers initialisation drew.
        Sampler = cursor is null
            ? new BatchSampler(windows, settings.Seed ^ 0x5DEECE66DUL)
            : new BatchSampler(windows, cursor);
        _compute = new Compute(threads);
        _activations = new Activations(settings.Shape, settings.BatchSize);
    }

    private static TrainingWindows Windows(TokenSource tokens, TrainingSettings settings)
    {
        int context = settings.Shape.Context;
        if (tokens.Length - 1 < context) throw new ArgumentException($"the data has {tokens.Length} tokens, fewer than one window of {context + 1}");
        return new StreamWindows(tokens, context);
    }

    public TrainingSettings Settings { get; }
    public LlamaTrainingModel Model { get; }
    public AdamW Optimizer { get; }
    public BatchSampler Sampler { get; }
    /// <summary>Updates taken so far.</summary>
    public long Step { get; private set; }
    public List<double> TrainLosses { get; } = [];
    public List<EvaluationPoint> Evaluations { get; } = [];
    public bool Finished => Step >= Settings.Steps;
    public long TokensPerStep => (long)Settings.BatchSize * Settings.Shape.Context * Settings.AccumulationSteps;

    public StepReport TrainStep()
    {
        Model.ZeroGradients();
        int micro = Settings.AccumulationSteps;
        double loss = 0;
        for (int i = 0; i < micro; i++)
        {
            var (tokens, targets) = Sampler.Next(Settings.BatchSize);
            loss += Model.ForwardBackward(_compute, tokens, targets, _activations, 1f / micro, dropoutPass: Step * micro + i) / micro;
        }
        double norm = GradientClipping.GlobalNorm(_compute, Optimizer.Parameters);
        float rate = Settings.Schedule.At(Step);
        Optimizer.Update(_compute, rate, GradientClipping.Factor(norm, Settings.GradientClip));
        Step++;
        TrainLosses.Add(loss);
        return new StepReport(Step, loss, rate, norm, TokensPerStep);
    }

    /// <summary>Mean loss over up to <paramref name="batches"/> fixed batches of <paramref name="heldOut"/>; recorded in <see cref="Evaluations"/>.</summary>
    public double Evaluate(TokenSource heldOut, int batches) => Evaluate(new StreamWindows(heldOut, Settings.Shape.Context), batches);

    /// <summary>Mean loss per scored token over up to <paramref name="batches"/> fixed batches of <paramref name="heldOut"/>.</summary>
    /// <param name="padLastBatch">Also score the windows of a last, partial batch (padded with unscored ones).</param>
    public double Evaluate(TrainingWindows heldOut, int batches, bool padLastBatch = false)
    {
        double total = 0;
        long scored = 0;
        int count = 0;
        foreach (var (tokens, targets) in BatchSampler.Sequential(heldOut, Settings.BatchSize, batches, padLastBatch))
        {
            Model.Forward(_compute, tokens, _activations);
            var (sum, n) = Ops.CrossEntropy.Sum(_activations.Logits, targets, Settings.Shape.Vocab);
            total += sum;
            scored += n;
            count++;
        }
        if (count == 0) throw new ArgumentException($"the held-out data has fewer than {Settings.BatchSize} windows of {Settings.Shape.Context + 1} tokens");
        double loss = scored > 0 ? total / scored : 0;
        Evaluations.Add(new EvaluationPoint(Step, loss));
        return loss;
    }

    public void SaveCheckpoint(string path) => Checkpoint.Write(path, this);

    /// <summary>A trainer that continues the run saved in <paramref name="path"/> on the same training tokens.</summary>
    public static Trainer Resume(string path, TokenSource trainTokens, int threads = 0) =>
        Checkpoint.Read(path, (settings, cursor) =>
            new Trainer(settings, Windows(trainTokens, settings), new LlamaTrainingModel(settings.Shape), threads, cursor));

    /// <summary>
    /// A trainer that continues the fine-tuning run saved in <paramref name="path"/>. <paramref name="createModel"/>
    /// rebuilds the model from the saved settings (the base weights and any LoRA pairs); the checkpoint then
    /// supplies every trainable tensor.
    /// </summary>
    public static Trainer Resume(string path, TrainingWindows windows, Func<TrainingSettings, LlamaTrainingModel> createModel, int threads = 0) =>
        Checkpoint.Read(path, (settings, cursor) => new Trainer(settings, windows, createModel(settings), threads, cursor));

    internal void Restore(long step, IEnumerable<double> losses, IEnumerable<EvaluationPoint> evaluations)
    {
        Step = step;
        TrainLosses.AddRange(losses);
        Evaluations.AddRange(evaluations);
    }
}

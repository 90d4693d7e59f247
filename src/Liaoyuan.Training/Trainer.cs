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

    public Trainer(TrainingSettings settings, TokenSource trainTokens, int threads = 0)
        : this(settings, trainTokens, threads, cursor: null)
    {
        Model.Initialize(new TrainingRandom(settings.Seed));
    }

    private Trainer(TrainingSettings settings, TokenSource trainTokens, int threads, DataCursor? cursor)
    {
        settings.Validate();
        Settings = settings;
        Model = new LlamaTrainingModel(settings.Shape);
        Optimizer = new AdamW(Model.Parameters, settings.Optimizer);
        // The data order has its own stream so that it does not depend on how many numbers initialisation drew.
        Sampler = cursor is null
            ? new BatchSampler(trainTokens, settings.Shape.Context, settings.Seed ^ 0x5DEECE66DUL)
            : new BatchSampler(trainTokens, settings.Shape.Context, cursor);
        _compute = new Compute(threads);
        _activations = new Activations(settings.Shape, settings.BatchSize);
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
            loss += Model.ForwardBackward(_compute, tokens, targets, _activations, 1f / micro) / micro;
        }
        double norm = GradientClipping.GlobalNorm(_compute, Model.Parameters);
        float rate = Settings.Schedule.At(Step);
        Optimizer.Update(_compute, rate, GradientClipping.Factor(norm, Settings.GradientClip));
        Step++;
        TrainLosses.Add(loss);
        return new StepReport(Step, loss, rate, norm, TokensPerStep);
    }

    /// <summary>Mean loss over up to <paramref name="batches"/> fixed batches of <paramref name="heldOut"/>; recorded in <see cref="Evaluations"/>.</summary>
    public double Evaluate(TokenSource heldOut, int batches)
    {
        double total = 0;
        int count = 0;
        foreach (var (tokens, targets) in BatchSampler.Sequential(heldOut, Settings.Shape.Context, Settings.BatchSize, batches))
        {
            total += Model.Loss(_compute, tokens, targets, _activations);
            count++;
        }
        if (count == 0) throw new ArgumentException($"the held-out data has fewer than {Settings.BatchSize} windows of {Settings.Shape.Context + 1} tokens");
        double loss = total / count;
        Evaluations.Add(new EvaluationPoint(Step, loss));
        return loss;
    }

    public void SaveCheckpoint(string path) => Checkpoint.Write(path, this);

    /// <summary>A trainer that continues the run saved in <paramref name="path"/> on the same training tokens.</summary>
    public static Trainer Resume(string path, TokenSource trainTokens, int threads = 0) =>
        Checkpoint.Read(path, (settings, cursor) => new Trainer(settings, trainTokens, threads, cursor));

    internal void Restore(long step, IEnumerable<double> losses, IEnumerable<EvaluationPoint> evaluations)
    {
        Step = step;
        TrainLosses.AddRange(losses);
        Evaluations.AddRange(evaluations);
    }
}

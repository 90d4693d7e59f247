using System.Text.Json.Serialization;
using Liaoyuan.Training.Model;
using Liaoyuan.Training.Optimization;

namespace Liaoyuan.Training;

/// <summary>Everything that determines a training run; saved in checkpoints so a resumed run continues the same one.</summary>
public sealed record TrainingSettings
{
    public required LlamaShape Shape { get; init; }
    /// <summary>Sequences per micro-batch.</summary>
    public int BatchSize { get; init; } = 8;
    /// <summary>Micro-batches whose gradients are summed into one update.</summary>
    public int AccumulationSteps { get; init; } = 1;
    public int Steps { get; init; } = 1000;
    public float LearningRate { get; init; } = 3e-4f;
    /// <summary>The rate cosine decay ends at; negative means a tenth of <see cref="LearningRate"/>.</summary>
    public float MinLearningRate { get; init; } = -1f;
    /// <summary>Linear warmup steps; negative means min(100, steps / 10).</summary>
    public int WarmupSteps { get; init; } = -1;
    public AdamWSettings Optimizer { get; init; } = new();
    /// <summary>Global gradient-norm limit; 0 turns clipping off.</summary>
    public float GradientClip { get; init; } = 1.0f;
    public ulong Seed { get; init; } = 1;
    /// <summary>LoRA fine-tuning (base frozen, adapters trained); null trains every parameter.</summary>
    public LoraSettings? Lora { get; init; }

    [JsonIgnore]
    public LearningRateSchedule Schedule => new(LearningRate, MinLearningRate >= 0 ? MinLearningRate : LearningRate / 10,
        WarmupSteps >= 0 ? WarmupSteps : Math.Min(100, Steps / 10), Steps);

    public void Validate()
    {
        Shape.Validate();
        if (BatchSize <= 0) throw new ArgumentException($"batch must be positive, got {BatchSize}");
        if (AccumulationSteps <= 0) throw new ArgumentException($"accumulation steps must be positive, got {AccumulationSteps}");
        if (Steps <= 0) throw new ArgumentException($"steps must be positive, got {Steps}");
        if (!(LearningRate > 0)) throw new ArgumentException($"learning rate must be positive, got {LearningRate}");
        if (GradientClip < 0) throw new ArgumentException($"gradient clip must be ≥ 0, got {GradientClip}");
        Lora?.Validate();
    }
}

namespace Liaoyuan.Engine.Generation;

/// <summary>Sampling settings with llama.cpp's defaults. Temperature ≤ 0 means greedy decoding.</summary>
public sealed record SamplingOptions
{
    public float Temperature { get; init; } = 0.8f;
    public int TopK { get; init; } = 40;
    public float TopP { get; init; } = 0.95f;
    public float MinP { get; init; } = 0.05f;
    public float RepeatPenalty { get; init; } = 1.0f;
    public int RepeatLastN { get; init; } = 64;
    public float PresencePenalty { get; init; }
    public float FrequencyPenalty { get; init; }
    public ulong? Seed { get; init; }

    public static SamplingOptions Greedy { get; } = new() { Temperature = 0 };

    /// <summary>Checks ranges and returns a one-line reason for the first bad setting, or null.</summary>
    public string? Validate()
    {
        if (float.IsNaN(Temperature) || Temperature < 0) return $"temperature must be ≥ 0, got {Temperature}";
        if (TopK < 0) return $"top-k must be ≥ 0, got {TopK}";
        if (!(TopP > 0 && TopP <= 1)) return $"top-p must be in (0, 1], got {TopP}";
        if (!(MinP >= 0 && MinP <= 1)) return $"min-p must be in [0, 1], got {MinP}";
        if (!(RepeatPenalty > 0)) return $"repeat penalty must be > 0, got {RepeatPenalty}";
        if (PresencePenalty is < -2 or > 2 || float.IsNaN(PresencePenalty)) return $"presence penalty must be in [-2, 2], got {PresencePenalty}";
        if (FrequencyPenalty is < -2 or > 2 || float.IsNaN(FrequencyPenalty)) return $"frequency penalty must be in [-2, 2], got {FrequencyPenalty}";
        return null;
    }
}

namespace Liaoyuan.Training.Optimization;

/// <summary>
/// Linear warmup from 0 to <c>MaxRate</c> over <c>WarmupSteps</c>, then cosine decay to <c>MinRate</c> at <c>TotalSteps</c>.
/// </summary>
public sealed record LearningRateSchedule(float MaxRate, float MinRate, int WarmupSteps, int TotalSteps)
{
    /// <summary>The rate for the 0-based update <paramref name="step"/>.</summary>
    public float At(long step)
    {
        if (step < WarmupSteps) return MaxRate * (step + 1) / WarmupSteps;
        if (step >= TotalSteps) return MinRate;
        double progress = (double)(step - WarmupSteps) / Math.Max(1, TotalSteps - WarmupSteps);
        return (float)(MinRate + 0.5 * (1 + Math.Cos(Math.PI * progress)) * (MaxRate - MinRate));
    }
}

using Liaoyuan.Engine.Models;

namespace Liaoyuan.Server.Scheduling;

/// <summary>
/// Runs one decode step: appends one token to each of several sessions and leaves each session's logits in
/// <see cref="InferenceSession.LastLogits"/>. This is where continuous batching slots in: an executor over a
/// batched forward pass shares each layer's matrix products among all the sequences of the step.
/// </summary>
public interface IDecodeStepExecutor
{
    void Decode(IReadOnlyList<(InferenceSession Session, int Token)> step);
}

/// <summary>One forward pass per sequence, in turn: every active sequence still advances one token per step.</summary>
public sealed class InterleavedDecodeStepExecutor : IDecodeStepExecutor
{
    public void Decode(IReadOnlyList<(InferenceSession Session, int Token)> step)
    {
        foreach (var (session, token) in step) session.Evaluate([token]);
    }
}

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

/// <summary>
/// Continuous batching: all sequences of the step go through one forward pass whose matrix products they share,
/// so the weights are read once per step instead of once per sequence.
/// </summary>
public sealed class BatchedDecodeStepExecutor(TransformerModel model, int maxSequences) : IDecodeStepExecutor
{
    private readonly BatchEvaluator _evaluator = new(model, Math.Max(1, maxSequences));
    private readonly List<InferenceSession> _sessions = [];
    private readonly List<int[]> _tokens = [];

    public void Decode(IReadOnlyList<(InferenceSession Session, int Token)> step)
    {
        if (step.Count == 0) return;
        if (step.Count == 1)
        {
            step[0].Session.Evaluate([step[0].Token]);
            return;
        }
        _sessions.Clear();
        _tokens.Clear();
        foreach (var (session, token) in step)
        {
            _sessions.Add(session);
            _tokens.Add([token]);
        }
        _evaluator.Evaluate(_sessions, _tokens);
    }
}

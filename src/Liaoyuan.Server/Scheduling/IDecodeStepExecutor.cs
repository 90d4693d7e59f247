using Liaoyuan.Engine.Models;

namespace Liaoyuan.Server.Scheduling;

/// <summary>
/// Runs one scheduler step: appends tokens to each of several sessions (one sampled token for a decoding
/// sequence, a prompt chunk for one being prefilled) and leaves each session's logits after its last token in
/// <see cref="InferenceSession.LastLogits"/>. This is where continuous batching slots in: an executor over a
/// batched forward pass shares each layer's matrix products among all the sequences of the step.
/// </summary>
public interface IDecodeStepExecutor
{
    void Decode(IReadOnlyList<(InferenceSession Session, int[] Tokens)> step);
}

/// <summary>One forward pass per sequence, in turn: every active sequence still advances each step.</summary>
public sealed class InterleavedDecodeStepExecutor : IDecodeStepExecutor
{
    public void Decode(IReadOnlyList<(InferenceSession Session, int[] Tokens)> step)
    {
        foreach (var (session, tokens) in step) session.Evaluate(tokens);
    }
}

/// <summary>
/// Continuous batching: all sequences of the step, prompt chunks and decoded tokens alike, go through one forward
/// pass whose matrix products they share, so the weights are read once per step instead of once per sequence. The
/// pass's activations live in one scratch state of <paramref name="capacity"/> tokens for the whole scheduler.
/// </summary>
public sealed class BatchedDecodeStepExecutor(TransformerModel model, int capacity) : IDecodeStepExecutor
{
    private readonly BatchEvaluator _evaluator = new(model, Math.Max(1, capacity));
    private readonly List<InferenceSession> _sessions = [];
    private readonly List<int[]> _tokens = [];

    public void Decode(IReadOnlyList<(InferenceSession Session, int[] Tokens)> step)
    {
        if (step.Count == 0) return;
        _sessions.Clear();
        _tokens.Clear();
        foreach (var (session, tokens) in step)
        {
            _sessions.Add(session);
            _tokens.Add(tokens);
        }
        _evaluator.Evaluate(_sessions, _tokens);
    }
}

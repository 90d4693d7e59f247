namespace Liaoyuan.Training.Data;

/// <summary>
/// The examples a trainer draws batches from: <see cref="Count"/> windows of <see cref="Context"/> input tokens and
/// their targets (the next tokens, or <see cref="Ops.CrossEntropy.Ignored"/> where a position is not scored).
/// </summary>
public abstract class TrainingWindows
{
    public abstract int Count { get; }
    public abstract int Context { get; }

    /// <summary>Copies window <paramref name="index"/>'s inputs and targets (each <see cref="Context"/> long).</summary>
    public abstract void CopyTo(int index, Span<int> tokens, Span<int> targets);
}

/// <summary>A token stream cut into non-overlapping windows of context + 1 tokens: inputs and next-token targets.</summary>
public sealed class StreamWindows : TrainingWindows
{
    private readonly TokenSource _tokens;

    public StreamWindows(TokenSource tokens, int context)
    {
        _tokens = tokens;
        Context = context;
        Count = (int)Math.Min(int.MaxValue, Math.Max(0, tokens.Length - 1) / context);
    }

    public override int Count { get; }
    public override int Context { get; }

    public override void CopyTo(int index, Span<int> tokens, Span<int> targets)
    {
        long start = (long)index * Context;
        _tokens.CopyTo(start, tokens);
        _tokens.CopyTo(start + 1, targets);
    }
}

/// <summary>Windows held in memory, each with its own targets (fine-tuning examples with masked prompts).</summary>
public sealed class ArrayWindows(int context, IReadOnlyList<(int[] Tokens, int[] Targets)> windows) : TrainingWindows
{
    public override int Count => windows.Count;
    public override int Context => context;

    public override void CopyTo(int index, Span<int> tokens, Span<int> targets)
    {
        windows[index].Tokens.CopyTo(tokens);
        windows[index].Targets.CopyTo(targets);
    }
}

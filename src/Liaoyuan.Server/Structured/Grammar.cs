namespace Liaoyuan.Server.Structured;

/// <summary>One element of a grammar sequence: a set of bytes to match, or a reference to a rule.</summary>
internal abstract class GrammarElement;

internal sealed class ByteClass : GrammarElement
{
    private readonly ulong[] _bits = new ulong[4];

    public static ByteClass Of(byte b) => new ByteClass().Add(b, b);

    public static ByteClass Range(byte from, byte to) => new ByteClass().Add(from, to);

    public ByteClass Add(byte from, byte to)
    {
        for (int b = from; b <= to; b++) _bits[b >> 6] |= 1UL << (b & 63);
        return this;
    }

    public ByteClass Remove(byte b)
    {
        _bits[b >> 6] &= ~(1UL << (b & 63));
        return this;
    }

    public bool Contains(byte b) => (_bits[b >> 6] & (1UL << (b & 63))) != 0;
}

internal sealed class RuleReference(int rule) : GrammarElement
{
    public int Rule { get; } = rule;
}

/// <summary>A sequence of elements, with the shortest number of bytes that completes it from each position.</summary>
internal sealed class GrammarSequence(GrammarElement[] elements)
{
    public GrammarElement[] Elements { get; } = elements;
    public int[] ShortestFrom { get; } = new int[elements.Length + 1];
}

/// <summary>
/// A context-free grammar over bytes, the shape llama.cpp's GBNF grammars take: rules with alternatives, each a
/// sequence of byte classes and rule references. Rules must not be left-recursive.
/// </summary>
internal sealed class Grammar
{
    private const int Unreachable = int.MaxValue / 4;

    public Grammar(IReadOnlyList<IReadOnlyList<GrammarSequence>> rules, int root)
    {
        Rules = rules;
        Root = root;
        ShortestRule = new int[rules.Count];
        ComputeShortestCompletions();
    }

    public IReadOnlyList<IReadOnlyList<GrammarSequence>> Rules { get; }
    public int Root { get; }

    /// <summary>Fewest bytes any expansion of each rule takes.</summary>
    public int[] ShortestRule { get; }

    public GrammarState Start()
    {
        var state = new GrammarState.Builder();
        foreach (var alternative in Rules[Root]) Expand(alternative, 0, null, state);
        return state.Build();
    }

    /// <summary>The state after <paramref name="b"/>; empty when the byte cannot follow.</summary>
    public GrammarState Advance(GrammarState state, byte b)
    {
        var next = new GrammarState.Builder();
        foreach (var leaf in state.Leaves)
        {
            if (((ByteClass)leaf.Sequence.Elements[leaf.Position]).Contains(b))
                Expand(leaf.Sequence, leaf.Position + 1, leaf.Parent, next);
        }
        return next.Build();
    }

    /// <summary>
    /// Walks from a position down to the byte classes that can come next. A reference in last position is
    /// replaced by its rule rather than stacked, so right-recursive repetition keeps stacks shallow.
    /// </summary>
    private void Expand(GrammarSequence sequence, int position, StackFrame? parent, GrammarState.Builder output)
    {
        if (position == sequence.Elements.Length)
        {
            if (parent is null) output.Accepting = true;
            else Expand(parent.Sequence, parent.Position, parent.Parent, output);
            return;
        }
        switch (sequence.Elements[position])
        {
            case ByteClass:
                output.Add(new StackFrame(sequence, position, parent));
                break;
            case RuleReference reference:
                var after = position + 1 == sequence.Elements.Length ? parent : new StackFrame(sequence, position + 1, parent);
                foreach (var alternative in Rules[reference.Rule]) Expand(alternative, 0, after, output);
                break;
        }
    }

    /// <summary>Fewest bytes that bring a state to acceptance (0 when it accepts already).</summary>
    public static int ShortestCompletion(GrammarState state)
    {
        if (state.Accepting) return 0;
        int best = Unreachable;
        foreach (var leaf in state.Leaves)
        {
            int length = 0;
            for (var frame = leaf; frame is not null && length < best; frame = frame.Parent)
                length += frame.Sequence.ShortestFrom[frame.Position];
            best = Math.Min(best, length);
        }
        return best;
    }

    private void ComputeShortestCompletions()
    {
        Array.Fill(ShortestRule, Unreachable);
        for (bool changed = true; changed;)
        {
            changed = false;
            for (int rule = 0; rule < Rules.Count; rule++)
            {
                foreach (var alternative in Rules[rule])
                {
                    int length = SequenceLength(alternative, 0);
                    if (length < ShortestRule[rule]) { ShortestRule[rule] = length; changed = true; }
                }
            }
        }
        foreach (var alternative in Rules.SelectMany(r => r))
        {
            for (int position = 0; position <= alternative.Elements.Length; position++)
                alternative.ShortestFrom[position] = SequenceLength(alternative, position);
        }
    }

    private int SequenceLength(GrammarSequence sequence, int from)
    {
        long length = 0;
        for (int i = from; i < sequence.Elements.Length; i++)
            length += sequence.Elements[i] is RuleReference r ? ShortestRule[r.Rule] : 1;
        return (int)Math.Min(length, Unreachable);
    }
}

/// <summary>A parse in progress: the next element to match in a sequence, and where to continue after it.</summary>
internal sealed record StackFrame(GrammarSequence Sequence, int Position, StackFrame? Parent);

/// <summary>
/// All parses still possible after the bytes so far (leaves wait on a byte class), and whether the bytes so far
/// already form a complete sentence.
/// </summary>
internal sealed class GrammarState
{
    private GrammarState(IReadOnlyList<StackFrame> leaves, bool accepting)
    {
        Leaves = leaves;
        Accepting = accepting;
    }

    public IReadOnlyList<StackFrame> Leaves { get; }
    public bool Accepting { get; }
    public bool IsDead => Leaves.Count == 0 && !Accepting;

    internal sealed class Builder
    {
        private readonly HashSet<StackFrame> _leaves = [];
        public bool Accepting { get; set; }
        public void Add(StackFrame frame) => _leaves.Add(frame);
        public GrammarState Build() => new([.. _leaves], Accepting);
    }
}

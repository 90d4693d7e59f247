using Liaoyuan.Engine.Tokenization;
using Liaoyuan.Server.Scheduling;

namespace Liaoyuan.Server.Structured;

/// <summary>
/// The vocabulary as a byte trie, for walking all tokens that share a prefix with one grammar step per byte.
/// Built once per model; control tokens are left out (they carry no text), end-of-generation ones kept aside.
/// </summary>
public sealed class TokenVocabulary
{
    internal sealed class Node
    {
        public readonly Dictionary<byte, Node> Children = [];
        public readonly List<int> Tokens = [];
    }

    public TokenVocabulary(Tokenizer tokenizer)
    {
        Size = tokenizer.VocabSize;
        Bytes = new byte[Size][];
        for (int id = 0; id < tokenizer.VocabSize; id++)
        {
            Bytes[id] = [];
            if (tokenizer.IsEndOfGeneration(id)) { EndOfGeneration.Add(id); continue; }
            if (tokenizer.IsSpecial(id)) continue;
            var bytes = Bytes[id] = tokenizer.TokenBytes(id);
            if (bytes.Length == 0) continue;
            var node = Root;
            foreach (byte b in bytes)
            {
                if (!node.Children.TryGetValue(b, out var child)) node.Children[b] = child = new Node();
                node = child;
            }
            node.Tokens.Add(id);
        }
    }

    public int Size { get; }
    internal Node Root { get; } = new();
    internal HashSet<int> EndOfGeneration { get; } = [];

    /// <summary>Each token's bytes as the grammar sees them; empty for special tokens.</summary>
    internal byte[][] Bytes { get; }
}

/// <summary>
/// Admits only tokens that keep the output a prefix of a sentence of <see cref="Grammar"/>, and only those from
/// which the output can still be completed within the tokens left, so the result parses even when max_tokens cuts
/// it short (every byte needs at most one token, as byte-level vocabularies hold all 256 bytes).
/// </summary>
internal sealed class GrammarConstraint(Grammar grammar, TokenVocabulary vocabulary) : ITokenConstraint
{
    public ITokenConstraintState Start() => new State(grammar, vocabulary);

    private sealed class State(Grammar grammar, TokenVocabulary vocabulary) : ITokenConstraintState
    {
        private GrammarState _state = grammar.Start();
        private bool[] _allowed = new bool[vocabulary.Size];

        public bool IsComplete => _state.Accepting && _state.Leaves.Count == 0;

        public void MaskLogits(Span<float> logits, int tokensLeft)
        {
            Array.Clear(_allowed);
            Visit(vocabulary.Root, _state, tokensLeft - 1);
            // When even the shortest completion no longer fits, the grammar alone decides: the output will be cut
            // at max_tokens (finish_reason "length"), as an unconstrained one would be.
            if (!_allowed.Contains(true)) Visit(vocabulary.Root, _state, int.MaxValue);
            if (_state.Accepting) foreach (int token in vocabulary.EndOfGeneration) _allowed[token] = true;
            for (int token = 0; token < logits.Length; token++)
            {
                if (token >= _allowed.Length || !_allowed[token]) logits[token] = float.NegativeInfinity;
            }
        }

        /// <summary>Marks the tokens under <paramref name="node"/> whose bytes the grammar accepts and can finish after.</summary>
        private void Visit(TokenVocabulary.Node node, GrammarState state, int tokensAfter)
        {
            foreach (var (b, child) in node.Children)
            {
                var next = grammar.Advance(state, b);
                if (next.IsDead) continue;
                if (child.Tokens.Count > 0 && Grammar.ShortestCompletion(next) <= tokensAfter)
                {
                    foreach (int token in child.Tokens) _allowed[token] = true;
                }
                if (next.Leaves.Count > 0) Visit(child, next, tokensAfter);
            }
        }

        public void Accept(int token)
        {
            if (vocabulary.EndOfGeneration.Contains(token)) return;
            foreach (byte b in vocabulary.Bytes[token]) _state = grammar.Advance(_state, b);
        }
    }
}

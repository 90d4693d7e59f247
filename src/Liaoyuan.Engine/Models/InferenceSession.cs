using Liaoyuan.Operators.Tensors;

namespace Liaoyuan.Engine.Models;

/// <summary>
/// One sequence being evaluated: the tokens so far and their KV cache. Evaluating appends tokens; the logits
/// of the last evaluated position are kept for sampling.
/// </summary>
public sealed class InferenceSession
{
    /// <summary>
    /// Tokens per forward pass when evaluating a long prompt. Half of llama.cpp's 512: the pass's activations (the FFN's
    /// gate and up rows are 2 × tokens × ffn floats) then take 18 MB less at this model size, for a prompt rate within
    /// the noise (the weights are read once more per 256 tokens, ~1% of a pass).
    /// </summary>
    public const int MicroBatch = 256;

    private readonly List<int> _tokens;
    private readonly int[] _positions = new int[MicroBatch];
    private readonly float[] _lastLogits;

    public InferenceSession(TransformerModel model, int contextLength = 0, GgmlType kvType = GgmlType.F16)
    {
        Model = model;
        ContextLength = contextLength > 0 ? contextLength : Math.Min(model.Config.ContextLength, 4096);
        Cache = new KvCache(model.Config, ContextLength, kvType);
        _tokens = new List<int>(ContextLength);
        _lastLogits = new float[model.Config.VocabSize];
    }

    public TransformerModel Model { get; }
    public int ContextLength { get; }
    public KvCache Cache { get; }
    public IReadOnlyList<int> Tokens => _tokens;
    public int Position => _tokens.Count;
    public ReadOnlySpan<float> LastLogits => _lastLogits;

    /// <summary>
    /// The LoRA adapter this sequence runs with (null: the model as loaded). Its cached keys and values depend on it,
    /// so changing it makes the cached prefix meaningless: truncate first.
    /// </summary>
    public LoraWeights? Adapter { get; set; }

    /// <summary>Forgets positions from <paramref name="length"/> on, keeping the cached prefix before it.</summary>
    public void TruncateTo(int length)
    {
        if (length < 0 || length > _tokens.Count) throw new ArgumentOutOfRangeException(nameof(length));
        _tokens.RemoveRange(length, _tokens.Count - length);
    }

    public void Reset() => TruncateTo(0);

    /// <summary>Appends tokens and returns the logits after the last one.</summary>
    public ReadOnlySpan<float> Evaluate(scoped ReadOnlySpan<int> tokens)
    {
        Run(tokens, default);
        return _lastLogits;
    }

    /// <summary>Appends tokens and writes the logits after every one of them (tokens × vocab) into <paramref name="logits"/>.</summary>
    public void EvaluateAll(ReadOnlySpan<int> tokens, Span<float> logits)
    {
        if (logits.Length < tokens.Length * Model.Config.VocabSize)
            throw new ArgumentException($"logits buffer holds {logits.Length} floats; {tokens.Length} tokens need {tokens.Length * Model.Config.VocabSize}");
        Run(tokens, logits);
    }

    /// <summary>Records tokens that a <see cref="BatchEvaluator"/> evaluated on this session's cache.</summary>
    internal void Commit(ReadOnlySpan<int> tokens, ReadOnlySpan<float> logits)
    {
        foreach (int token in tokens) _tokens.Add(token);
        logits.CopyTo(_lastLogits);
    }

    private void Run(scoped ReadOnlySpan<int> tokens, Span<float> allLogits)
    {
        if (tokens.Length == 0) throw new ArgumentException("nothing to evaluate: no tokens");
        if (_tokens.Count + tokens.Length > ContextLength)
            throw new ContextOverflowException(_tokens.Count + tokens.Length, ContextLength);
        int vocab = Model.Config.VocabSize;
        bool wantAll = !allLogits.IsEmpty;
        for (int start = 0; start < tokens.Length; start += MicroBatch)
        {
            int count = Math.Min(MicroBatch, tokens.Length - start);
            var positions = _positions.AsSpan(0, count);
            for (int i = 0; i < count; i++) positions[i] = _tokens.Count + i;
            var chunk = tokens.Slice(start, count);
            bool last = start + count == tokens.Length;
            if (wantAll)
            {
                Model.Forward(chunk, positions, Cache, allLogits: true, allLogits.Slice(start * vocab, count * vocab), Adapter);
                if (last) allLogits.Slice((start + count - 1) * vocab, vocab).CopyTo(_lastLogits);
            }
            else
            {
                // Only the last micro-batch's final position matters; earlier ones overwrite harmlessly.
                Model.Forward(chunk, positions, Cache, allLogits: false, _lastLogits, Adapter);
            }
            foreach (int token in chunk) _tokens.Add(token);
        }
    }
}

/// <summary>
/// Continuous batching: several sessions of one model advance in a single pass whose matrix products they share.
/// </summary>
public sealed class BatchEvaluator(TransformerModel model, int capacity = InferenceSession.MicroBatch)
{
    private readonly ForwardState _state = new(model.Config, capacity);
    private float[] _logits = [];

    public int Capacity => capacity;

    /// <summary>
    /// Appends <c>tokens[i]</c> to <c>sessions[i]</c> for every i in one forward pass; afterwards each session's
    /// <see cref="InferenceSession.LastLogits"/> holds the logits after its last new token.
    /// </summary>
    public void Evaluate(IReadOnlyList<InferenceSession> sessions, IReadOnlyList<int[]> tokens)
    {
        if (sessions.Count != tokens.Count) throw new ArgumentException("one token list per session is needed");
        int total = 0;
        for (int i = 0; i < sessions.Count; i++)
        {
            if (!ReferenceEquals(sessions[i].Model, model)) throw new ArgumentException("all sessions must belong to the evaluator's model");
            if (tokens[i].Length == 0) throw new ArgumentException($"session {i} has no tokens to evaluate");
            if (sessions[i].Position + tokens[i].Length > sessions[i].ContextLength)
                throw new ContextOverflowException(sessions[i].Position + tokens[i].Length, sessions[i].ContextLength);
            total += tokens[i].Length;
        }
        if (total > capacity) throw new ArgumentException($"the batch has {total} tokens; the evaluator holds {capacity}");

        var flat = new int[total];
        var positions = new int[total];
        var slices = new SequenceSlice[sessions.Count];
        for (int i = 0, at = 0; i < sessions.Count; i++)
        {
            tokens[i].CopyTo(flat, at);
            for (int j = 0; j < tokens[i].Length; j++) positions[at + j] = sessions[i].Position + j;
            slices[i] = new SequenceSlice(sessions[i].Cache, at, tokens[i].Length, sessions[i].Adapter);
            at += tokens[i].Length;
        }
        int vocab = model.Config.VocabSize;
        if (_logits.Length < sessions.Count * vocab) _logits = new float[sessions.Count * vocab];
        model.ForwardBatch(flat, positions, slices, _state, _logits);
        for (int i = 0; i < sessions.Count; i++) sessions[i].Commit(tokens[i], _logits.AsSpan(i * vocab, vocab));
    }
}

/// <summary>More tokens than the context holds.</summary>
public sealed class ContextOverflowException(int needed, int context)
    : Exception($"the sequence needs {needed} tokens but the context holds {context}; use a larger --ctx or a shorter prompt")
{
    public int Needed { get; } = needed;
    public int Context { get; } = context;
}

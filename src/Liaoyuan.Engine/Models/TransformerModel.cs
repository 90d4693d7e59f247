using Liaoyuan.Engine.Gguf;
using Liaoyuan.Operators.Kernels;
using Liaoyuan.Operators.Tensors;

namespace Liaoyuan.Engine.Models;

/// <summary>One decoder layer's weights. Optional parts are null where an architecture does not have them.</summary>
public sealed class LayerWeights
{
    public required float[] AttentionNorm { get; init; }
    public required WeightMatrix Query { get; init; }
    public required WeightMatrix Key { get; init; }
    public required WeightMatrix Value { get; init; }
    public required WeightMatrix AttentionOutput { get; init; }
    public float[]? QueryBias { get; init; }
    public float[]? KeyBias { get; init; }
    public float[]? ValueBias { get; init; }
    public float[]? QueryNorm { get; init; }
    public float[]? KeyNorm { get; init; }
    public required float[] FeedForwardNorm { get; init; }
    public required WeightMatrix Gate { get; init; }
    public required WeightMatrix Up { get; init; }
    public required WeightMatrix Down { get; init; }
}

/// <summary>
/// The part every Llama-family model shares: token embedding, a stack of decoder layers, the final norm and the
/// output projection. Each architecture supplies its layer in a file of its own.
/// </summary>
public abstract class TransformerModel
{
    protected TransformerModel(ModelTensors tensors, ModelHyperparameters config, IKernels kernels)
    {
        Config = config;
        Kernels = kernels;
        int embd = config.EmbeddingLength;
        TokenEmbedding = tensors.Matrix("token_embd.weight", embd, config.VocabSize);
        OutputNorm = tensors.Vector("output_norm.weight", embd);
        // Models with tied embeddings have no output matrix and reuse the embedding table: one prepared copy then
        // serves both the output product and the embedding lookups.
        Output = tensors.OptionalProductMatrix("output.weight", embd, config.VocabSize)
            ?? (TokenEmbedding = tensors.Prepared("token_embd.weight", TokenEmbedding));
        RopeFactors = tensors.OptionalVector("rope_freqs.weight", config.RotaryDims / 2);
        Layers = new LayerWeights[config.BlockCount];
        for (int i = 0; i < Layers.Length; i++) Layers[i] = LoadLayer(tensors, i);
        string? unused = tensors.Unused.FirstOrDefault();
        if (unused is not null)
            throw new GgufFormatException($"{tensors.File.Path}: tensor '{unused}' is not used by the '{config.Architecture}' architecture");
    }

    public ModelHyperparameters Config { get; }
    public IKernels Kernels { get; }
    public WeightMatrix TokenEmbedding { get; }
    public WeightMatrix Output { get; }
    public float[] OutputNorm { get; }
    public float[]? RopeFactors { get; }
    public LayerWeights[] Layers { get; }

    protected abstract RopeLayout RopeLayout { get; }

    protected abstract LayerWeights LoadLayer(ModelTensors tensors, int layer);

    /// <summary>Transforms the residual stream <c>s.X</c> through decoder layer <paramref name="layer"/>.</summary>
    protected abstract void Layer(int layer, ForwardState s);

    protected RopeParameters Rope => new(RopeLayout, Config.RotaryDims, Config.RopeFreqBase, Config.RopeFreqScale, RopeFactors);

    protected AttentionShape AttentionShape =>
        new(Config.HeadCount, Config.KvHeadCount, Config.KeyLength, Config.ValueLength, 1.0f / MathF.Sqrt(Config.KeyLength));

    /// <summary>
    /// Runs <paramref name="tokens"/> at <paramref name="positions"/> through the model, appending their keys and
    /// values to <paramref name="cache"/>. Writes logits for the last token, or for every token when
    /// <paramref name="allLogits"/> is set, into <paramref name="logits"/>.
    /// </summary>
    public void Forward(ReadOnlySpan<int> tokens, ReadOnlySpan<int> positions, KvCache cache, bool allLogits, Span<float> logits,
        LoraWeights? adapter = null)
    {
        CheckAdapter(adapter);
        var s = cache.State(tokens.Length);
        s.SetSequences([new SequenceSlice(cache, 0, tokens.Length, adapter)]);
        Run(tokens, positions, s);
        int embd = Config.EmbeddingLength, n = tokens.Length;
        int first = allLogits ? 0 : n - 1, rows = n - first;
        Kernels.RmsNorm(s.X.AsSpan(first * embd, rows * embd), OutputNorm, Config.RmsEpsilon, s.Norm.AsSpan(0, rows * embd));
        Kernels.MatMul(Output, s.Norm.AsSpan(0, rows * embd), logits[..(rows * Config.VocabSize)], rows);
    }

    /// <summary>
    /// Runs several sequences in one pass: the matrix products are shared by all their tokens, attention reads each
    /// sequence's own cache. <paramref name="sequences"/> say which rows of <paramref name="tokens"/> belong to which
    /// cache; the logits after each sequence's last token are written to <paramref name="lastLogits"/> in order.
    /// </summary>
    public void ForwardBatch(ReadOnlySpan<int> tokens, ReadOnlySpan<int> positions, ReadOnlySpan<SequenceSlice> sequences,
        ForwardState state, Span<float> lastLogits)
    {
        if (state.Capacity < tokens.Length) throw new ArgumentException($"the forward state holds {state.Capacity} tokens, the batch has {tokens.Length}");
        int covered = 0;
        foreach (var slice in sequences)
        {
            if (slice.Start != covered || slice.Count <= 0) throw new ArgumentException("sequence slices must cover the batch in order without gaps");
            CheckAdapter(slice.Adapter);
            covered += slice.Count;
        }
        if (covered != tokens.Length) throw new ArgumentException($"sequence slices cover {covered} of {tokens.Length} tokens");
        state.SetSequences(sequences);
        Run(tokens, positions, state);
        int embd = Config.EmbeddingLength;
        for (int i = 0; i < sequences.Length; i++)
        {
            int last = sequences[i].Start + sequences[i].Count - 1;
            Kernels.RmsNorm(state.X.AsSpan(last * embd, embd), OutputNorm, Config.RmsEpsilon, state.Norm.AsSpan(i * embd, embd));
        }
        Kernels.MatMul(Output, state.Norm.AsSpan(0, sequences.Length * embd), lastLogits[..(sequences.Length * Config.VocabSize)], sequences.Length);
    }

    private void Run(ReadOnlySpan<int> tokens, ReadOnlySpan<int> positions, ForwardState s)
    {
        int n = tokens.Length;
        positions.CopyTo(s.PositionBuffer);
        s.Tokens = n;
        int embd = Config.EmbeddingLength;
        for (int t = 0; t < n; t++)
        {
            if ((uint)tokens[t] >= (uint)Config.VocabSize)
                throw new ArgumentOutOfRangeException(nameof(tokens), $"token id {tokens[t]} is outside the vocabulary of {Config.VocabSize}");
            Kernels.GetRow(TokenEmbedding, tokens[t], s.X.AsSpan(t * embd, embd));
        }
        for (int layer = 0; layer < Layers.Length; layer++) Layer(layer, s);
    }

    // ---- building blocks shared by the architectures ----

    /// <summary>
    /// y = W·x for all the pass's tokens, then each sequence's LoRA update for W on its own rows: the base product is
    /// shared by the whole batch, an adapter only touches the sequences that asked for it.
    /// </summary>
    protected void MatMul(in WeightMatrix w, float[] x, float[] y, ForwardState s)
    {
        int tokens = s.Tokens;
        Kernels.MatMul(w, x.AsSpan(0, tokens * w.Columns), y.AsSpan(0, tokens * w.Rows), tokens);
        AddLowRank(w, x, y, s);
    }

    /// <summary>q, k, v = W_q·norm(x), W_k·norm(x), W_v·norm(x): three products of the same activations, as one.</summary>
    protected void QueryKeyValue(LayerWeights w, ForwardState s)
    {
        int n = s.Tokens;
        Kernels.MatMulShared(s.Norm.AsSpan(0, n * w.Query.Columns), n, w.Query, s.Q.AsSpan(0, n * w.Query.Rows),
            w.Key, s.K.AsSpan(0, n * w.Key.Rows), w.Value, s.V.AsSpan(0, n * w.Value.Rows));
        AddLowRank(w.Query, s.Norm, s.Q, s);
        AddLowRank(w.Key, s.Norm, s.K, s);
        AddLowRank(w.Value, s.Norm, s.V, s);
    }

    /// <summary>
    /// Each sequence's LoRA update for W on its own rows: the base product is shared by the whole batch, an adapter
    /// only touches the sequences that asked for it.
    /// </summary>
    private unsafe void AddLowRank(in WeightMatrix w, float[] x, float[] y, ForwardState s)
    {
        var sequences = s.Sequences;
        for (int i = 0; i < sequences.Length;)
        {
            var updates = sequences[i].Adapter?.Updates ?? _lowRank;
            int start = sequences[i].Start, end = start + sequences[i].Count;
            // Neighbouring sequences with the same adapter share its products too.
            for (i++; i < sequences.Length && (sequences[i].Adapter?.Updates ?? _lowRank) == updates; i++) end += sequences[i].Count;
            if (updates.TryGetValue((nint)w.Data, out var update))
                update.AddTo(Kernels, x.AsSpan(start * w.Columns), y.AsSpan(start * w.Rows), end - start);
        }
    }

    private void CheckAdapter(LoraWeights? adapter)
    {
        if (adapter is not null && !ReferenceEquals(adapter.Model, this))
            throw new ArgumentException($"the LoRA adapter {adapter.Path} was read for another model instance");
    }

    /// <summary>
    /// Low-rank updates (a LoRA adapter, see <see cref="LoraAdapter"/>) keyed by the address of the mapped weight
    /// they add to; the weights themselves are never modified. An empty map removes the adapter.
    /// </summary>
    public void UseLowRankUpdates(IReadOnlyDictionary<nint, LowRankUpdate> updates) => _lowRank = updates;

    private IReadOnlyDictionary<nint, LowRankUpdate> _lowRank = new Dictionary<nint, LowRankUpdate>();

    protected void AddBias(float[] x, float[]? bias, int tokens)
    {
        if (bias is not null) Kernels.AddRowBias(x.AsSpan(0, tokens * bias.Length), bias);
    }

    /// <summary>Stores the batch's keys and values at their positions, attends, projects, and adds to the residual.</summary>
    protected void AttendAndAddResidual(int layer, LayerWeights w, ForwardState s)
    {
        int n = s.Tokens;
        int keyWidth = Config.KvHeadCount * Config.KeyLength, valueWidth = Config.KvHeadCount * Config.ValueLength;
        int queryWidth = Config.HeadCount * Config.KeyLength, attnWidth = Config.HeadCount * Config.ValueLength;
        foreach (var sequence in s.Sequences)
        {
            var cacheLayer = sequence.Cache.Layers[layer];
            int start = sequence.Start, count = sequence.Count;
            for (int t = start; t < start + count; t++)
                cacheLayer.Store(s.Positions[t], s.K.AsSpan(t * keyWidth, keyWidth), s.V.AsSpan(t * valueWidth, valueWidth));
            Kernels.Attention(s.Q.AsSpan(start * queryWidth, count * queryWidth), cacheLayer, s.Positions.Slice(start, count),
                AttentionShape, s.Attention.AsSpan(start * attnWidth, count * attnWidth));
        }
        MatMul(w.AttentionOutput, s.Attention, s.Projected, s);
        Kernels.Add(s.X.AsSpan(0, n * Config.EmbeddingLength), s.Projected.AsSpan(0, n * Config.EmbeddingLength));
    }

    /// <summary>x += W_down · (silu(W_gate · norm(x)) ⊙ W_up · norm(x)).</summary>
    protected void SwiGluFeedForward(LayerWeights w, ForwardState s)
    {
        int n = s.Tokens, embd = Config.EmbeddingLength, ff = Config.FeedForwardLength;
        Kernels.RmsNorm(s.X.AsSpan(0, n * embd), w.FeedForwardNorm, Config.RmsEpsilon, s.Norm.AsSpan(0, n * embd));
        Kernels.MatMulShared(s.Norm.AsSpan(0, n * embd), n, w.Gate, s.Gate.AsSpan(0, n * ff), w.Up, s.Up.AsSpan(0, n * ff), default, default);
        AddLowRank(w.Gate, s.Norm, s.Gate, s);
        AddLowRank(w.Up, s.Norm, s.Up, s);
        Kernels.SwiGlu(s.Gate.AsSpan(0, n * ff), s.Up.AsSpan(0, n * ff));
        MatMul(w.Down, s.Gate, s.Projected, s);
        Kernels.Add(s.X.AsSpan(0, n * embd), s.Projected.AsSpan(0, n * embd));
    }

    /// <summary>Applies a per-head RMSNorm (Qwen3's q_norm / k_norm) to every head of every token.</summary>
    protected void HeadNorm(float[] x, float[] weight, int heads, int tokens) =>
        Kernels.RmsNorm(x.AsSpan(0, tokens * heads * weight.Length), weight, Config.RmsEpsilon, x.AsSpan(0, tokens * heads * weight.Length));

    /// <summary>The standard attention and feed-forward weight names of llama.cpp's `blk.N.*` layout.</summary>
    protected LayerWeights LoadStandardLayer(ModelTensors t, int i, bool biases = false, bool headNorms = false)
    {
        var c = Config;
        int embd = c.EmbeddingLength, qWidth = c.HeadCount * c.KeyLength, kWidth = c.KvHeadCount * c.KeyLength,
            vWidth = c.KvHeadCount * c.ValueLength;
        string p = $"blk.{i}.";
        return new LayerWeights
        {
            AttentionNorm = t.Vector(p + "attn_norm.weight", embd),
            Query = t.ProductMatrix(p + "attn_q.weight", embd, qWidth),
            Key = t.ProductMatrix(p + "attn_k.weight", embd, kWidth),
            Value = t.ProductMatrix(p + "attn_v.weight", embd, vWidth),
            AttentionOutput = t.ProductMatrix(p + "attn_output.weight", c.HeadCount * c.ValueLength, embd),
            QueryBias = biases ? t.Vector(p + "attn_q.bias", qWidth) : t.OptionalVector(p + "attn_q.bias", qWidth),
            KeyBias = biases ? t.Vector(p + "attn_k.bias", kWidth) : t.OptionalVector(p + "attn_k.bias", kWidth),
            ValueBias = biases ? t.Vector(p + "attn_v.bias", vWidth) : t.OptionalVector(p + "attn_v.bias", vWidth),
            QueryNorm = headNorms ? t.Vector(p + "attn_q_norm.weight", c.KeyLength) : null,
            KeyNorm = headNorms ? t.Vector(p + "attn_k_norm.weight", c.KeyLength) : null,
            FeedForwardNorm = t.Vector(p + "ffn_norm.weight", embd),
            Gate = t.ProductMatrix(p + "ffn_gate.weight", embd, c.FeedForwardLength),
            Up = t.ProductMatrix(p + "ffn_up.weight", embd, c.FeedForwardLength),
            Down = t.ProductMatrix(p + "ffn_down.weight", c.FeedForwardLength, embd),
        };
    }
}

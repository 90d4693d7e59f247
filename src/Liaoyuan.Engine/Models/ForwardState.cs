namespace Liaoyuan.Engine.Models;

/// <summary>
/// Rows [Start, Start + Count) of a batched pass, belonging to the sequence whose cache is <see cref="Cache"/>; its
/// projections get <see cref="Adapter"/>'s low-rank updates (none: the model's own adapter, if one was applied).
/// </summary>
public readonly record struct SequenceSlice(KvCache Cache, int Start, int Count, LoraWeights? Adapter = null);

/// <summary>Scratch activations for one forward pass over a batch of tokens, reused between passes.</summary>
public sealed class ForwardState
{
    public ForwardState(ModelHyperparameters c, int capacity)
    {
        Capacity = capacity;
        PositionBuffer = new int[capacity];
        X = new float[capacity * c.EmbeddingLength];
        Norm = new float[capacity * c.EmbeddingLength];
        Q = new float[capacity * c.HeadCount * c.KeyLength];
        K = new float[capacity * c.KvHeadCount * c.KeyLength];
        V = new float[capacity * c.KvHeadCount * c.ValueLength];
        Attention = new float[capacity * c.HeadCount * c.ValueLength];
        Projected = new float[capacity * c.EmbeddingLength];
        Gate = new float[capacity * c.FeedForwardLength];
        Up = new float[capacity * c.FeedForwardLength];
    }

    public int Capacity { get; }
    public int Tokens { get; set; }
    public int[] PositionBuffer { get; }

    /// <summary>The positions of the tokens in this pass.</summary>
    public ReadOnlySpan<int> Positions => PositionBuffer.AsSpan(0, Tokens);
    private SequenceSlice[] _sequences = new SequenceSlice[8];
    private int _sequenceCount;

    /// <summary>Which rows of this pass belong to which sequence (and so which KV cache).</summary>
    public ReadOnlySpan<SequenceSlice> Sequences => _sequences.AsSpan(0, _sequenceCount);

    internal void SetSequences(ReadOnlySpan<SequenceSlice> sequences)
    {
        if (_sequences.Length < sequences.Length) _sequences = new SequenceSlice[Math.Max(sequences.Length, 2 * _sequences.Length)];
        sequences.CopyTo(_sequences);
        _sequenceCount = sequences.Length;
    }

    /// <summary>The residual stream.</summary>
    public float[] X { get; }
    public float[] Norm { get; }
    public float[] Q { get; }
    public float[] K { get; }
    public float[] V { get; }
    public float[] Attention { get; }
    public float[] Projected { get; }
    public float[] Gate { get; }
    public float[] Up { get; }
}

using Liaoyuan.Training.Ops;

namespace Liaoyuan.Training.Model;

/// <summary>What one decoder layer's forward pass keeps for its backward pass.</summary>
internal sealed class LayerActivations
{
    public LayerActivations(LlamaShape s, int rows, int sequences)
    {
        Input = new float[rows * s.Dim];
        AttentionNormed = new float[rows * s.Dim];
        AttentionRms = new float[rows];
        Query = new float[rows * s.QueryWidth];
        Key = new float[rows * s.KeyWidth];
        Value = new float[rows * s.KeyWidth];
        Probabilities = new float[Attention.ProbabilityCount(sequences, new AttentionShape(s.Heads, s.KvHeads, s.HeadDim, s.Context))];
        Attended = new float[rows * s.QueryWidth];
        Middle = new float[rows * s.Dim];
        FeedForwardNormed = new float[rows * s.Dim];
        FeedForwardRms = new float[rows];
        Gate = new float[rows * s.FeedForward];
        Up = new float[rows * s.FeedForward];
        Hidden = new float[rows * s.FeedForward];
    }

    public float[] Input { get; }
    public float[] AttentionNormed { get; }
    public float[] AttentionRms { get; }
    /// <summary>Queries and keys after RoPE.</summary>
    public float[] Query { get; }
    public float[] Key { get; }
    public float[] Value { get; }
    public float[] Probabilities { get; }
    public float[] Attended { get; }
    /// <summary>The residual stream between the attention and the feed-forward block.</summary>
    public float[] Middle { get; }
    public float[] FeedForwardNormed { get; }
    public float[] FeedForwardRms { get; }
    public float[] Gate { get; }
    public float[] Up { get; }
    public float[] Hidden { get; }
}

/// <summary>
/// The buffers of one forward/backward pass over <c>sequences</c> × context tokens, allocated once and reused
/// every step (the training loop allocates nothing per step).
/// </summary>
public sealed class Activations
{
    public Activations(LlamaShape shape, int sequences)
    {
        Sequences = sequences;
        Rows = sequences * shape.Context;
        int rows = Rows;
        Layers = new LayerActivations[shape.Layers];
        for (int l = 0; l < Layers.Length; l++) Layers[l] = new LayerActivations(shape, rows, sequences);
        Final = new float[rows * shape.Dim];
        FinalNormed = new float[rows * shape.Dim];
        FinalRms = new float[rows];
        Logits = new float[(long)rows * shape.Vocab];
        Projected = new float[rows * shape.Dim];
        ResidualGrad = new float[rows * shape.Dim];
        NormedGrad = new float[rows * shape.Dim];
        QueryGrad = new float[rows * shape.QueryWidth];
        KeyGrad = new float[rows * shape.KeyWidth];
        ValueGrad = new float[rows * shape.KeyWidth];
        AttendedGrad = new float[rows * shape.QueryWidth];
        GateGrad = new float[rows * shape.FeedForward];
        UpGrad = new float[rows * shape.FeedForward];
        HiddenGrad = new float[rows * shape.FeedForward];
    }

    public int Sequences { get; }
    public int Rows { get; }
    internal LayerActivations[] Layers { get; }
    internal float[] Final { get; }
    internal float[] FinalNormed { get; }
    internal float[] FinalRms { get; }
    /// <summary>rows × vocab logits after a forward pass; after a backward pass, their gradient.</summary>
    public float[] Logits { get; }
    internal float[] Projected { get; }
    internal float[] ResidualGrad { get; }
    internal float[] NormedGrad { get; }
    internal float[] QueryGrad { get; }
    internal float[] KeyGrad { get; }
    internal float[] ValueGrad { get; }
    internal float[] AttendedGrad { get; }
    internal float[] GateGrad { get; }
    internal float[] UpGrad { get; }
    internal float[] HiddenGrad { get; }
}

using System.Text.Json.Serialization;

namespace Liaoyuan.Training.Model;

/// <summary>The architecture hyperparameters of a `llama` model being trained.</summary>
public sealed record LlamaShape
{
    public required int Vocab { get; init; }
    public required int Layers { get; init; }
    public required int Dim { get; init; }
    public required int Heads { get; init; }
    public required int KvHeads { get; init; }
    public required int FeedForward { get; init; }
    public required int Context { get; init; }
    public float RmsEpsilon { get; init; } = 1e-5f;
    public float RopeBase { get; init; } = 10000f;
    /// <summary>The output projection is the token embedding matrix (no output.weight), as in Qwen2.5-0.5B.</summary>
    public bool TiedEmbeddings { get; init; }

    [JsonIgnore]
    public int HeadDim => Dim / Heads;
    [JsonIgnore]
    public int QueryWidth => Heads * HeadDim;
    [JsonIgnore]
    public int KeyWidth => KvHeads * HeadDim;

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first setting that cannot make a llama model.</summary>
    public void Validate()
    {
        static void Positive(int value, string name)
        {
            if (value <= 0) throw new ArgumentException($"{name} must be positive, got {value}");
        }
        Positive(Vocab, "vocab"); Positive(Layers, "layers"); Positive(Dim, "dim"); Positive(Heads, "heads");
        Positive(KvHeads, "kv-heads"); Positive(FeedForward, "ffn"); Positive(Context, "ctx");
        if (Dim % Heads != 0) throw new ArgumentException($"dim {Dim} is not a multiple of heads {Heads}");
        if (HeadDim % 2 != 0) throw new ArgumentException($"the head size dim/heads = {HeadDim} must be even for RoPE");
        if (Heads % KvHeads != 0) throw new ArgumentException($"heads {Heads} is not a multiple of kv-heads {KvHeads}");
    }
}

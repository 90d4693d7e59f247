using Liaoyuan.Operators.Tensors;

namespace Liaoyuan.Operators.Kernels;

/// <summary>RoPE pairing: adjacent elements (GPT-J / llama "normal") or the two halves of the head (GPT-NeoX).</summary>
public enum RopeLayout
{
    Normal,
    NeoX,
}

/// <summary>
/// The backend seam: every numeric operation the model code performs. Activations are row-major float32
/// batches of <c>tokens</c> rows. A CPU implementation lives beside this interface; other hardware can add its own
/// without the model code changing.
/// </summary>
public interface IKernels : IDisposable
{
    int Threads { get; }

    /// <summary>
    /// Lays a weight matrix out for this backend's products, once at load: the returned matrix (to be passed to
    /// <see cref="MatMul"/> in place of the argument) may carry a copy in the backend's own layout, owned by the
    /// backend and freed when it is disposed. <see cref="WeightMatrix.Data"/> is not changed and stays valid.
    /// </summary>
    WeightMatrix Prepare(in WeightMatrix weight);

    /// <summary>y[t, r] = Σ_c W[r, c] · x[t, c] for every token t, computed as llama.cpp does for W's type.</summary>
    void MatMul(in WeightMatrix weight, ReadOnlySpan<float> x, Span<float> y, int tokens);

    /// <summary>
    /// Up to three products of the same activations (a layer's Q, K and V; gate and up) as one operation, so a
    /// backend can prepare the activations once and spread all rows over its threads in one dispatch. Empty
    /// (default) matrices are skipped; each result is exactly what <see cref="MatMul"/> gives.
    /// </summary>
    void MatMulShared(ReadOnlySpan<float> x, int tokens, in WeightMatrix w0, Span<float> y0,
        in WeightMatrix w1, Span<float> y1, in WeightMatrix w2, Span<float> y2);

    /// <summary>Copies (dequantizes) one row of a matrix, e.g. an embedding lookup.</summary>
    void GetRow(in WeightMatrix matrix, int row, Span<float> destination);

    /// <summary>y = x / sqrt(mean(x²) + eps) ⊙ weight, for each row of length weight.Length.</summary>
    void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps, Span<float> y);

    /// <summary>x += y elementwise.</summary>
    void Add(Span<float> x, ReadOnlySpan<float> y);

    /// <summary>Adds a bias vector to every row of x.</summary>
    void AddRowBias(Span<float> x, ReadOnlySpan<float> bias);

    /// <summary>gate ← silu(gate) ⊙ up.</summary>
    void SwiGlu(Span<float> gate, ReadOnlySpan<float> up);

    /// <summary>
    /// Rotates the first <paramref name="rotaryDims"/> elements of each head in place. x holds
    /// <c>positions.Length</c> rows of <c>heads × headDim</c>.
    /// </summary>
    void Rope(Span<float> x, int heads, int headDim, ReadOnlySpan<int> positions, in RopeParameters rope);

    /// <summary>
    /// Causal multi-head attention for a batch of new tokens over a KV cache that already holds their keys and values.
    /// q: tokens × (heads × headDim); output: tokens × (heads × valueDim).
    /// </summary>
    void Attention(ReadOnlySpan<float> q, KvCacheLayer cache, ReadOnlySpan<int> positions, in AttentionShape shape, Span<float> output);
}

/// <summary>RoPE settings as llama.cpp passes them to ggml_rope_ext.</summary>
public readonly record struct RopeParameters(
    RopeLayout Layout,
    int RotaryDims,
    float FreqBase,
    float FreqScale,
    float[]? FreqFactors);

public readonly record struct AttentionShape(int Heads, int KvHeads, int HeadDim, int ValueDim, float Scale);

/// <summary>One layer's key and value cache, each position holding kvHeads × dim elements in F32 or F16.</summary>
public sealed class KvCacheLayer
{
    public KvCacheLayer(GgmlType type, int capacity, int kvHeads, int keyDim, int valueDim)
    {
        if (type is not (GgmlType.F32 or GgmlType.F16)) throw new ArgumentException($"KV cache type {type} is not supported (F32 or F16)");
        Type = type;
        Capacity = capacity;
        KeyStride = kvHeads * keyDim;
        ValueStride = kvHeads * valueDim;
        if (type == GgmlType.F32)
        {
            Keys32 = new float[(long)capacity * KeyStride];
            Values32 = new float[(long)capacity * ValueStride];
        }
        else
        {
            Keys16 = new Half[(long)capacity * KeyStride];
            Values16 = new Half[(long)capacity * ValueStride];
        }
    }

    public GgmlType Type { get; }
    public int Capacity { get; }
    public int KeyStride { get; }
    public int ValueStride { get; }
    public float[]? Keys32 { get; }
    public float[]? Values32 { get; }
    public Half[]? Keys16 { get; }
    public Half[]? Values16 { get; }

    /// <summary>Stores one position's keys and values (already rotated).</summary>
    public void Store(int position, ReadOnlySpan<float> keys, ReadOnlySpan<float> values)
    {
        if ((uint)position >= (uint)Capacity) throw new ArgumentOutOfRangeException(nameof(position), $"position {position} is past the context of {Capacity}");
        if (Type == GgmlType.F32)
        {
            keys.CopyTo(Keys32.AsSpan(position * KeyStride, KeyStride));
            values.CopyTo(Values32.AsSpan(position * ValueStride, ValueStride));
        }
        else
        {
            var k = Keys16.AsSpan(position * KeyStride, KeyStride);
            for (int i = 0; i < k.Length; i++) k[i] = (Half)keys[i];
            var v = Values16.AsSpan(position * ValueStride, ValueStride);
            for (int i = 0; i < v.Length; i++) v[i] = (Half)values[i];
        }
    }
}

using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Liaoyuan.Operators.Quantization;
using Liaoyuan.Operators.Tensors;
using Liaoyuan.Operators.Threading;

namespace Liaoyuan.Operators.Kernels;

/// <summary>
/// Causal attention for one (token, head) pair per job, over the KV cache. With an F16 cache the query and the
/// attention weights are rounded to F16 as llama.cpp rounds them before its F16 matrix products.
/// Scratch lives per thread, so a decode step allocates nothing.
/// </summary>
internal sealed unsafe class AttentionWork : IParallelWork
{
    [ThreadStatic] private static float[]? _scores;
    [ThreadStatic] private static ushort[]? _query16;

    public float* Queries;
    public float* Output;
    public int* Positions;
    public KvCacheLayer Cache = null!;
    public AttentionShape Shape;
    public int Tokens;

    public int Jobs => Tokens * Shape.Heads;

    public void Execute(int job)
    {
        int t = job / Shape.Heads, h = job % Shape.Heads;
        int kvHead = h / (Shape.Heads / Shape.KvHeads);
        int visible = Positions[t] + 1;
        int dim = Shape.HeadDim, valueDim = Shape.ValueDim;
        var query = new ReadOnlySpan<float>(Queries + ((long)t * Shape.Heads + h) * dim, dim);
        var output = new Span<float>(Output + ((long)t * Shape.Heads + h) * valueDim, valueDim);
        float[] scores = _scores is { } s && s.Length >= visible ? s : (_scores = new float[Math.Max(visible, 2 * (_scores?.Length ?? 256))]);
        bool half = Cache.Type == GgmlType.F16;

        float max = float.NegativeInfinity;
        if (half)
        {
            ushort[] q16 = _query16 is { } q && q.Length >= dim ? q : (_query16 = new ushort[dim]);
            for (int i = 0; i < dim; i++) q16[i] = Float16.FromSingle(query[i]);
            var keys = MemoryMarshal.Cast<Half, ushort>(Cache.Keys16.AsSpan());
            for (int j = 0; j < visible; j++)
            {
                float score = FloatDotProducts.F16(q16.AsSpan(0, dim), keys.Slice(j * Cache.KeyStride + kvHead * dim, dim)) * Shape.Scale;
                scores[j] = score;
                if (score > max) max = score;
            }
        }
        else
        {
            var keys = Cache.Keys32.AsSpan();
            for (int j = 0; j < visible; j++)
            {
                float score = Vectors.VectorMath.Dot(query, keys.Slice(j * Cache.KeyStride + kvHead * dim, dim)) * Shape.Scale;
                scores[j] = score;
                if (score > max) max = score;
            }
        }

        double sum = 0;
        for (int j = 0; j < visible; j++)
        {
            float e = MathF.Exp(scores[j] - max);
            scores[j] = e;
            sum += e;
        }
        float inverse = (float)(1.0 / sum);
        output.Clear();
        if (half)
        {
            var values = MemoryMarshal.Cast<Half, ushort>(Cache.Values16.AsSpan());
            for (int j = 0; j < visible; j++)
            {
                float weight = Float16.ToSingle(Float16.FromSingle(scores[j] * inverse));
                AccumulateHalf(weight, values.Slice(j * Cache.ValueStride + kvHead * valueDim, valueDim), output);
            }
        }
        else
        {
            var values = Cache.Values32.AsSpan();
            for (int j = 0; j < visible; j++)
                Vectors.VectorMath.Axpy(scores[j] * inverse, values.Slice(j * Cache.ValueStride + kvHead * valueDim, valueDim), output);
        }
    }

    /// <summary>output += weight × widen(values).</summary>
    private static void AccumulateHalf(float weight, ReadOnlySpan<ushort> values, Span<float> output)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var w = Vector256.Create(weight);
            ref ushort source = ref MemoryMarshal.GetReference(values);
            ref float target = ref MemoryMarshal.GetReference(output);
            for (; i + 8 <= values.Length; i += 8)
            {
                var widened = Float16.Widen(FloatRows.LoadWidened(ref source, i));
                Vector256.FusedMultiplyAdd(w, widened, Vector256.LoadUnsafe(ref target, (nuint)i)).StoreUnsafe(ref target, (nuint)i);
            }
        }
        for (; i < values.Length; i++) output[i] = MathF.FusedMultiplyAdd(weight, Float16.ToSingle(values[i]), output[i]);
    }
}

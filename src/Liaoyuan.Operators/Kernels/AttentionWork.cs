using System.Runtime.Intrinsics;
using Liaoyuan.Operators.Quantization;
using Liaoyuan.Operators.Threading;

namespace Liaoyuan.Operators.Kernels;

/// <summary>
/// Causal attention for one (token, head) pair per job over float keys and values: the F32 cache itself, or an
/// F16 cache widened once per call (<see cref="CacheWideningWork"/>) so that no job widens a key again. With an
/// F16 cache the query and the attention weights are rounded to F16 as llama.cpp rounds them before its F16
/// matrix products, and the products keep the F16 kernels' summation order, so the results are the same bits.
/// Scratch lives per thread, so a decode step allocates nothing.
/// </summary>
internal sealed unsafe class AttentionWork : IParallelWork
{
    [ThreadStatic] private static float[]? _scores;
    [ThreadStatic] private static float[]? _roundedQuery;

    public float* Queries;
    public float* Output;
    public int* Positions;
    public float* Keys;
    public float* Values;
    public int KeyStride;
    public int ValueStride;
    public bool HalfPrecision;
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
        float[] scores = _scores is { } s && s.Length >= visible ? s : (_scores = new float[Math.Max(visible, 2 * (_scores?.Length ?? 256))]);
        if (HalfPrecision)
        {
            float[] rounded = _roundedQuery is { } q && q.Length >= dim ? q : (_roundedQuery = new float[dim]);
            for (int i = 0; i < dim; i++) rounded[i] = (float)(Half)query[i];
            query = rounded.AsSpan(0, dim);
        }

        float max = float.NegativeInfinity;
        float* key = Keys + (long)kvHead * dim;
        int j = 0;
        if (HalfPrecision && dim % 32 == 0 && Vector256.IsHardwareAccelerated && System.Runtime.Intrinsics.X86.Sse.IsSupported)
        {
            fixed (float* q = query)
            fixed (float* scoreBuffer = scores)
            {
                for (; j + 4 <= visible; j += 4, key += 4L * KeyStride)
                {
                    var four = FloatDotProducts.WidenedF16x4(q, key, KeyStride, dim) * Vector128.Create(Shape.Scale);
                    four.Store(scoreBuffer + j);
                    max = MathF.Max(max, MathF.Max(MathF.Max(four[0], four[1]), MathF.Max(four[2], four[3])));
                }
            }
        }
        for (; j < visible; j++, key += KeyStride)
        {
            var k = new ReadOnlySpan<float>(key, dim);
            float score = (HalfPrecision ? FloatDotProducts.WidenedF16(query, k) : Vectors.VectorMath.Dot(query, k)) * Shape.Scale;
            scores[j] = score;
            if (score > max) max = score;
        }

        double sum = Vectors.VectorExp.ExpAndSum(scores.AsSpan(0, visible), max);
        float inverse = (float)(1.0 / sum);
        int n = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var factor = Vector256.Create(inverse);
            for (; n + 8 <= visible; n += 8)
            {
                var weights = Vector256.Create(scores, n) * factor;
                (HalfPrecision ? Float16.RoundNonNegative(weights) : weights).CopyTo(scores, n);
            }
        }
        for (; n < visible; n++)
            scores[n] = HalfPrecision ? (float)(Half)(scores[n] * inverse) : scores[n] * inverse;

        fixed (float* weights = scores)
            WeightedSum(weights, visible, Values + (long)kvHead * valueDim, ValueStride, Output + ((long)t * Shape.Heads + h) * valueDim, valueDim);
    }

    /// <summary>
    /// output = Σ_j weights[j] · values[j], one fused multiply-add per key in key order starting from zero (the
    /// order of an axpy loop), with 32 outputs held in registers while the keys stream past.
    /// </summary>
    private static void WeightedSum(float* weights, int count, float* values, int stride, float* output, int dim)
    {
        int c = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; c + 32 <= dim; c += 32)
            {
                Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
                float* v = values + c;
                for (int j = 0; j < count; j++, v += stride)
                {
                    var w = Vector256.Create(weights[j]);
                    a0 = Vector256.FusedMultiplyAdd(Vector256.Load(v), w, a0);
                    a1 = Vector256.FusedMultiplyAdd(Vector256.Load(v + 8), w, a1);
                    a2 = Vector256.FusedMultiplyAdd(Vector256.Load(v + 16), w, a2);
                    a3 = Vector256.FusedMultiplyAdd(Vector256.Load(v + 24), w, a3);
                }
                a0.Store(output + c);
                a1.Store(output + c + 8);
                a2.Store(output + c + 16);
                a3.Store(output + c + 24);
            }
        }
        for (; c < dim; c++)
        {
            float acc = 0;
            float* v = values + c;
            for (int j = 0; j < count; j++, v += stride) acc = MathF.FusedMultiplyAdd(*v, weights[j], acc);
            output[c] = acc;
        }
    }
}

/// <summary>Widens the first rows of an F16 cache layer to floats, a block of positions per job.</summary>
internal sealed unsafe class CacheWideningWork : IParallelWork
{
    private const int PositionsPerJob = 64;

    public KvCacheLayer Cache = null!;
    public float* Keys;
    public float* Values;
    public int Positions;

    public int Jobs => (Positions + PositionsPerJob - 1) / PositionsPerJob;

    public void Execute(int job)
    {
        int first = job * PositionsPerJob, count = Math.Min(PositionsPerJob, Positions - first);
        Widen(Cache.Keys16!, first * Cache.KeyStride, count * Cache.KeyStride, Keys);
        Widen(Cache.Values16!, first * Cache.ValueStride, count * Cache.ValueStride, Values);
    }

    private static void Widen(Half[] source, int start, int length, float* destination) =>
        FloatRows.ReadF16(System.Runtime.InteropServices.MemoryMarshal.AsBytes(source.AsSpan(start, length)), new Span<float>(destination + start, length));
}

using Liaoyuan.Operators.Tensors;

namespace Liaoyuan.Operators.Kernels;

public sealed partial class CpuKernels
{
    private readonly AttentionWork _attention = new();
    private readonly CacheWideningWork _widening = new();
    private float[] _widenedKeys = [];
    private float[] _widenedValues = [];

    public unsafe void Attention(ReadOnlySpan<float> q, KvCacheLayer cache, ReadOnlySpan<int> positions, in AttentionShape shape, Span<float> output)
    {
        if (shape.Heads % shape.KvHeads != 0) throw new ArgumentException($"{shape.Heads} heads are not a multiple of {shape.KvHeads} KV heads");
        int visible = 0;
        foreach (int p in positions) visible = Math.Max(visible, p + 1);
        bool half = cache.Type == GgmlType.F16;
        // Every (token, head) job reads the same keys; widening them once here is cheaper than once per job.
        float[] keys = half ? Grow(ref _widenedKeys, visible * cache.KeyStride) : cache.Keys32!;
        float[] values = half ? Grow(ref _widenedValues, visible * cache.ValueStride) : cache.Values32!;
        var work = _attention;
        fixed (float* queries = q)
        fixed (float* result = output)
        fixed (int* at = positions)
        fixed (float* keyData = keys)
        fixed (float* valueData = values)
        {
            if (half)
            {
                _widening.Cache = cache;
                _widening.Keys = keyData;
                _widening.Values = valueData;
                _widening.Positions = visible;
                _pool.Run(_widening, _widening.Jobs);
            }
            work.Queries = queries;
            work.Output = result;
            work.Positions = at;
            work.Keys = keyData;
            work.Values = valueData;
            work.KeyStride = cache.KeyStride;
            work.ValueStride = cache.ValueStride;
            work.HalfPrecision = half;
            work.Shape = shape;
            work.Tokens = positions.Length;
            _pool.Run(work, work.Jobs);
        }
    }
}

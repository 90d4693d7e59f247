namespace Liaoyuan.Operators.Kernels;

public sealed partial class CpuKernels
{
    private readonly AttentionWork _attention = new();

    public unsafe void Attention(ReadOnlySpan<float> q, KvCacheLayer cache, ReadOnlySpan<int> positions, in AttentionShape shape, Span<float> output)
    {
        if (shape.Heads % shape.KvHeads != 0) throw new ArgumentException($"{shape.Heads} heads are not a multiple of {shape.KvHeads} KV heads");
        var work = _attention;
        fixed (float* queries = q)
        fixed (float* result = output)
        fixed (int* at = positions)
        {
            work.Queries = queries;
            work.Output = result;
            work.Positions = at;
            work.Cache = cache;
            work.Shape = shape;
            work.Tokens = positions.Length;
            _pool.Run(work, work.Jobs);
        }
    }
}

using Liaoyuan.Operators.Tensors;
using Liaoyuan.Operators.Vectors;

namespace Liaoyuan.Operators.Kernels;

public sealed partial class CpuKernels
{
    public void Attention(ReadOnlySpan<float> q, KvCacheLayer cache, ReadOnlySpan<int> positions, in AttentionShape shape, Span<float> output)
    {
        int tokens = positions.Length;
        int groups = shape.Heads / shape.KvHeads;
        bool halfCache = cache.Type == GgmlType.F16;
        int maxPosition = 0;
        foreach (int p in positions) maxPosition = Math.Max(maxPosition, p);
        float[] scores = new float[maxPosition + 1];
        float[] query = new float[shape.HeadDim];
        float[] key = new float[shape.HeadDim];
        for (int t = 0; t < tokens; t++)
        {
            int visible = positions[t] + 1;
            for (int h = 0; h < shape.Heads; h++)
            {
                int kvHead = h / groups;
                var qHead = q.Slice((t * shape.Heads + h) * shape.HeadDim, shape.HeadDim);
                // With an F16 cache llama.cpp converts q to F16 for the K·q product and the probabilities to F16
                // for the V product; rounding the same way keeps the logits in step.
                for (int i = 0; i < query.Length; i++) query[i] = halfCache ? (float)(Half)qHead[i] : qHead[i];
                float max = float.NegativeInfinity;
                for (int j = 0; j < visible; j++)
                {
                    int keyOffset = j * cache.KeyStride + kvHead * shape.HeadDim;
                    float dot;
                    if (halfCache)
                    {
                        var k16 = cache.Keys16.AsSpan(keyOffset, shape.HeadDim);
                        for (int i = 0; i < key.Length; i++) key[i] = (float)k16[i];
                        dot = VectorMath.Dot(query, key);
                    }
                    else
                    {
                        dot = VectorMath.Dot(query, cache.Keys32.AsSpan(keyOffset, shape.HeadDim));
                    }
                    float s = dot * shape.Scale;
                    scores[j] = s;
                    if (s > max) max = s;
                }
                double sum = 0;
                for (int j = 0; j < visible; j++)
                {
                    float e = MathF.Exp(scores[j] - max);
                    scores[j] = e;
                    sum += e;
                }
                float inverse = (float)(1.0 / sum);
                var outHead = output.Slice((t * shape.Heads + h) * shape.ValueDim, shape.ValueDim);
                outHead.Clear();
                for (int j = 0; j < visible; j++)
                {
                    float weight = scores[j] * inverse;
                    int valueOffset = j * cache.ValueStride + kvHead * shape.ValueDim;
                    if (halfCache)
                    {
                        weight = (float)(Half)weight;
                        var v16 = cache.Values16.AsSpan(valueOffset, shape.ValueDim);
                        for (int i = 0; i < outHead.Length; i++) outHead[i] += weight * (float)v16[i];
                    }
                    else
                    {
                        VectorMath.Axpy(weight, cache.Values32.AsSpan(valueOffset, shape.ValueDim), outHead);
                    }
                }
            }
        }
    }
}

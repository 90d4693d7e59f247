using Liaoyuan.Operators.Kernels;

namespace Liaoyuan.Engine.Models.Architectures;

/// <summary>
/// `llama` (Llama 2/3/3.1/3.2, Mistral): pre-norm decoder with grouped-query attention and SwiGLU.
///   h   = x + W_o · Attn(RoPE(W_q · norm(x)), RoPE(W_k · norm(x)), W_v · norm(x))
///   out = h + W_down · (silu(W_gate · norm(h)) ⊙ W_up · norm(h))
/// RoPE pairs adjacent elements (llama.cpp's converter permutes Q and K to match); Llama 3.1's frequency
/// scaling arrives as the `rope_freqs.weight` factors.
/// </summary>
public sealed class Llama(ModelTensors tensors, ModelHyperparameters config, IKernels kernels)
    : TransformerModel(tensors, config, kernels)
{
    protected override RopeLayout RopeLayout => RopeLayout.Normal;

    protected override LayerWeights LoadLayer(ModelTensors t, int layer) => LoadStandardLayer(t, layer);

    protected override void Layer(int layer, ForwardState s)
    {
        var w = Layers[layer];
        int n = s.Tokens, embd = Config.EmbeddingLength;
        Kernels.RmsNorm(s.X.AsSpan(0, n * embd), w.AttentionNorm, Config.RmsEpsilon, s.Norm.AsSpan(0, n * embd));
        MatMul(w.Query, s.Norm, s.Q, s);
        MatMul(w.Key, s.Norm, s.K, s);
        MatMul(w.Value, s.Norm, s.V, s);
        // Some llama-architecture checkpoints carry attention biases; llama.cpp adds them when present.
        AddBias(s.Q, w.QueryBias, n);
        AddBias(s.K, w.KeyBias, n);
        AddBias(s.V, w.ValueBias, n);
        Kernels.Rope(s.Q.AsSpan(0, n * Config.HeadCount * Config.KeyLength), Config.HeadCount, Config.KeyLength, s.Positions, Rope);
        Kernels.Rope(s.K.AsSpan(0, n * Config.KvHeadCount * Config.KeyLength), Config.KvHeadCount, Config.KeyLength, s.Positions, Rope);
        AttendAndAddResidual(layer, w, s);
        SwiGluFeedForward(w, s);
    }
}

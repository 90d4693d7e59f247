using Liaoyuan.Operators.Kernels;

namespace Liaoyuan.Engine.Models.Architectures;

/// <summary>
/// `qwen2` (Qwen2, Qwen2.5): the Llama layer with biases on the Q, K and V projections and NeoX-style RoPE
/// (each element paired with the one half a head away).
///   h   = x + W_o · Attn(RoPE(W_q · norm(x) + b_q), RoPE(W_k · norm(x) + b_k), W_v · norm(x) + b_v)
///   out = h + W_down · (silu(W_gate · norm(h)) ⊙ W_up · norm(h))
/// </summary>
public sealed class Qwen2(ModelTensors tensors, ModelHyperparameters config, IKernels kernels)
    : TransformerModel(tensors, config, kernels)
{
    protected override RopeLayout RopeLayout => RopeLayout.NeoX;

    protected override LayerWeights LoadLayer(ModelTensors t, int layer) => LoadStandardLayer(t, layer, biases: true);

    protected override void Layer(int layer, ForwardState s)
    {
        var w = Layers[layer];
        int n = s.Tokens, embd = Config.EmbeddingLength;
        Kernels.RmsNorm(s.X.AsSpan(0, n * embd), w.AttentionNorm, Config.RmsEpsilon, s.Norm.AsSpan(0, n * embd));
        MatMul(w.Query, s.Norm, s.Q, s);
        AddBias(s.Q, w.QueryBias, n);
        MatMul(w.Key, s.Norm, s.K, s);
        AddBias(s.K, w.KeyBias, n);
        MatMul(w.Value, s.Norm, s.V, s);
        AddBias(s.V, w.ValueBias, n);
        Kernels.Rope(s.Q.AsSpan(0, n * Config.HeadCount * Config.KeyLength), Config.HeadCount, Config.KeyLength, s.Positions, Rope);
        Kernels.Rope(s.K.AsSpan(0, n * Config.KvHeadCount * Config.KeyLength), Config.KvHeadCount, Config.KeyLength, s.Positions, Rope);
        AttendAndAddResidual(layer, w, s);
        SwiGluFeedForward(w, s);
    }
}

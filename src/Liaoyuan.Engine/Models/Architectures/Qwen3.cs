using Liaoyuan.Operators.Kernels;

namespace Liaoyuan.Engine.Models.Architectures;

/// <summary>
/// `qwen3`: no projection biases; instead each query and key head is RMS-normalised (q_norm, k_norm) before
/// NeoX-style RoPE. The head size is its own hyperparameter (attention.key_length), not embedding / heads.
///   q = RoPE(headnorm(W_q · norm(x))),  k = RoPE(headnorm(W_k · norm(x))),  v = W_v · norm(x)
///   h = x + W_o · Attn(q, k, v);  out = h + W_down · (silu(W_gate · norm(h)) ⊙ W_up · norm(h))
/// </summary>
public sealed class Qwen3(ModelTensors tensors, ModelHyperparameters config, IKernels kernels)
    : TransformerModel(tensors, config, kernels)
{
    protected override RopeLayout RopeLayout => RopeLayout.NeoX;

    protected override LayerWeights LoadLayer(ModelTensors t, int layer) => LoadStandardLayer(t, layer, headNorms: true);

    protected override void Layer(int layer, ForwardState s)
    {
        var w = Layers[layer];
        int n = s.Tokens, embd = Config.EmbeddingLength;
        Kernels.RmsNorm(s.X.AsSpan(0, n * embd), w.AttentionNorm, Config.RmsEpsilon, s.Norm.AsSpan(0, n * embd));
        MatMul(w.Query, s.Norm, s.Q, s);
        MatMul(w.Key, s.Norm, s.K, s);
        MatMul(w.Value, s.Norm, s.V, s);
        HeadNorm(s.Q, w.QueryNorm!, Config.HeadCount, n);
        HeadNorm(s.K, w.KeyNorm!, Config.KvHeadCount, n);
        Kernels.Rope(s.Q.AsSpan(0, n * Config.HeadCount * Config.KeyLength), Config.HeadCount, Config.KeyLength, s.Positions, Rope);
        Kernels.Rope(s.K.AsSpan(0, n * Config.KvHeadCount * Config.KeyLength), Config.KvHeadCount, Config.KeyLength, s.Positions, Rope);
        AttendAndAddResidual(layer, w, s);
        SwiGluFeedForward(w, s);
    }
}

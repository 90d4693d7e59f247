using Liaoyuan.Operators.Vectors;
using Liaoyuan.Training.Ops;

namespace Liaoyuan.Training.Model;

/// <summary>One decoder layer's parameters, named as llama.cpp names them (blk.N.*).</summary>
public sealed class LlamaLayerParameters
{
    internal LlamaLayerParameters(int layer, LlamaShape s)
    {
        string p = $"blk.{layer}.";
        AttentionNorm = new Parameter(p + "attn_norm.weight", [s.Dim], decay: false);
        Query = new Parameter(p + "attn_q.weight", [s.Dim, s.QueryWidth], decay: true);
        Key = new Parameter(p + "attn_k.weight", [s.Dim, s.KeyWidth], decay: true);
        Value = new Parameter(p + "attn_v.weight", [s.Dim, s.KeyWidth], decay: true);
        AttentionOutput = new Parameter(p + "attn_output.weight", [s.QueryWidth, s.Dim], decay: true);
        FeedForwardNorm = new Parameter(p + "ffn_norm.weight", [s.Dim], decay: false);
        Gate = new Parameter(p + "ffn_gate.weight", [s.Dim, s.FeedForward], decay: true);
        Up = new Parameter(p + "ffn_up.weight", [s.Dim, s.FeedForward], decay: true);
        Down = new Parameter(p + "ffn_down.weight", [s.FeedForward, s.Dim], decay: true);
    }

    public Parameter AttentionNorm { get; }
    public Parameter Query { get; }
    public Parameter Key { get; }
    public Parameter Value { get; }
    public Parameter AttentionOutput { get; }
    public Parameter FeedForwardNorm { get; }
    public Parameter Gate { get; }
    public Parameter Up { get; }
    public Parameter Down { get; }

    public IEnumerable<Parameter> All => [AttentionNorm, Query, Key, Value, AttentionOutput, FeedForwardNorm, Gate, Up, Down];
}

/// <summary>
/// A `llama` decoder in fp32 with a backward pass:
///   x₀ = E[tokens]
///   hₗ = xₗ + W_o · Attn(RoPE(W_q · norm(xₗ)), RoPE(W_k · norm(xₗ)), W_v · norm(xₗ))
///   xₗ₊₁ = hₗ + W_down · (silu(W_gate · norm(hₗ)) ⊙ W_up · norm(hₗ))
///   logits = W_out · norm(x_L),  loss = cross-entropy(logits, next tokens)
/// Parameters are kept in llama.cpp's tensor layout, so export is a copy.
/// </summary>
public sealed class LlamaTrainingModel
{
    private readonly Rope _rope;
    private readonly AttentionShape _attention;

    public LlamaTrainingModel(LlamaShape shape)
    {
        shape.Validate();
        Shape = shape;
        TokenEmbedding = new Parameter("token_embd.weight", [shape.Dim, shape.Vocab], decay: true);
        Layers = Enumerable.Range(0, shape.Layers).Select(l => new LlamaLayerParameters(l, shape)).ToArray();
        OutputNorm = new Parameter("output_norm.weight", [shape.Dim], decay: false);
        Output = new Parameter("output.weight", [shape.Dim, shape.Vocab], decay: true);
        Parameters = [TokenEmbedding, .. Layers.SelectMany(l => l.All), OutputNorm, Output];
        _rope = new Rope(shape.HeadDim, shape.Context, shape.RopeBase);
        _attention = new AttentionShape(shape.Heads, shape.KvHeads, shape.HeadDim, shape.Context);
    }

    public LlamaShape Shape { get; }
    public Parameter TokenEmbedding { get; }
    public LlamaLayerParameters[] Layers { get; }
    public Parameter OutputNorm { get; }
    public Parameter Output { get; }
    public IReadOnlyList<Parameter> Parameters { get; }
    public long ParameterCount => Parameters.Sum(p => (long)p.Value.Length);

    /// <summary>
    /// GPT-2 / Llama initialisation: matrices N(0, 0.02), the two projections that write into the residual stream
    /// (attn_output, ffn_down) scaled by 1/sqrt(2·layers) so the stream's variance does not grow with depth; norm gains 1.
    /// </summary>
    public void Initialize(TrainingRandom random)
    {
        float residualScale = 1.0f / MathF.Sqrt(2.0f * Shape.Layers);
        foreach (var p in Parameters)
        {
            if (!p.Decay)
            {
                Array.Fill(p.Value, 1.0f);
                continue;
            }
            bool residual = p.Name.EndsWith("attn_output.weight", StringComparison.Ordinal) || p.Name.EndsWith("ffn_down.weight", StringComparison.Ordinal);
            double std = 0.02 * (residual ? residualScale : 1.0);
            for (int i = 0; i < p.Value.Length; i++) p.Value[i] = (float)(random.NextGaussian() * std);
        }
    }

    public void ZeroGradients()
    {
        foreach (var p in Parameters) Array.Clear(p.Gradient);
    }

    /// <summary>Runs the forward pass; <see cref="Activations.Logits"/> then holds rows × vocab logits.</summary>
    public void Forward(Compute compute, int[] tokens, Activations a)
    {
        var s = Shape;
        int n = a.Rows;
        if (tokens.Length != n) throw new ArgumentException($"expected {n} tokens ({a.Sequences} sequences of {s.Context}), got {tokens.Length}");
        Embedding.Forward(TokenEmbedding.Value, tokens, a.Layers.Length > 0 ? a.Layers[0].Input : a.Final, s.Dim, s.Vocab);
        for (int l = 0; l < Layers.Length; l++)
        {
            var w = Layers[l];
            var act = a.Layers[l];
            float[] output = l + 1 < Layers.Length ? a.Layers[l + 1].Input : a.Final;

            RmsNorm.Forward(compute, act.Input, w.AttentionNorm.Value, s.RmsEpsilon, act.AttentionNormed, act.AttentionRms, n);
            MatMul.Forward(compute, act.AttentionNormed, w.Query.Value, act.Query, n, s.Dim, s.QueryWidth);
            MatMul.Forward(compute, act.AttentionNormed, w.Key.Value, act.Key, n, s.Dim, s.KeyWidth);
            MatMul.Forward(compute, act.AttentionNormed, w.Value.Value, act.Value, n, s.Dim, s.KeyWidth);
            _rope.Forward(compute, act.Query, n, s.Heads);
            _rope.Forward(compute, act.Key, n, s.KvHeads);
            Attention.Forward(compute, act.Query, act.Key, act.Value, act.Attended, act.Probabilities, a.Sequences, _attention);
            MatMul.Forward(compute, act.Attended, w.AttentionOutput.Value, a.Projected, n, s.QueryWidth, s.Dim);
            VectorMath.Add(act.Input, a.Projected, act.Middle);

            RmsNorm.Forward(compute, act.Middle, w.FeedForwardNorm.Value, s.RmsEpsilon, act.FeedForwardNormed, act.FeedForwardRms, n);
            MatMul.Forward(compute, act.FeedForwardNormed, w.Gate.Value, act.Gate, n, s.Dim, s.FeedForward);
            MatMul.Forward(compute, act.FeedForwardNormed, w.Up.Value, act.Up, n, s.Dim, s.FeedForward);
            SwiGlu.Forward(compute, act.Gate, act.Up, act.Hidden, act.Hidden.Length);
            MatMul.Forward(compute, act.Hidden, w.Down.Value, a.Projected, n, s.FeedForward, s.Dim);
            VectorMath.Add(act.Middle, a.Projected, output);
        }
        RmsNorm.Forward(compute, a.Final, OutputNorm.Value, s.RmsEpsilon, a.FinalNormed, a.FinalRms, n);
        MatMul.Forward(compute, a.FinalNormed, Output.Value, a.Logits, n, s.Dim, s.Vocab);
    }

    /// <summary>Mean cross-entropy of <paramref name="targets"/> under the model, without gradients.</summary>
    public double Loss(Compute compute, int[] tokens, int[] targets, Activations a)
    {
        Forward(compute, tokens, a);
        return CrossEntropy.Loss(a.Logits, targets, Shape.Vocab);
    }

    /// <summary>
    /// Forward and backward over one batch: returns the mean loss and adds its gradient, times
    /// <paramref name="gradientScale"/>, to every parameter's <see cref="Parameter.Gradient"/>.
    /// </summary>
    public double ForwardBackward(Compute compute, int[] tokens, int[] targets, Activations a, float gradientScale = 1f)
    {
        var s = Shape;
        int n = a.Rows;
        Forward(compute, tokens, a);
        double loss = CrossEntropy.ForwardBackward(compute, a.Logits, targets, s.Vocab, gradientScale);

        float[] dx = a.ResidualGrad, dNormed = a.NormedGrad;
        MatMul.Backward(compute, a.FinalNormed, Output.Value, a.Logits, dNormed, Output.Gradient, n, s.Dim, s.Vocab);
        Array.Clear(dx);
        RmsNorm.Backward(compute, a.Final, OutputNorm.Value, a.FinalRms, dNormed, dx, OutputNorm.Gradient, n);
        for (int l = Layers.Length - 1; l >= 0; l--)
        {
            var w = Layers[l];
            var act = a.Layers[l];
            // Feed-forward block: dx holds ∂loss/∂xₗ₊₁, which flows unchanged into hₗ through the residual.
            MatMul.Backward(compute, act.Hidden, w.Down.Value, dx, a.HiddenGrad, w.Down.Gradient, n, s.FeedForward, s.Dim);
            SwiGlu.Backward(compute, act.Gate, act.Up, a.HiddenGrad, a.GateGrad, a.UpGrad, act.Hidden.Length);
            MatMul.Backward(compute, act.FeedForwardNormed, w.Gate.Value, a.GateGrad, dNormed, w.Gate.Gradient, n, s.Dim, s.FeedForward);
            MatMul.Backward(compute, act.FeedForwardNormed, w.Up.Value, a.UpGrad, dNormed, w.Up.Gradient, n, s.Dim, s.FeedForward, accumulateInput: true);
            RmsNorm.Backward(compute, act.Middle, w.FeedForwardNorm.Value, act.FeedForwardRms, dNormed, dx, w.FeedForwardNorm.Gradient, n);

            // Attention block: dx now holds ∂loss/∂hₗ, which flows unchanged into xₗ.
            MatMul.Backward(compute, act.Attended, w.AttentionOutput.Value, dx, a.AttendedGrad, w.AttentionOutput.Gradient, n, s.QueryWidth, s.Dim);
            Attention.Backward(compute, act.Query, act.Key, act.Value, act.Probabilities, a.AttendedGrad, a.QueryGrad, a.KeyGrad, a.ValueGrad, a.Sequences, _attention);
            _rope.Backward(compute, a.QueryGrad, n, s.Heads);
            _rope.Backward(compute, a.KeyGrad, n, s.KvHeads);
            MatMul.Backward(compute, act.AttentionNormed, w.Query.Value, a.QueryGrad, dNormed, w.Query.Gradient, n, s.Dim, s.QueryWidth);
            MatMul.Backward(compute, act.AttentionNormed, w.Key.Value, a.KeyGrad, dNormed, w.Key.Gradient, n, s.Dim, s.KeyWidth, accumulateInput: true);
            MatMul.Backward(compute, act.AttentionNormed, w.Value.Value, a.ValueGrad, dNormed, w.Value.Gradient, n, s.Dim, s.KeyWidth, accumulateInput: true);
            RmsNorm.Backward(compute, act.Input, w.AttentionNorm.Value, act.AttentionRms, dNormed, dx, w.AttentionNorm.Gradient, n);
        }
        Embedding.Backward(compute, dx, tokens, TokenEmbedding.Gradient, s.Dim);
        return loss;
    }
}

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
        if (s.AttentionBiases)
        {
            QueryBias = new Parameter(p + "attn_q.bias", [s.QueryWidth], decay: false);
            KeyBias = new Parameter(p + "attn_k.bias", [s.KeyWidth], decay: false);
            ValueBias = new Parameter(p + "attn_v.bias", [s.KeyWidth], decay: false);
        }
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
    /// <summary>qwen2's projection biases; null for llama.</summary>
    public Parameter? QueryBias { get; }
    public Parameter? KeyBias { get; }
    public Parameter? ValueBias { get; }
    public Parameter AttentionOutput { get; }
    public Parameter FeedForwardNorm { get; }
    public Parameter Gate { get; }
    public Parameter Up { get; }
    public Parameter Down { get; }

    public IEnumerable<Parameter> All => QueryBias is null
        ? [AttentionNorm, Query, Key, Value, AttentionOutput, FeedForwardNorm, Gate, Up, Down]
        : [AttentionNorm, Query, QueryBias, Key, KeyBias!, Value, ValueBias!, AttentionOutput, FeedForwardNorm, Gate, Up, Down];

    /// <summary>The projection a LoRA target name ("q", "down", ...) stands for.</summary>
    public Parameter Target(string name) => name switch
    {
        "q" => Query,
        "k" => Key,
        "v" => Value,
        "o" => AttentionOutput,
        "gate" => Gate,
        "up" => Up,
        "down" => Down,
        _ => throw new ArgumentException($"unknown LoRA target '{name}'"),
    };
}

/// <summary>
/// A `llama` decoder in fp32 with a backward pass (`qwen2` adds biases to W_q, W_k, W_v and pairs RoPE NeoX-style):
///   x₀ = E[tokens]
///   hₗ = xₗ + W_o · Attn(RoPE(W_q · norm(xₗ)), RoPE(W_k · norm(xₗ)), W_v · norm(xₗ))
///   xₗ₊₁ = hₗ + W_down · (silu(W_gate · norm(hₗ)) ⊙ W_up · norm(hₗ))
///   logits = W_out · norm(x_L),  loss = cross-entropy(logits, next tokens)
/// Parameters are kept in llama.cpp's tensor layout, so export is a copy. With tied embeddings W_out is E itself
/// and both uses add to its one gradient. With LoRA attached, every projection W with an adapter computes
/// W·x + s·B·A·x (<see cref="LowRankAdapter"/>) and the base weights are frozen.
/// </summary>
public sealed class LlamaTrainingModel
{
    private readonly Rope _rope;
    private readonly AttentionShape _attention;
    private readonly Dictionary<Parameter, LowRankAdapter> _adapters = [];

    public LlamaTrainingModel(LlamaShape shape)
    {
        shape.Validate();
        Shape = shape;
        TokenEmbedding = new Parameter("token_embd.weight", [shape.Dim, shape.Vocab], decay: true);
        Layers = Enumerable.Range(0, shape.Layers).Select(l => new LlamaLayerParameters(l, shape)).ToArray();
        OutputNorm = new Parameter("output_norm.weight", [shape.Dim], decay: false);
        Output = shape.TiedEmbeddings ? TokenEmbedding : new Parameter("output.weight", [shape.Dim, shape.Vocab], decay: true);
        Parameters = shape.TiedEmbeddings
            ? [TokenEmbedding, .. Layers.SelectMany(l => l.All), OutputNorm]
            : [TokenEmbedding, .. Layers.SelectMany(l => l.All), OutputNorm, Output];
        _rope = new Rope(shape.HeadDim, shape.Context, shape.RopeBase, shape.NeoXRope);
        _attention = new AttentionShape(shape.Heads, shape.KvHeads, shape.HeadDim, shape.Context);
    }

    public LlamaShape Shape { get; }
    public Parameter TokenEmbedding { get; }
    public LlamaLayerParameters[] Layers { get; }
    public Parameter OutputNorm { get; }
    public Parameter Output { get; }
    /// <summary>The model's own tensors (what a full GGUF holds), each once even when tied.</summary>
    public IReadOnlyList<Parameter> Parameters { get; }
    public long ParameterCount => Parameters.Sum(p => (long)p.Value.Length);
    /// <summary>The LoRA pairs, in layer order then target order; empty without LoRA.</summary>
    public List<LowRankAdapter> Adapters { get; } = [];
    /// <summary>What the optimizer updates: the unfrozen tensors and every adapter's A and B.</summary>
    public IReadOnlyList<Parameter> TrainableParameters =>
        [.. Parameters.Where(p => !p.Frozen), .. Adapters.SelectMany(a => new[] { a.A, a.B })];

    /// <summary>
    /// Freezes the model and adds a LoRA pair to each targeted projection of every layer, initialised from
    /// <paramref name="random"/> (A random, B zero).
    /// </summary>
    public void AttachLora(LoraSettings settings, TrainingRandom random)
    {
        settings.Validate();
        if (Adapters.Count > 0) throw new InvalidOperationException("LoRA is already attached");
        foreach (var p in Parameters) p.Frozen = true;
        ulong site = 0;
        foreach (var layer in Layers)
            foreach (string target in LoraSettings.TargetTensors.Keys.Where(settings.Targets.Contains))
            {
                var weight = layer.Target(target);
                var adapter = new LowRankAdapter(weight, settings.Rank, settings.Alpha, settings.Dropout, site++);
                adapter.Initialize(random);
                Adapters.Add(adapter);
                _adapters.Add(weight, adapter);
            }
    }

    /// <summary>Folds every adapter into its base weight (W += s·B·A) and removes the adapters.</summary>
    public void MergeAdapters()
    {
        foreach (var adapter in Adapters) adapter.MergeInto(adapter.Weight.Value);
        Adapters.Clear();
        _adapters.Clear();
    }

    /// <summary>
    /// GPT-2 / Llama initialisation: matrices N(0, 0.02), the two projections that write into the residual stream
    /// (attn_output, ffn_down) scaled by 1/sqrt(2·layers) so the stream's variance does not grow with depth; norm gains 1,
    /// biases 0.
    /// </summary>
    public void Initialize(TrainingRandom random)
    {
        float residualScale = 1.0f / MathF.Sqrt(2.0f * Shape.Layers);
        foreach (var p in Parameters)
        {
            if (!p.Decay)
            {
                Array.Fill(p.Value, p.Name.EndsWith(".bias", StringComparison.Ordinal) ? 0f : 1.0f);
                continue;
            }
            bool residual = p.Name.EndsWith("attn_output.weight", StringComparison.Ordinal) || p.Name.EndsWith("ffn_down.weight", StringComparison.Ordinal);
            double std = 0.02 * (residual ? residualScale : 1.0);
            for (int i = 0; i < p.Value.Length; i++) p.Value[i] = (float)(random.NextGaussian() * std);
        }
    }

    public void ZeroGradients()
    {
        foreach (var p in Parameters) p.ClearGradient();
        foreach (var adapter in Adapters)
        {
            adapter.A.ClearGradient();
            adapter.B.ClearGradient();
        }
    }

    /// <summary>Runs the forward pass; <see cref="Activations.Logits"/> then holds rows × vocab logits.</summary>
    public void Forward(Compute compute, int[] tokens, Activations a) => Forward(compute, tokens, a, dropoutPass: null);

    private void Forward(Compute compute, int[] tokens, Activations a, long? dropoutPass)
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

            // Every later layer's attention norm ran fused with the residual step that ends the layer before.
            if (l == 0) RmsNorm.Forward(compute, act.Input, w.AttentionNorm.Value, s.RmsEpsilon, act.AttentionNormed, act.AttentionRms, n);
            Project(compute, act.AttentionNormed, w.Query, dropoutPass, act.Query, n, s.Dim, s.QueryWidth);
            Project(compute, act.AttentionNormed, w.Key, dropoutPass, act.Key, n, s.Dim, s.KeyWidth);
            Project(compute, act.AttentionNormed, w.Value, dropoutPass, act.Value, n, s.Dim, s.KeyWidth);
            if (w.QueryBias is not null)
            {
                Bias.Forward(compute, act.Query, w.QueryBias.Value, n);
                Bias.Forward(compute, act.Key, w.KeyBias!.Value, n);
                Bias.Forward(compute, act.Value, w.ValueBias!.Value, n);
            }
            _rope.Forward(compute, act.Query, n, s.Heads);
            _rope.Forward(compute, act.Key, n, s.KvHeads);
            Attention.Forward(compute, act.Query, act.Key, act.Value, act.Attended, act.Probabilities, a.Sequences, _attention);
            Project(compute, act.Attended, w.AttentionOutput, dropoutPass, a.Projected, n, s.QueryWidth, s.Dim);
            RmsNorm.AddForward(compute, act.Input, a.Projected, act.Middle, w.FeedForwardNorm.Value, s.RmsEpsilon, act.FeedForwardNormed, act.FeedForwardRms, n);

            Project(compute, act.FeedForwardNormed, w.Gate, dropoutPass, act.Gate, n, s.Dim, s.FeedForward);
            Project(compute, act.FeedForwardNormed, w.Up, dropoutPass, act.Up, n, s.Dim, s.FeedForward);
            SwiGlu.Forward(compute, act.Gate, act.Up, act.Hidden, act.Hidden.Length);
            Project(compute, act.Hidden, w.Down, dropoutPass, a.Projected, n, s.FeedForward, s.Dim);
            if (l + 1 < Layers.Length)
            {
                var next = a.Layers[l + 1];
                RmsNorm.AddForward(compute, act.Middle, a.Projected, output, Layers[l + 1].AttentionNorm.Value, s.RmsEpsilon, next.AttentionNormed, next.AttentionRms, n);
            }
            else
            {
                RmsNorm.AddForward(compute, act.Middle, a.Projected, output, OutputNorm.Value, s.RmsEpsilon, a.FinalNormed, a.FinalRms, n);
            }
        }
        if (Layers.Length == 0) RmsNorm.Forward(compute, a.Final, OutputNorm.Value, s.RmsEpsilon, a.FinalNormed, a.FinalRms, n);
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
    /// <paramref name="gradientScale"/>, to every trainable parameter's <see cref="Parameter.Gradient"/>.
    /// <paramref name="dropoutPass"/> numbers this pass for LoRA dropout masks.
    /// </summary>
    public double ForwardBackward(Compute compute, int[] tokens, int[] targets, Activations a, float gradientScale = 1f, long dropoutPass = 0)
    {
        var s = Shape;
        int n = a.Rows;
        Forward(compute, tokens, a, dropoutPass);
        double loss = CrossEntropy.ForwardBackward(compute, a.Logits, targets, s.Vocab, gradientScale);

        float[] dx = a.ResidualGrad, dNormed = a.NormedGrad;
        MatMul.Backward(compute, a.FinalNormed, Output.Value, a.Logits, dNormed, Output.Frozen ? null : Output.Gradient, n, s.Dim, s.Vocab);
        Array.Clear(dx);
        RmsNorm.Backward(compute, a.Final, OutputNorm.Value, a.FinalRms, dNormed, dx, OutputNorm.Gradient, n);
        for (int l = Layers.Length - 1; l >= 0; l--)
        {
            var w = Layers[l];
            var act = a.Layers[l];
            // Feed-forward block: dx holds ∂loss/∂xₗ₊₁, which flows unchanged into hₗ through the residual.
            ProjectBackward(compute, act.Hidden, w.Down, dx, a.HiddenGrad, n, s.FeedForward, s.Dim);
            SwiGlu.Backward(compute, act.Gate, act.Up, a.HiddenGrad, a.GateGrad, a.UpGrad, act.Hidden.Length);
            ProjectBackward(compute, act.FeedForwardNormed, w.Gate, a.GateGrad, dNormed, n, s.Dim, s.FeedForward);
            ProjectBackward(compute, act.FeedForwardNormed, w.Up, a.UpGrad, dNormed, n, s.Dim, s.FeedForward, accumulateInput: true);
            RmsNorm.Backward(compute, act.Middle, w.FeedForwardNorm.Value, act.FeedForwardRms, dNormed, dx, w.FeedForwardNorm.Gradient, n);

            // Attention block: dx now holds ∂loss/∂hₗ, which flows unchanged into xₗ.
            ProjectBackward(compute, act.Attended, w.AttentionOutput, dx, a.AttendedGrad, n, s.QueryWidth, s.Dim);
            Attention.Backward(compute, act.Query, act.Key, act.Value, act.Probabilities, a.AttendedGrad, a.QueryGrad, a.KeyGrad, a.ValueGrad, a.Sequences, _attention);
            _rope.Backward(compute, a.QueryGrad, n, s.Heads);
            _rope.Backward(compute, a.KeyGrad, n, s.KvHeads);
            if (w.QueryBias is not null)
            {
                // The biases are added before RoPE, so they get the gradient RoPE's backward has turned back.
                BiasBackward(compute, a.QueryGrad, w.QueryBias, n);
                BiasBackward(compute, a.KeyGrad, w.KeyBias!, n);
                BiasBackward(compute, a.ValueGrad, w.ValueBias!, n);
            }
            ProjectBackward(compute, act.AttentionNormed, w.Query, a.QueryGrad, dNormed, n, s.Dim, s.QueryWidth);
            ProjectBackward(compute, act.AttentionNormed, w.Key, a.KeyGrad, dNormed, n, s.Dim, s.KeyWidth, accumulateInput: true);
            ProjectBackward(compute, act.AttentionNormed, w.Value, a.ValueGrad, dNormed, n, s.Dim, s.KeyWidth, accumulateInput: true);
            RmsNorm.Backward(compute, act.Input, w.AttentionNorm.Value, act.AttentionRms, dNormed, dx, w.AttentionNorm.Gradient, n);
        }
        if (!TokenEmbedding.Frozen) Embedding.Backward(compute, dx, tokens, TokenEmbedding.Gradient, s.Dim);
        return loss;
    }

    private static void BiasBackward(Compute compute, float[] dy, Parameter bias, int rows)
    {
        if (!bias.Frozen) Bias.Backward(compute, dy, bias.Gradient, rows);
    }

    /// <summary>y = x·Wᵀ, plus the LoRA term when W has an adapter.</summary>
    private void Project(Compute compute, float[] x, Parameter weight, long? dropoutPass, float[] y, int rows, int inputs, int outputs)
    {
        MatMul.Forward(compute, x, weight.Value, y, rows, inputs, outputs);
        if (_adapters.TryGetValue(weight, out var adapter)) adapter.Forward(compute, x, y, rows, dropoutPass);
    }

    private void ProjectBackward(Compute compute, float[] x, Parameter weight, float[] dy, float[] dx, int rows, int inputs, int outputs,
        bool accumulateInput = false)
    {
        MatMul.Backward(compute, x, weight.Value, dy, dx, weight.Frozen ? null : weight.Gradient, rows, inputs, outputs, accumulateInput);
        if (_adapters.TryGetValue(weight, out var adapter)) adapter.Backward(compute, x, dy, dx, rows);
    }
}

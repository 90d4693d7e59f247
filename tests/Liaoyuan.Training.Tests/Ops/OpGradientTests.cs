using Liaoyuan.Training.Ops;
using static Liaoyuan.Training.Tests.Ops.GradientCheck;

namespace Liaoyuan.Training.Tests.Ops;

/// <summary>Every op's fp32 backward against central differences of its float64 reference forward.</summary>
public sealed class OpGradientTests
{
    private readonly Compute _compute = new(2);

    [Fact]
    public void MatMul_backward_matches_finite_differences()
    {
        // 33 inputs and 64 outputs reach both the 4×32 register kernel and the ragged-edge kernel.
        const int rows = 8, inputs = 33, outputs = 64;
        float[] x = Random(rows * inputs, 1), w = Random(outputs * inputs, 2, 0.2), upstream = Random(rows * outputs, 3);
        var y = new float[rows * outputs];
        MatMul.Forward(_compute, x, w, y, rows, inputs, outputs);
        double[] x64 = Widen(x), w64 = Widen(w), up64 = Widen(upstream);
        Close("y", y, ReferenceOps.MatMul(x64, w64, rows, inputs, outputs));

        var dx = new float[x.Length];
        var dw = new float[w.Length];
        MatMul.Backward(_compute, x, w, upstream, dx, dw, rows, inputs, outputs);
        double Loss() => ReferenceOps.Project(ReferenceOps.MatMul(x64, w64, rows, inputs, outputs), up64);
        Compare("dx", x64, Loss, dx);
        Compare("dw", w64, Loss, dw);
    }

    [Fact]
    public void Embedding_backward_matches_finite_differences()
    {
        const int vocab = 7, width = 5;
        int[] tokens = [3, 1, 3, 6, 0, 3];
        float[] table = Random(vocab * width, 4), upstream = Random(tokens.Length * width, 5);
        var x = new float[tokens.Length * width];
        Embedding.Forward(table, tokens, x, width, vocab);
        var grad = new float[table.Length];
        Embedding.Backward(_compute, upstream, tokens, grad, width);
        double[] table64 = Widen(table), up64 = Widen(upstream);
        double Loss()
        {
            var y = new double[x.Length];
            for (int t = 0; t < tokens.Length; t++)
                for (int i = 0; i < width; i++) y[t * width + i] = table64[tokens[t] * width + i];
            return ReferenceOps.Project(y, up64);
        }
        Compare("dE", table64, Loss, grad);
    }

    [Fact]
    public void RmsNorm_backward_matches_finite_differences()
    {
        const int rows = 6, width = 19;
        const float epsilon = 1e-5f;
        float[] x = Random(rows * width, 6), w = Random(width, 7, 0.3, 1.0), upstream = Random(rows * width, 8);
        var y = new float[x.Length];
        var inverseRms = new float[rows];
        RmsNorm.Forward(_compute, x, w, epsilon, y, inverseRms, rows);
        double[] x64 = Widen(x), w64 = Widen(w), up64 = Widen(upstream);
        Close("y", y, ReferenceOps.RmsNorm(x64, w64, epsilon, rows));

        var dx = new float[x.Length];
        var dw = new float[w.Length];
        RmsNorm.Backward(_compute, x, w, inverseRms, upstream, dx, dw, rows);
        double Loss() => ReferenceOps.Project(ReferenceOps.RmsNorm(x64, w64, epsilon, rows), up64);
        Compare("dx", x64, Loss, dx);
        Compare("dw", w64, Loss, dw);
    }

    [Theory]
    [InlineData(false, 8)]
    [InlineData(true, 8)]
    // 36: whole vectors of pairs in both layouts, then a scalar tail.
    [InlineData(false, 36)]
    [InlineData(true, 36)]
    public void Rope_backward_matches_finite_differences(bool neox, int headDim)
    {
        const int context = 5, rows = 10, heads = 3;
        var rope = new Rope(headDim, context, 10000f, neox);
        float[] x = Random(rows * heads * headDim, 9), upstream = Random(x.Length, 10);
        var y = (float[])x.Clone();
        rope.Forward(_compute, y, rows, heads);
        double[] x64 = Widen(x), up64 = Widen(upstream);
        Close("y", y, ReferenceOps.Rope(x64, rows, heads, headDim, context, 10000.0, neox));

        var dx = (float[])upstream.Clone();
        rope.Backward(_compute, dx, rows, heads);
        Compare("dx", x64, () => ReferenceOps.Project(ReferenceOps.Rope(x64, rows, heads, headDim, context, 10000.0, neox), up64), dx);
    }

    [Fact]
    public void Bias_backward_matches_finite_differences()
    {
        const int rows = 70, width = 67; // more rows than one part and more columns than one slice
        float[] y = Random(rows * width, 31), bias = Random(width, 32), upstream = Random(rows * width, 33);
        var output = (float[])y.Clone();
        Bias.Forward(_compute, output, bias, rows);
        double[] y64 = Widen(y), b64 = Widen(bias), up64 = Widen(upstream);
        double[] Reference() => y64.Select((v, i) => v + b64[i % width]).ToArray();
        Close("y", output, Reference());
        var grad = new float[width];
        Bias.Backward(_compute, upstream, grad, rows);
        Compare("db", b64, () => ReferenceOps.Project(Reference(), up64), grad);
    }

    [Fact]
    public void Grouped_query_causal_attention_backward_matches_finite_differences()
    {
        var shape = new AttentionShape(Heads: 4, KvHeads: 2, HeadDim: 8, Context: 5);
        const int sequences = 2;
        int rows = sequences * shape.Context;
        float[] q = Random(rows * shape.QueryWidth, 11), k = Random(rows * shape.KeyWidth, 12), v = Random(rows * shape.KeyWidth, 13);
        float[] upstream = Random(rows * shape.QueryWidth, 14);
        var output = new float[rows * shape.QueryWidth];
        var probabilities = new float[Attention.ProbabilityCount(sequences, shape)];
        Attention.Forward(_compute, q, k, v, output, probabilities, sequences, shape);
        double[] q64 = Widen(q), k64 = Widen(k), v64 = Widen(v), up64 = Widen(upstream);
        double[] Reference() => ReferenceOps.Attention(q64, k64, v64, sequences, shape.Heads, shape.KvHeads, shape.HeadDim, shape.Context);
        Close("o", output, Reference());

        float[] dq = new float[q.Length], dk = new float[k.Length], dv = new float[v.Length];
        Attention.Backward(_compute, q, k, v, probabilities, upstream, dq, dk, dv, sequences, shape);
        double Loss() => ReferenceOps.Project(Reference(), up64);
        Compare("dq", q64, Loss, dq);
        Compare("dk", k64, Loss, dk);
        Compare("dv", v64, Loss, dv);
    }

    /// <summary>A context longer than the attention's 64-row bands, so the banded products meet across band edges.</summary>
    [Fact]
    public void Attention_over_several_bands_matches_reference_and_finite_differences()
    {
        var shape = new AttentionShape(Heads: 2, KvHeads: 1, HeadDim: 8, Context: 150);
        int rows = shape.Context;
        float[] q = Random(rows * shape.QueryWidth, 21), k = Random(rows * shape.KeyWidth, 22), v = Random(rows * shape.KeyWidth, 23);
        float[] upstream = Random(rows * shape.QueryWidth, 24);
        var output = new float[rows * shape.QueryWidth];
        var probabilities = new float[Attention.ProbabilityCount(1, shape)];
        Attention.Forward(_compute, q, k, v, output, probabilities, 1, shape);
        double[] q64 = Widen(q), k64 = Widen(k), v64 = Widen(v), up64 = Widen(upstream);
        double[] Reference() => ReferenceOps.Attention(q64, k64, v64, 1, shape.Heads, shape.KvHeads, shape.HeadDim, shape.Context);
        Close("o", output, Reference());

        float[] dq = new float[q.Length], dk = new float[k.Length], dv = new float[v.Length];
        Attention.Backward(_compute, q, k, v, probabilities, upstream, dq, dk, dv, 1, shape);
        double Loss() => ReferenceOps.Project(Reference(), up64);
        // Rows on both sides of the band edges at 64 and 128, and the first and last.
        int[] positions = [0, 1, 63, 64, 65, 127, 128, 129, 149];
        int[] Elements(int width) => positions.SelectMany(p => new[] { p * width, p * width + width - 1 }).ToArray();
        Compare("dq", q64, Loss, dq, only: Elements(shape.QueryWidth));
        Compare("dk", k64, Loss, dk, only: Elements(shape.KeyWidth));
        Compare("dv", v64, Loss, dv, only: Elements(shape.KeyWidth));
    }

    [Fact]
    public void SwiGlu_backward_matches_finite_differences()
    {
        const int count = 40;
        float[] gate = Random(count, 15, 2.0), up = Random(count, 16), upstream = Random(count, 17);
        var hidden = new float[count];
        SwiGlu.Forward(_compute, gate, up, hidden, count);
        double[] gate64 = Widen(gate), up64 = Widen(up), upstream64 = Widen(upstream);
        Close("h", hidden, ReferenceOps.SwiGlu(gate64, up64));

        float[] dGate = new float[count], dUp = new float[count];
        SwiGlu.Backward(_compute, gate, up, upstream, dGate, dUp, count);
        double Loss() => ReferenceOps.Project(ReferenceOps.SwiGlu(gate64, up64), upstream64);
        Compare("dgate", gate64, Loss, dGate);
        Compare("dup", up64, Loss, dUp);
    }

    [Fact]
    public void CrossEntropy_gradient_matches_finite_differences()
    {
        const int vocab = 11;
        int[] targets = [0, 4, 10, 4, 7];
        float[] logits = Random(targets.Length * vocab, 18, 2.0);
        double[] logits64 = Widen(logits);
        var gradient = (float[])logits.Clone();
        double loss = CrossEntropy.ForwardBackward(_compute, gradient, targets, vocab, gradientScale: 1f);
        double expected = ReferenceOps.CrossEntropy(logits64, targets, vocab);
        Assert.True(Math.Abs(loss - expected) < 1e-5 * expected, $"loss {loss} vs reference {expected}");
        Assert.Equal(expected, CrossEntropy.Loss(logits, targets, vocab), 5);
        Compare("dlogits", logits64, () => ReferenceOps.CrossEntropy(logits64, targets, vocab), gradient);
    }
}

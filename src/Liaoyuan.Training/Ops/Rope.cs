using System.Runtime.Intrinsics;

namespace Liaoyuan.Training.Ops;

/// <summary>
/// Rotary position embedding in llama's adjacent-pair layout: each pair (x₂ᵢ, x₂ᵢ₊₁) of every head turns by
/// pos·θᵢ with θᵢ = base^(−2i/d); in the NeoX layout (qwen2) the pairs are (xᵢ, xᵢ₊d/₂) instead. The rotation is orthogonal, so the backward pass turns the gradient back by −pos·θᵢ.
/// Rows are sequences of <c>Context</c> tokens laid end to end; a row's position is its index within its sequence.
/// </summary>
public sealed class Rope
{
    private readonly float[] _cos, _sin;
    // The adjacent layout's tables per element for whole vectors: cos twice per pair, and (−sin, +sin).
    private readonly float[] _cosPerElement, _sinPerElement;

    private readonly bool _neox;

    public Rope(int headDim, int context, float freqBase, bool neox = false)
    {
        _neox = neox;
        if (headDim % 2 != 0) throw new ArgumentException($"RoPE needs an even head size, got {headDim}", nameof(headDim));
        HeadDim = headDim;
        Context = context;
        int pairs = headDim / 2;
        _cos = new float[context * pairs];
        _sin = new float[context * pairs];
        float thetaScale = MathF.Pow(freqBase, -2.0f / headDim);
        for (int position = 0; position < context; position++)
        {
            // ggml builds the angles by repeated multiplication; the same float steps give the engine's rounding.
            float theta = position;
            for (int i = 0; i < pairs; i++)
            {
                _cos[position * pairs + i] = MathF.Cos(theta);
                _sin[position * pairs + i] = MathF.Sin(theta);
                theta *= thetaScale;
            }
        }
        _cosPerElement = new float[context * headDim];
        _sinPerElement = new float[context * headDim];
        for (int k = 0; k < context * pairs; k++)
        {
            _cosPerElement[2 * k] = _cosPerElement[2 * k + 1] = _cos[k];
            _sinPerElement[2 * k] = -_sin[k];
            _sinPerElement[2 * k + 1] = _sin[k];
        }
    }

    public int HeadDim { get; }
    public int Context { get; }

    public void Forward(Compute compute, float[] x, int rows, int heads) => Rotate(compute, x, rows, heads, direction: 1f);

    /// <summary>Turns the gradient in place back through the rotation.</summary>
    public void Backward(Compute compute, float[] dx, int rows, int heads) => Rotate(compute, dx, rows, heads, direction: -1f);

    private void Rotate(Compute compute, float[] x, int rows, int heads, float direction)
    {
        int pairs = HeadDim / 2, width = heads * HeadDim;
        // The two elements of pair i: adjacent (2i, 2i+1), or half a head apart (i, i+d/2) in the NeoX layout.
        int first = _neox ? 1 : 2, partner = _neox ? pairs : 1;
        compute.ForRanges(rows, 64, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                int table = r % Context * pairs;
                for (int h = 0; h < heads; h++)
                {
                    var head = x.AsSpan(r * width + h * HeadDim, HeadDim);
                    int i = Vector256.IsHardwareAccelerated ? RotateVectors(head, table, direction) : 0;
                    for (; i < pairs; i++)
                    {
                        float cos = _cos[table + i], sin = direction * _sin[table + i];
                        int at = first * i;
                        float a = head[at], b = head[at + partner];
                        head[at] = a * cos - b * sin;
                        head[at + partner] = a * sin + b * cos;
                    }
                }
            }
        });
    }

    /// <summary>
    /// The pairs a whole number of vectors covers, by the scalar loop's expressions lane by lane (the same
    /// products and sums, so the same rounding); returns how many pairs were turned.
    /// </summary>
    private int RotateVectors(Span<float> head, int table, float direction)
    {
        int pairs = HeadDim / 2, i = 0;
        var turn = Vector256.Create(direction);
        if (_neox)
        {
            for (; i + 8 <= pairs; i += 8)
            {
                var a = Vector256.Create(head.Slice(i, 8));
                var b = Vector256.Create(head.Slice(pairs + i, 8));
                var cos = Vector256.Create(_cos.AsSpan(table + i, 8));
                var sin = turn * Vector256.Create(_sin.AsSpan(table + i, 8));
                (a * cos - b * sin).CopyTo(head.Slice(i, 8));
                (a * sin + b * cos).CopyTo(head.Slice(pairs + i, 8));
            }
            return i;
        }
        // x·cos + swap(x)·(∓sin): lane 2i gives x₂ᵢcos − x₂ᵢ₊₁sin, lane 2i+1 gives x₂ᵢ₊₁cos + x₂ᵢsin.
        var swap = Vector256.Create(1, 0, 3, 2, 5, 4, 7, 6);
        int element = table * 2;
        for (; 2 * i + 8 <= HeadDim; i += 4)
        {
            var v = Vector256.Create(head.Slice(2 * i, 8));
            var cos = Vector256.Create(_cosPerElement.AsSpan(element + 2 * i, 8));
            var sin = Vector256.Create(_sinPerElement.AsSpan(element + 2 * i, 8)) * turn;
            (v * cos + Vector256.Shuffle(v, swap) * sin).CopyTo(head.Slice(2 * i, 8));
        }
        return i;
    }
}

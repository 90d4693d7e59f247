namespace Liaoyuan.Training.Ops;

/// <summary>
/// Rotary position embedding in llama's adjacent-pair layout: each pair (x₂ᵢ, x₂ᵢ₊₁) of every head turns by
/// pos·θᵢ with θᵢ = base^(−2i/d); in the NeoX layout (qwen2) the pairs are (xᵢ, xᵢ₊d/₂) instead. The rotation is orthogonal, so the backward pass turns the gradient back by −pos·θᵢ.
/// Rows are sequences of <c>Context</c> tokens laid end to end; a row's position is its index within its sequence.
/// </summary>
public sealed class Rope
{
    private readonly float[] _cos, _sin;

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
                    for (int i = 0; i < pairs; i++)
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
}

namespace Liaoyuan.Training.Model;

/// <summary>
/// A trainable tensor under its llama.cpp name, with its gradient. <see cref="Shape"/> is in ggml order
/// (Shape[0] is the row length), so a matrix [out, in] has Shape = [in, out].
/// </summary>
public sealed class Parameter
{
    public Parameter(string name, long[] shape, bool decay)
    {
        Name = name;
        Shape = shape;
        Decay = decay;
        long count = shape.Aggregate(1L, (a, b) => a * b);
        Value = new float[count];
    }

    public string Name { get; }
    public long[] Shape { get; }
    /// <summary>Whether AdamW's weight decay applies (matrices yes, norm gains no).</summary>
    public bool Decay { get; }
    public float[] Value { get; }

    /// <summary>
    /// ∂loss/∂Value, allocated on first use: a frozen matrix never asks for it, which halves the memory of a LoRA
    /// run's base model.
    /// </summary>
    public float[] Gradient => _gradient ??= new float[Value.Length];

    private float[]? _gradient;

    /// <summary>Zeroes the gradient if it has been allocated.</summary>
    public void ClearGradient()
    {
        if (_gradient is not null) Array.Clear(_gradient);
    }
    /// <summary>A frozen tensor (the base model under LoRA) gets no optimizer updates, and matrix products skip its gradient.</summary>
    public bool Frozen { get; set; }
}

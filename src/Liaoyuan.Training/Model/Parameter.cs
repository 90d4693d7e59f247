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
        Gradient = new float[count];
    }

    public string Name { get; }
    public long[] Shape { get; }
    /// <summary>Whether AdamW's weight decay applies (matrices yes, norm gains no).</summary>
    public bool Decay { get; }
    public float[] Value { get; }
    public float[] Gradient { get; }
    /// <summary>A frozen tensor (the base model under LoRA) gets no optimizer updates, and matrix products skip its gradient.</summary>
    public bool Frozen { get; set; }
}

using Liaoyuan.Operators.Tensors;

namespace Liaoyuan.Engine.Gguf;

/// <summary>
/// A tensor's header entry. <see cref="Shape"/> is in ggml order: Shape[0] is the length of a row (the
/// innermost, contiguous dimension).
/// </summary>
public sealed record GgufTensorInfo(string Name, GgmlType Type, long[] Shape, long DataOffset, long ByteSize)
{
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);

    public long RowLength => Shape[0];

    public long RowCount => ElementCount / Shape[0];

    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}

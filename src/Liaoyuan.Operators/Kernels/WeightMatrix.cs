using Liaoyuan.Operators.Tensors;

namespace Liaoyuan.Operators.Kernels;

/// <summary>
/// A read-only weight matrix in one of ggml's layouts: <see cref="Rows"/> rows of <see cref="Columns"/>
/// elements, each row <see cref="RowBytes"/> bytes, starting at <see cref="Data"/> (usually inside a memory map).
/// </summary>
public readonly unsafe struct WeightMatrix
{
    public WeightMatrix(byte* data, GgmlType type, int rows, int columns)
    {
        Data = data;
        Type = type;
        Rows = rows;
        Columns = columns;
        RowBytes = checked((int)GgmlTypeInfo.RowBytes(type, columns));
    }

    public byte* Data { get; }
    public GgmlType Type { get; }
    public int Rows { get; }
    public int Columns { get; }
    public int RowBytes { get; }

    /// <summary>
    /// A backend's own copy of the first <see cref="InterleavedRows"/> rows, laid out for its products (see
    /// <see cref="IKernels.Prepare"/>); null when there is none. <see cref="Data"/> stays the authoritative layout.
    /// </summary>
    public byte* Interleaved { get; init; }

    public int InterleavedRows { get; init; }

    public ReadOnlySpan<byte> Row(int row) => new(Data + (long)row * RowBytes, RowBytes);

    public bool IsEmpty => Data == null;
}

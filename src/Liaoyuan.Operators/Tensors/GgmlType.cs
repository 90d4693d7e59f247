namespace Liaoyuan.Operators.Tensors;

/// <summary>Tensor element types with ggml's numeric ids, as stored in GGUF tensor infos.</summary>
public enum GgmlType : uint
{
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    BF16 = 30,
}

/// <summary>Block geometry of each type: how many elements a block holds and how many bytes it takes.</summary>
public static class GgmlTypeInfo
{
    /// <summary>Elements per super-block for the k-quants.</summary>
    public const int QK_K = 256;

    public static bool IsSupported(GgmlType type) => type switch
    {
        GgmlType.F32 or GgmlType.F16 or GgmlType.BF16 or GgmlType.Q4_0 or GgmlType.Q4_1 or GgmlType.Q5_0
            or GgmlType.Q5_1 or GgmlType.Q8_0 or GgmlType.Q8_1 or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K
            or GgmlType.Q8_K or GgmlType.Q2_K or GgmlType.Q3_K or GgmlType.I8 or GgmlType.I16 or GgmlType.I32
            or GgmlType.I64 or GgmlType.F64 => true,
        _ => false,
    };

    /// <summary>Elements in one block.</summary>
    public static int BlockSize(GgmlType type) => type switch
    {
        GgmlType.F32 or GgmlType.F16 or GgmlType.BF16 or GgmlType.I8 or GgmlType.I16 or GgmlType.I32
            or GgmlType.I64 or GgmlType.F64 => 1,
        GgmlType.Q4_0 or GgmlType.Q4_1 or GgmlType.Q5_0 or GgmlType.Q5_1 or GgmlType.Q8_0 or GgmlType.Q8_1 => 32,
        GgmlType.Q2_K or GgmlType.Q3_K or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K or GgmlType.Q8_K => QK_K,
        _ => throw new NotSupportedException($"tensor type {(uint)type} is not supported"),
    };

    /// <summary>Bytes in one block.</summary>
    public static int TypeSize(GgmlType type) => type switch
    {
        GgmlType.F32 => 4,
        GgmlType.F16 => 2,
        GgmlType.BF16 => 2,
        GgmlType.I8 => 1,
        GgmlType.I16 => 2,
        GgmlType.I32 => 4,
        GgmlType.I64 => 8,
        GgmlType.F64 => 8,
        GgmlType.Q4_0 => 2 + 16,
        GgmlType.Q4_1 => 2 + 2 + 16,
        GgmlType.Q5_0 => 2 + 4 + 16,
        GgmlType.Q5_1 => 2 + 2 + 4 + 16,
        GgmlType.Q8_0 => 2 + 32,
        GgmlType.Q8_1 => 2 + 2 + 32,
        GgmlType.Q2_K => QK_K / 16 + QK_K / 4 + 2 + 2,
        GgmlType.Q3_K => QK_K / 8 + QK_K / 4 + 12 + 2,
        GgmlType.Q4_K => 2 + 2 + 12 + QK_K / 2,
        GgmlType.Q5_K => 2 + 2 + 12 + QK_K / 8 + QK_K / 2,
        GgmlType.Q6_K => QK_K / 2 + QK_K / 4 + QK_K / 16 + 2,
        GgmlType.Q8_K => 4 + QK_K + QK_K / 16 * 2,
        _ => throw new NotSupportedException($"tensor type {(uint)type} is not supported"),
    };

    /// <summary>Bytes taken by a row of <paramref name="elements"/> elements; the count must be a whole number of blocks.</summary>
    public static long RowBytes(GgmlType type, long elements)
    {
        int block = BlockSize(type);
        if (elements % block != 0)
            throw new ArgumentException($"a row of {elements} elements is not a whole number of {type} blocks ({block})");
        return elements / block * TypeSize(type);
    }
}

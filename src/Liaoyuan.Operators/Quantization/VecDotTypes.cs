using Liaoyuan.Operators.Tensors;

namespace Liaoyuan.Operators.Quantization;

/// <summary>
/// The element type llama.cpp's CPU backend converts the activation operand to before a dot product
/// with a row of the given weight type (the <c>vec_dot_type</c> of ggml's CPU type traits).
/// </summary>
public static class VecDotTypes
{
    public static GgmlType For(GgmlType weightType) => weightType switch
    {
        GgmlType.F32 => GgmlType.F32,
        GgmlType.F16 => GgmlType.F16,
        GgmlType.BF16 => GgmlType.BF16,
        GgmlType.Q4_0 or GgmlType.Q5_0 or GgmlType.Q8_0 => GgmlType.Q8_0,
        GgmlType.Q4_1 or GgmlType.Q5_1 => GgmlType.Q8_1,
        GgmlType.Q2_K or GgmlType.Q3_K or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K => GgmlType.Q8_K,
        _ => throw new NotSupportedException($"no dot product is defined for weights of type {weightType}"),
    };
}

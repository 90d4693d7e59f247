using Liaoyuan.Operators.Tensors;

namespace Liaoyuan.Operators.Quantization;

/// <summary>Row-level conversion between floats and every supported element type.</summary>
public static class Quantizer
{
    /// <summary>
    /// Quantizes a row of weights exactly as ggml's reference quantizers do (no importance matrix),
    /// so files written with it match llama.cpp's quantizer byte for byte. F16 and BF16 round to nearest even.
    /// </summary>
    public static void QuantizeRow(GgmlType type, ReadOnlySpan<float> src, Span<byte> dst)
    {
        CheckSizes(type, src.Length, dst.Length);
        switch (type)
        {
            case GgmlType.F32: FloatRows.WriteF32(src, dst); break;
            case GgmlType.F16: FloatRows.WriteF16(src, dst); break;
            case GgmlType.BF16: FloatRows.WriteBF16(src, dst); break;
            case GgmlType.Q4_0: LegacyQuants.QuantizeQ4_0(src, dst); break;
            case GgmlType.Q4_1: LegacyQuants.QuantizeQ4_1(src, dst); break;
            case GgmlType.Q5_0: LegacyQuants.QuantizeQ5_0(src, dst); break;
            case GgmlType.Q5_1: LegacyQuants.QuantizeQ5_1(src, dst); break;
            case GgmlType.Q8_0: LegacyQuants.QuantizeQ8_0(src, dst); break;
            case GgmlType.Q8_1: LegacyQuants.QuantizeQ8_1(src, dst); break;
            case GgmlType.Q4_K: KQuants.QuantizeQ4_K(src, dst); break;
            case GgmlType.Q5_K: KQuants.QuantizeQ5_K(src, dst); break;
            case GgmlType.Q6_K: KQuants.QuantizeQ6_K(src, dst); break;
            case GgmlType.Q8_K: KQuants.QuantizeQ8_K(src, dst); break;
            default: throw new NotSupportedException($"quantizing to {type} is not supported");
        }
    }

    /// <summary>
    /// Quantizes a row of activations into a dot-product operand type (see <see cref="VecDotTypes"/>) the way
    /// llama.cpp's x86 CPU backend does at run time. For F32/F16/BF16 this is the plain conversion.
    /// </summary>
    public static void QuantizeActivationRow(GgmlType vecDotType, ReadOnlySpan<float> src, Span<byte> dst)
    {
        CheckSizes(vecDotType, src.Length, dst.Length);
        switch (vecDotType)
        {
            case GgmlType.Q8_0: ActivationQuantizer.QuantizeQ8_0(src, dst); break;
            case GgmlType.Q8_1: ActivationQuantizer.QuantizeQ8_1(src, dst); break;
            case GgmlType.Q8_K: Q8KActivationQuantizer.Quantize(src, dst); break; // x86 quantizes Q8_K with the reference algorithm
            case GgmlType.F32 or GgmlType.F16 or GgmlType.BF16: QuantizeRow(vecDotType, src, dst); break;
            default: throw new NotSupportedException($"{vecDotType} is not an activation type");
        }
    }

    /// <summary>Expands a row to floats, producing exactly the values ggml's dequantizers produce.</summary>
    public static void DequantizeRow(GgmlType type, ReadOnlySpan<byte> src, Span<float> dst)
    {
        CheckSizes(type, dst.Length, src.Length);
        switch (type)
        {
            case GgmlType.F32: FloatRows.ReadF32(src, dst); break;
            case GgmlType.F16: FloatRows.ReadF16(src, dst); break;
            case GgmlType.BF16: FloatRows.ReadBF16(src, dst); break;
            case GgmlType.Q4_0: FastDequantizer.DequantizeQ4_0(src, dst); break;
            case GgmlType.Q4_1: LegacyQuants.DequantizeQ4_1(src, dst); break;
            case GgmlType.Q5_0: LegacyQuants.DequantizeQ5_0(src, dst); break;
            case GgmlType.Q5_1: LegacyQuants.DequantizeQ5_1(src, dst); break;
            case GgmlType.Q8_0: FastDequantizer.DequantizeQ8_0(src, dst); break;
            case GgmlType.Q8_1: LegacyQuants.DequantizeQ8(src, dst, Q8_1Layout.Bytes, Q8_1Layout.Quants); break;
            case GgmlType.Q4_K: KQuants.DequantizeQ4_K(src, dst); break;
            case GgmlType.Q5_K: KQuants.DequantizeQ5_K(src, dst); break;
            case GgmlType.Q6_K: KQuants.DequantizeQ6_K(src, dst); break;
            case GgmlType.Q8_K: KQuants.DequantizeQ8_K(src, dst); break;
            default: throw new NotSupportedException($"dequantizing {type} is not supported");
        }
    }

    private static void CheckSizes(GgmlType type, int elements, int bytes)
    {
        long needed = GgmlTypeInfo.RowBytes(type, elements); // also rejects partial blocks
        if (bytes < needed)
            throw new ArgumentException($"a row of {elements} {type} elements needs {needed} bytes, got {bytes}");
    }
}

using System.Runtime.Intrinsics;
using Liaoyuan.Operators.Quantization;
using Liaoyuan.Operators.Tensors;
using Liaoyuan.Operators.Threading;
using Liaoyuan.Operators.Vectors;

namespace Liaoyuan.Operators.Kernels;

/// <summary>
/// Prepares a matrix product's activations, one token row per job: quantized to the weight type's dot-product
/// partner (and repacked for the tile and interleaved kernels), or rounded to the weight's float type and kept as
/// floats. For a prompt batch this is tokens × columns of work that would otherwise run on one thread while the
/// others wait.
/// </summary>
internal sealed unsafe class ActivationWork : IParallelWork
{
    public float* Source;
    public int Columns;
    public GgmlType DotType;

    // Quantized output.
    public byte* Quantized;
    public int QuantizedRowBytes;
    public int PackedTokens;
    public sbyte* PackedQuants;
    public float* PackedScales;
    public int* PackedSeeds;

    // Float output.
    public float* Rounded;
    public float RoundedScale;

    /// <summary>Selects quantized output: rows of <paramref name="dotType"/>, the first tokens also packed for the tile kernels.</summary>
    public void QuantizeInto(GgmlType dotType, byte* quantized, int rowBytes, int packedTokens, sbyte* quants, float* scales, int* seeds)
    {
        Rounded = null;
        DotType = dotType;
        Quantized = quantized;
        QuantizedRowBytes = rowBytes;
        PackedTokens = packedTokens;
        PackedQuants = quants;
        PackedScales = scales;
        PackedSeeds = seeds;
    }

    public void Execute(int t)
    {
        var row = new ReadOnlySpan<float>(Source + (long)t * Columns, Columns);
        if (Rounded != null)
        {
            var destination = new Span<float>(Rounded + (long)t * Columns, Columns);
            RoundTo(DotType, row, destination);
            if (RoundedScale != 1f) VectorMath.Scale(destination, RoundedScale);
            return;
        }
        byte* quantized = Quantized + (long)t * QuantizedRowBytes;
        Quantizer.QuantizeActivationRow(DotType, row, new Span<byte>(quantized, QuantizedRowBytes));
        if (t < PackedTokens)
        {
            int blocks = Columns / 32;
            sbyte* quants = PackedQuants + (long)t * blocks * 32;
            VnniTileKernels.PackActivations(quantized, QuantizedRowBytes, 1, blocks, quants, PackedScales + (long)t * blocks);
            if (PackedSeeds != null) InterleavedKernels.PackSeeds(quants, blocks, PackedSeeds + (long)t * blocks);
        }
    }

    /// <summary>Rounds as llama.cpp converts activations to F16 / BF16 before a float product (F32: copied).</summary>
    private static void RoundTo(GgmlType type, ReadOnlySpan<float> x, Span<float> destination)
    {
        if (type == GgmlType.F32)
        {
            x.CopyTo(destination);
            return;
        }
        int i = 0;
        if (type == GgmlType.F16 && Vector256.IsHardwareAccelerated)
        {
            for (; i + 8 <= x.Length; i += 8)
                Float16.Round(Vector256.Create(x[i..])).CopyTo(destination[i..]);
        }
        for (; i < x.Length; i++)
            destination[i] = type == GgmlType.F16 ? (float)(Half)x[i] : BFloat16.ToSingle(BFloat16.FromSingle(x[i]));
    }
}

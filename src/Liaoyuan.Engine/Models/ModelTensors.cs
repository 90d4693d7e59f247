using Liaoyuan.Engine.Gguf;
using Liaoyuan.Operators.Kernels;
using Liaoyuan.Operators.Quantization;
using Liaoyuan.Operators.Tensors;

namespace Liaoyuan.Engine.Models;

/// <summary>Looks tensors up by name and checks their shapes, with errors that name the file and tensor.</summary>
public sealed unsafe class ModelTensors(GgufFile file, IKernels kernels)
{
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);

    public GgufFile File => file;

    public bool Has(string name) => file.FindTensor(name) is not null;

    /// <summary>A matrix with <paramref name="columns"/> elements per row and <paramref name="rows"/> rows.</summary>
    public WeightMatrix Matrix(string name, int columns, int rows)
    {
        var info = Require(name);
        CheckShape(info, [columns, rows]);
        if (info.Type is GgmlType.Q8_1 or GgmlType.Q8_K or GgmlType.Q2_K or GgmlType.Q3_K or GgmlType.I8 or GgmlType.I16
            or GgmlType.I32 or GgmlType.I64 or GgmlType.F64)
            throw new GgufFormatException($"{file.Path}: tensor '{name}' has type {info.Type}, which cannot be a weight matrix here");
        return new WeightMatrix(file.TensorPointer(info), info.Type, rows, columns);
    }

    public WeightMatrix? OptionalMatrix(string name, int columns, int rows) => Has(name) ? Matrix(name, columns, rows) : null;

    /// <summary>A matrix the model multiplies by, laid out for the backend's products (<see cref="IKernels.Prepare"/>).</summary>
    public WeightMatrix ProductMatrix(string name, int columns, int rows) => Prepared(name, Matrix(name, columns, rows));

    public WeightMatrix? OptionalProductMatrix(string name, int columns, int rows) => Has(name) ? ProductMatrix(name, columns, rows) : null;

    /// <summary>
    /// Lets the backend make its copy of an already looked-up matrix; when it does, the file's pages of the tensor
    /// leave the resident set (they are read back only where the file's layout is used again, e.g. embedding rows).
    /// </summary>
    public WeightMatrix Prepared(string name, in WeightMatrix matrix)
    {
        var prepared = kernels.Prepare(matrix);
        if (prepared.Interleaved != null) file.ReleaseResidentPages(Require(name));
        return prepared;
    }

    /// <summary>A 1-D tensor dequantized to float32 (norm weights, biases, rope factors).</summary>
    public float[] Vector(string name, int length)
    {
        var info = Require(name);
        CheckShape(info, [length]);
        var values = new float[length];
        if (info.Type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16)
            Quantizer.DequantizeRow(info.Type, file.TensorBytes(info), values);
        else
            throw new GgufFormatException($"{file.Path}: tensor '{name}' has type {info.Type}; a vector must be F32, F16 or BF16");
        return values;
    }

    public float[]? OptionalVector(string name, int length) => Has(name) ? Vector(name, length) : null;

    /// <summary>Names of tensors in the file that the model did not use (llama.cpp refuses such files too).</summary>
    public IEnumerable<string> Unused => file.Tensors.Select(t => t.Name).Where(n => !_used.Contains(n));

    private GgufTensorInfo Require(string name)
    {
        var info = file.FindTensor(name) ?? throw new GgufFormatException($"{file.Path}: required tensor '{name}' is missing");
        _used.Add(name);
        return info;
    }

    private void CheckShape(GgufTensorInfo info, long[] expected)
    {
        // Trailing dimensions of 1 are equivalent in ggml.
        var actual = info.Shape.Reverse().SkipWhile(d => d == 1).Reverse().ToArray();
        var wanted = expected.Reverse().SkipWhile(d => d == 1).Reverse().ToArray();
        if (!actual.SequenceEqual(wanted))
            throw new GgufFormatException($"{file.Path}: tensor '{info.Name}' has shape {info.ShapeText}, expected [{string.Join(", ", expected)}]");
    }
}

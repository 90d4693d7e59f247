using System.Runtime.InteropServices;
using Liaoyuan.Operators.Quantization;
using Liaoyuan.Operators.Tensors;
using Liaoyuan.Operators.Vectors;

namespace Liaoyuan.Operators.Kernels;

/// <summary>
/// The CPU backend. Matrix products quantize the activations to the weight type's dot-product partner, as
/// ggml's CPU backend does, so the results agree with llama.cpp's; reductions accumulate where ggml does (double
/// for norms and softmax sums).
/// </summary>
public sealed partial class CpuKernels : IKernels
{
    private readonly ThreadLocal<byte[]> _activationScratch = new(() => []);

    public CpuKernels(int threads = 0)
    {
        Threads = threads > 0 ? threads : Environment.ProcessorCount;
    }

    public int Threads { get; }

    public unsafe void MatMul(in WeightMatrix weight, ReadOnlySpan<float> x, Span<float> y, int tokens)
    {
        int rows = weight.Rows, columns = weight.Columns;
        if (x.Length < tokens * columns || y.Length < tokens * rows)
            throw new ArgumentException($"matmul shapes: weight {rows}x{columns}, x {x.Length}, y {y.Length}, tokens {tokens}");
        GgmlType dotType = VecDotTypes.For(weight.Type);
        int activationRowBytes = (int)GgmlTypeInfo.RowBytes(dotType, columns);
        byte[] scratch = _activationScratch.Value!;
        if (scratch.Length < activationRowBytes * tokens)
        {
            scratch = new byte[activationRowBytes * tokens];
            _activationScratch.Value = scratch;
        }
        for (int t = 0; t < tokens; t++)
        {
            Quantizer.QuantizeActivationRow(dotType, x.Slice(t * columns, columns), scratch.AsSpan(t * activationRowBytes, activationRowBytes));
        }

        var w = weight;
        fixed (float* yPointer = y)
        fixed (byte* activations = scratch)
        {
            float* output = yPointer;
            byte* act = activations;
            int chunk = Math.Max(1, (rows + Threads * 4 - 1) / (Threads * 4));
            int chunks = (rows + chunk - 1) / chunk;
            void Work(int c)
            {
                int start = c * chunk, end = Math.Min(rows, start + chunk);
                for (int r = start; r < end; r++)
                {
                    var row = new ReadOnlySpan<byte>(w.Data + (long)r * w.RowBytes, w.RowBytes);
                    for (int t = 0; t < tokens; t++)
                    {
                        var a = new ReadOnlySpan<byte>(act + (long)t * activationRowBytes, activationRowBytes);
                        output[(long)t * rows + r] = DotProducts.Dot(w.Type, row, a, columns);
                    }
                }
            }
            if (Threads == 1 || (long)rows * columns * tokens < 32768) for (int c = 0; c < chunks; c++) Work(c);
            else Parallel.For(0, chunks, new ParallelOptions { MaxDegreeOfParallelism = Threads }, Work);
        }
    }

    public void GetRow(in WeightMatrix matrix, int row, Span<float> destination)
    {
        if ((uint)row >= (uint)matrix.Rows) throw new ArgumentOutOfRangeException(nameof(row), $"row {row} of {matrix.Rows}");
        Quantizer.DequantizeRow(matrix.Type, matrix.Row(row), destination[..matrix.Columns]);
    }

    public void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps, Span<float> y)
    {
        int n = weight.Length;
        for (int offset = 0; offset + n <= x.Length; offset += n)
        {
            var row = x.Slice(offset, n);
            double sum = 0;
            foreach (float v in row) sum += (double)(v * v);
            float scale = 1.0f / MathF.Sqrt((float)(sum / n) + eps);
            var outRow = y.Slice(offset, n);
            for (int i = 0; i < n; i++) outRow[i] = row[i] * scale * weight[i];
        }
    }

    public void Add(Span<float> x, ReadOnlySpan<float> y) => VectorMath.Add(x, y, x);

    public void AddRowBias(Span<float> x, ReadOnlySpan<float> bias)
    {
        for (int offset = 0; offset + bias.Length <= x.Length; offset += bias.Length)
            VectorMath.Add(x.Slice(offset, bias.Length), bias, x.Slice(offset, bias.Length));
    }

    public void SwiGlu(Span<float> gate, ReadOnlySpan<float> up)
    {
        for (int i = 0; i < gate.Length; i++)
        {
            float g = gate[i];
            gate[i] = g / (1.0f + MathF.Exp(-g)) * up[i];
        }
    }

    public void Rope(Span<float> x, int heads, int headDim, ReadOnlySpan<int> positions, in RopeParameters rope)
    {
        int dims = rope.RotaryDims;
        Span<float> cos = stackalloc float[dims / 2];
        Span<float> sin = stackalloc float[dims / 2];
        float thetaScale = MathF.Pow(rope.FreqBase, -2.0f / dims);
        for (int t = 0; t < positions.Length; t++)
        {
            // ggml builds the angle table by repeated multiplication; doing the same keeps the float rounding equal.
            float theta = positions[t];
            for (int i = 0; i < dims / 2; i++)
            {
                float factor = rope.FreqFactors is { } ff ? ff[i] : 1.0f;
                float angle = rope.FreqScale * (theta / factor);
                cos[i] = MathF.Cos(angle);
                sin[i] = MathF.Sin(angle);
                theta *= thetaScale;
            }
            for (int h = 0; h < heads; h++)
            {
                var head = x.Slice((t * heads + h) * headDim, headDim);
                if (rope.Layout == RopeLayout.Normal)
                {
                    for (int i = 0; i < dims / 2; i++)
                    {
                        float a = head[2 * i], b = head[2 * i + 1];
                        head[2 * i] = a * cos[i] - b * sin[i];
                        head[2 * i + 1] = a * sin[i] + b * cos[i];
                    }
                }
                else
                {
                    int half = dims / 2;
                    for (int i = 0; i < half; i++)
                    {
                        float a = head[i], b = head[i + half];
                        head[i] = a * cos[i] - b * sin[i];
                        head[i + half] = a * sin[i] + b * cos[i];
                    }
                }
            }
        }
    }
}

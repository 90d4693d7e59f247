using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Liaoyuan.Operators.Quantization;
using Liaoyuan.Operators.Tensors;
using Liaoyuan.Operators.Threading;
using Liaoyuan.Operators.Vectors;

namespace Liaoyuan.Operators.Kernels;

/// <summary>
/// The CPU backend. Matrix products quantize the activations to the weight type's dot-product partner, as
/// ggml's CPU backend does, so the results agree with llama.cpp's; reductions accumulate where ggml does (double
/// for norms and softmax sums).
/// </summary>
public sealed partial class CpuKernels : IKernels
{
    private readonly WorkerPool _pool;
    private readonly MatMulWork _matMul = new();
    private readonly ActivationWork _activations = new();
    private byte[] _quantizedActivations = [];
    private float[] _floatActivations = [];
    private sbyte[] _packedQuants = [];
    private float[] _packedScales = [];

    public CpuKernels(int threads = 0)
    {
        Threads = threads > 0 ? threads : Environment.ProcessorCount;
        _pool = new WorkerPool(Threads);
    }

    public int Threads { get; }

    public unsafe void MatMul(in WeightMatrix weight, ReadOnlySpan<float> x, Span<float> y, int tokens)
    {
        int rows = weight.Rows, columns = weight.Columns;
        if (x.Length < tokens * columns || y.Length < tokens * rows)
            throw new ArgumentException($"matmul shapes: weight {rows}x{columns}, x {x.Length}, y {y.Length}, tokens {tokens}");
        var work = _matMul;
        work.Weight = weight;
        work.Tokens = tokens;
        bool batch = tokens >= 4 && Avx2TileKernels.IsSupported;
        // BF16 stays on dots: its 8-bit mantissa turns summation-order noise into rounding flips.
        if (weight.Interleaved != null)
        {
            MatMulShared(x, tokens, weight, y, default, default, default, default);
            return;
        }
        work.Mode = batch && weight.Type is GgmlType.Q8_0 or GgmlType.Q4_0 or GgmlType.Q5_0 or GgmlType.Q4_K or GgmlType.Q6_K
                ? MatMulWork.Strategy.QuantizedTiles
            : batch && weight.Type is GgmlType.F16 or GgmlType.F32 ? MatMulWork.Strategy.FloatTiles
            : weight.Type == GgmlType.F16 && Vector256.IsHardwareAccelerated ? MatMulWork.Strategy.HalfDots
            : MatMulWork.Strategy.Dots;

        fixed (float* source = x)
        fixed (float* output = y)
        {
            work.Output = output;
            var prepare = _activations;
            prepare.Source = source;
            prepare.Columns = columns;
            if (work.Mode is MatMulWork.Strategy.FloatTiles or MatMulWork.Strategy.HalfDots)
            {
                // Round the activations as llama.cpp converts them for this weight type, but keep them as floats
                // so the tiles can reuse each widened weight row for several tokens.
                fixed (float* buffer = Grow(ref _floatActivations, tokens * columns + CacheLineFloats))
                {
                    prepare.DotType = weight.Type;
                    prepare.Rounded = AlignToCacheLine(buffer);
                    prepare.RoundedScale = work.Mode == MatMulWork.Strategy.HalfDots ? FloatDotProducts.HalfBitsScale : 1f;
                    RunPerToken(prepare, tokens);
                    work.FloatActivations = prepare.Rounded;
                    work.RowsPerJob = work.Mode == MatMulWork.Strategy.FloatTiles ? 16 : DecodeRowsPerJob(rows);
                    _pool.Run(work, work.Jobs);
                }
                return;
            }
            GgmlType dotType = VecDotTypes.For(weight.Type);
            int activationRowBytes = (int)GgmlTypeInfo.RowBytes(dotType, columns);
            byte[] quantized = Grow(ref _quantizedActivations, activationRowBytes * tokens);
            // Packed activations feed the tiles (VNNI or AVX2: the tile mode needs AVX2) and VNNI's one-token rows.
            bool packed = weight.Type is GgmlType.Q8_0 or GgmlType.Q4_0 or GgmlType.Q5_0
                && (work.Mode == MatMulWork.Strategy.QuantizedTiles || tokens == 1 && VnniTileKernels.IsSupported);
            int blocks = columns / 32, packedTokens = !packed ? 0 : tokens == 1 ? 1 : tokens & ~3;
            // The packed rows are read with 32-byte loads: aligned to cache lines, no load straddles two lines.
            sbyte[] packedQuants = Grow(ref _packedQuants, packedTokens * blocks * 32 + CacheLineBytes);
            float[] packedScales = Grow(ref _packedScales, packedTokens * blocks);
            fixed (byte* activations = quantized)
            fixed (sbyte* quantsBuffer = packedQuants)
            fixed (float* scales = packedScales)
            {
                sbyte* quants = AlignToCacheLine(quantsBuffer);
                prepare.QuantizeInto(dotType, activations, activationRowBytes, packedTokens, quants, scales, seeds: null);
                RunPerToken(prepare, tokens);
                work.Activations = activations;
                work.ActivationRowBytes = activationRowBytes;
                work.PackedQuants = packed ? quants : null;
                work.PackedScales = packed ? scales : null;
                work.RowsPerJob = batch ? 32 : DecodeRowsPerJob(rows);
                _pool.Run(work, work.Jobs);
            }
        }
    }

    /// <summary>A single token's preparation runs inline: handing one short job to the pool costs more than it.</summary>
    private void RunPerToken(ActivationWork work, int tokens)
    {
        if (tokens == 1) work.Execute(0);
        else _pool.Run(work, tokens);
    }

    /// <summary>
    /// Rows per job for one-token products: about four jobs per thread, so uneven threads still balance while each job
    /// stays one long stream for the prefetchers (eight per thread read 2–3% slower in alternating decode runs).
    /// </summary>
    private int DecodeRowsPerJob(int rows) => Math.Max(4, rows / (Threads * 4));

    private const int CacheLineBytes = 64, CacheLineFloats = CacheLineBytes / sizeof(float);

    /// <summary>Grow-only scratch on the pinned heap, so pointers into it may be aligned once and stay valid.</summary>
    private static T[] Grow<T>(ref T[] buffer, int length)
    {
        if (buffer.Length < length) buffer = GC.AllocateUninitializedArray<T>(length, pinned: true);
        return buffer;
    }

    private static unsafe T* AlignToCacheLine<T>(T* pointer) where T : unmanaged =>
        (T*)(((nint)pointer + CacheLineBytes - 1) & ~(nint)(CacheLineBytes - 1));

    public void GetRow(in WeightMatrix matrix, int row, Span<float> destination)
    {
        if ((uint)row >= (uint)matrix.Rows) throw new ArgumentOutOfRangeException(nameof(row), $"row {row} of {matrix.Rows}");
        if (row < matrix.InterleavedRows)
        {
            InterleavedRow(matrix, row, destination[..matrix.Columns]);
            return;
        }
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
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 8 <= gate.Length; i += 8)
            {
                var g = Vector256.Create(gate[i..]);
                (g / (Vector256<float>.One + VectorExp.Exp(-g)) * Vector256.Create(up[i..])).CopyTo(gate[i..]);
            }
        }
        // The tail through the same exp as the vectors: an element's bits must not depend on its place in the batch.
        bool vectors = Vector256.IsHardwareAccelerated;
        for (; i < gate.Length; i++)
        {
            float g = gate[i];
            gate[i] = g / (1.0f + (vectors ? VectorExp.Exp(-g) : MathF.Exp(-g))) * up[i];
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

using Liaoyuan.Operators.Quantization;
using Liaoyuan.Operators.Tensors;
using Liaoyuan.Operators.Threading;

namespace Liaoyuan.Operators.Kernels;

public sealed partial class CpuKernels
{
    private readonly WeightArena _interleavedCopies = new();
    private bool _disposed;

    /// <summary>
    /// Q8_0, Q4_0 and Q5_0 matrices get a copy in sixteen-row interleaved blocks on CPUs with AVX2 and FMA (as
    /// llama.cpp repacks Q4_0 for its GEMMs): the tile kernels then reuse one broadcast of four activation bytes for
    /// eight rows and need no horizontal sums. Rows past the last full group of sixteen stay in the file's layout.
    /// </summary>
    public unsafe WeightMatrix Prepare(in WeightMatrix weight)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!InterleavedKernels.Supports(weight.Type) || weight.Interleaved != null || weight.Rows < InterleavedLayout.Rows)
            return weight;
        int groups = weight.Rows / InterleavedLayout.Rows, blocks = weight.Columns / 32;
        long bytes = (long)groups * InterleavedLayout.Rows * weight.RowBytes;
        // A matrix whose scales turn out not to be finite leaves its space unused; such files are broken anyway.
        byte* copy = _interleavedCopies.Allocate(bytes);
        var work = new RepackWork(weight, copy, groups);
        _pool.Run(work, work.Jobs);
        if (work.NonFiniteScale) return weight;
        return weight with { Interleaved = copy, InterleavedRows = groups * InterleavedLayout.Rows };
    }

    private readonly InterleavedProductWork _interleavedProducts = new();
    private int[] _packedSeeds = [];

    /// <summary>
    /// Fuses the products when every matrix has an interleaved copy (their activations are then prepared the same
    /// way: Q8_0, packed, with block sums); otherwise runs them one after another.
    /// </summary>
    public unsafe void MatMulShared(ReadOnlySpan<float> x, int tokens, in WeightMatrix w0, Span<float> y0,
        in WeightMatrix w1, Span<float> y1, in WeightMatrix w2, Span<float> y2)
    {
        int columns = w0.Columns;
        bool fused = w0.Interleaved != null && (w1.IsEmpty || w1.Interleaved != null && w1.Columns == columns)
            && (w2.IsEmpty || w2.Interleaved != null && w2.Columns == columns);
        if (!fused)
        {
            MatMul(w0, x, y0, tokens);
            if (!w1.IsEmpty) MatMul(w1, x, y1, tokens);
            if (!w2.IsEmpty) MatMul(w2, x, y2, tokens);
            return;
        }
        if (x.Length < tokens * columns) throw new ArgumentException($"matmul shapes: weight columns {columns}, x {x.Length}, tokens {tokens}");
        CheckOutput(w0, y0, tokens);
        CheckOutput(w1, y1, tokens);
        CheckOutput(w2, y2, tokens);

        int blocks = columns / 32, activationRowBytes = (int)GgmlTypeInfo.RowBytes(GgmlType.Q8_0, columns);
        byte[] quantized = Grow(ref _quantizedActivations, activationRowBytes * tokens);
        sbyte[] packedQuants = Grow(ref _packedQuants, tokens * blocks * 32 + CacheLineBytes);
        float[] packedScales = Grow(ref _packedScales, tokens * blocks);
        int[] packedSeeds = Grow(ref _packedSeeds, tokens * blocks);
        fixed (float* source = x)
        fixed (float* out0 = y0)
        fixed (float* out1 = y1)
        fixed (float* out2 = y2)
        fixed (byte* activations = quantized)
        fixed (sbyte* quantsBuffer = packedQuants)
        fixed (float* scales = packedScales)
        fixed (int* seeds = packedSeeds)
        {
            sbyte* quants = AlignToCacheLine(quantsBuffer);
            var prepare = _activations;
            prepare.Source = source;
            prepare.Columns = columns;
            prepare.QuantizeInto(GgmlType.Q8_0, activations, activationRowBytes, tokens, quants, scales, seeds);
            RunPerToken(prepare, tokens);

            var work = _interleavedProducts;
            work.Quants = quants;
            work.Scales = scales;
            work.Seeds = seeds;
            work.Activations = activations;
            work.ActivationRowBytes = activationRowBytes;
            work.Tokens = tokens;
            work.Clear();
            work.Add(w0, out0, InterleavedRowsPerJob(w0.Rows, tokens));
            if (!w1.IsEmpty) work.Add(w1, out1, InterleavedRowsPerJob(w1.Rows, tokens));
            if (!w2.IsEmpty) work.Add(w2, out2, InterleavedRowsPerJob(w2.Rows, tokens));
            _pool.Run(work, work.Jobs);
        }
    }

    private static void CheckOutput(in WeightMatrix w, Span<float> y, int tokens)
    {
        if (!w.IsEmpty && y.Length < tokens * w.Rows)
            throw new ArgumentException($"matmul shapes: weight {w.Rows}x{w.Columns}, y {y.Length}, tokens {tokens}");
    }

    /// <summary>Whole sixteen-row groups per job: two for batches (weights reused from cache across token groups).</summary>
    private int InterleavedRowsPerJob(int rows, int tokens)
    {
        const int group = InterleavedLayout.Rows;
        if (tokens >= 4) return 2 * group;
        return Math.Max(group, DecodeRowsPerJob(rows) / group * group);
    }

    private static unsafe void InterleavedRow(in WeightMatrix matrix, int row, Span<float> destination)
    {
        int blocks = matrix.Columns / 32;
        switch (matrix.Type)
        {
            case GgmlType.Q8_0: InterleavedLayout.DequantizeRow<Q8_0x16>(matrix.Interleaved, row, blocks, destination); break;
            case GgmlType.Q4_0: InterleavedLayout.DequantizeRow<Q4_0x16>(matrix.Interleaved, row, blocks, destination); break;
            default: InterleavedLayout.DequantizeRow<Q5_0x16>(matrix.Interleaved, row, blocks, destination); break;
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _pool.Dispose();
        _interleavedCopies.Dispose();
    }

    /// <summary>Repacks a matrix in chunks of row groups, on every thread (a large vocabulary is ~10k groups).</summary>
    private sealed unsafe class RepackWork(WeightMatrix weight, byte* destination, int groups) : IParallelWork
    {
        private const int GroupsPerJob = 64;
        private volatile bool _nonFinite;

        public int Jobs => (groups + GroupsPerJob - 1) / GroupsPerJob;

        public bool NonFiniteScale => _nonFinite;

        public void Execute(int job)
        {
            int first = job * GroupsPerJob, count = Math.Min(GroupsPerJob, groups - first);
            int blocks = weight.Columns / 32;
            byte* rows = weight.Data + (long)first * InterleavedLayout.Rows * weight.RowBytes;
            byte* target = destination + (long)first * InterleavedLayout.Rows * weight.RowBytes;
            bool finite = weight.Type switch
            {
                GgmlType.Q8_0 => InterleavedLayout.Repack<Q8_0x16>(rows, weight.RowBytes, blocks, count, target),
                GgmlType.Q4_0 => InterleavedLayout.Repack<Q4_0x16>(rows, weight.RowBytes, blocks, count, target),
                _ => InterleavedLayout.Repack<Q5_0x16>(rows, weight.RowBytes, blocks, count, target),
            };
            if (!finite) _nonFinite = true;
        }
    }
}

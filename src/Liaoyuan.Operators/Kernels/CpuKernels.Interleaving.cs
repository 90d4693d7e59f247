using Liaoyuan.Operators.Quantization;
using Liaoyuan.Operators.Tensors;
using Liaoyuan.Operators.Threading;

namespace Liaoyuan.Operators.Kernels;

public sealed partial class CpuKernels
{
    private readonly WeightArena _interleavedCopies = new();
    private bool _disposed;

    /// <summary>
    /// Q8_0, Q4_0 and Q5_0 matrices get a copy in sixteen-row interleaved blocks on CPUs with VNNI (as llama.cpp
    /// repacks Q4_0 for its GEMMs): the tile kernels then reuse one broadcast of four activation bytes for eight
    /// rows and need no horizontal sums. Rows past the last full group of sixteen stay in the file's layout.
    /// </summary>
    public unsafe WeightMatrix Prepare(in WeightMatrix weight)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!InterleavedKernels.IsSupported || weight.Interleaved != null || weight.Rows < InterleavedLayout.Rows
            || weight.Type is not (GgmlType.Q8_0 or GgmlType.Q4_0 or GgmlType.Q5_0))
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

using Liaoyuan.Operators.Quantization;
using Liaoyuan.Operators.Tensors;
using Liaoyuan.Operators.Threading;

namespace Liaoyuan.Operators.Kernels;

/// <summary>
/// Products of up to three interleaved matrices with the same prepared activations, as one dispatch: the jobs of
/// all matrices are numbered one after another, so a layer's Q, K and V (or gate and up) cost one barrier and one
/// activation pass instead of three. Per matrix: four tokens at a time through the tiles, the batch's last tokens
/// one at a time through the row kernel (the same arithmetic per row), rows past the copy through the dots.
/// Reused across calls so that a decode step allocates nothing.
/// </summary>
internal sealed unsafe class InterleavedProductWork : IParallelWork
{
    public const int MaxParts = 3;

    private readonly WeightMatrix[] _weights = new WeightMatrix[MaxParts];
    private readonly nint[] _outputs = new nint[MaxParts];
    private readonly int[] _rowsPerJob = new int[MaxParts];
    private readonly int[] _firstJob = new int[MaxParts + 1];
    private int _parts;

    public sbyte* Quants;
    public float* Scales;
    public int* Seeds;
    public byte* Activations;
    public int ActivationRowBytes;
    public int Tokens;

    public int Jobs => _firstJob[_parts];

    public void Clear() => _parts = 0;

    public void Add(in WeightMatrix weight, float* output, int rowsPerJob)
    {
        _weights[_parts] = weight;
        _outputs[_parts] = (nint)output;
        _rowsPerJob[_parts] = rowsPerJob;
        _firstJob[_parts + 1] = _firstJob[_parts] + (weight.Rows + rowsPerJob - 1) / rowsPerJob;
        _parts++;
    }

    public void Execute(int job)
    {
        int part = 0;
        while (job >= _firstJob[part + 1]) part++;
        ref readonly WeightMatrix w = ref _weights[part];
        int start = (job - _firstJob[part]) * _rowsPerJob[part], end = Math.Min(w.Rows, start + _rowsPerJob[part]);
        float* output = (float*)_outputs[part];
        switch (w.Type)
        {
            case GgmlType.Q8_0: Rows<Q8_0x16>(w, output, start, end); break;
            case GgmlType.Q4_0: Rows<Q4_0x16>(w, output, start, end); break;
            default: Rows<Q5_0x16>(w, output, start, end); break;
        }
    }

    private void Rows<TBlocks>(in WeightMatrix w, float* output, int start, int end) where TBlocks : struct, IInterleavedBlocks
    {
        int blocks = w.Columns / 32, groupEnd = Math.Min(end, w.InterleavedRows), grouped = Tokens & ~3;
        long groupBytes = (long)InterleavedLayout.Rows * w.RowBytes;
        for (int t = 0; t < Tokens; t += t < grouped ? 4 : 1)
        {
            sbyte* quants = Quants + (long)t * blocks * 32;
            float* scales = Scales + (long)t * blocks;
            int* seeds = Seeds + (long)t * blocks;
            float* o = output + (long)t * w.Rows;
            for (int r = start; r < groupEnd; r += InterleavedLayout.Rows)
            {
                byte* group = w.Interleaved + r / InterleavedLayout.Rows * groupBytes;
                if (t < grouped) InterleavedKernels.Tile<TBlocks>(group, quants, scales, seeds, blocks, o + r, w.Rows);
                else InterleavedKernels.Rows<TBlocks>(group, quants, scales, seeds, blocks, o + r);
            }
        }
        MatMulWork.DotRows(w, Activations, ActivationRowBytes, output, Math.Max(start, groupEnd), end, 0, Tokens);
    }
}

using Liaoyuan.Operators.Quantization;
using Liaoyuan.Operators.Tensors;
using Liaoyuan.Operators.Threading;

namespace Liaoyuan.Operators.Kernels;

/// <summary>
/// One matrix product split into row blocks for the worker pool. Decode (one token) is a dot product per row;
/// a batch of tokens goes through tile kernels that decode each weight block once for four tokens.
/// Reused across calls so that a decode step allocates nothing.
/// </summary>
internal sealed unsafe class MatMulWork : IParallelWork
{
    public enum Strategy
    {
        Dots,
        HalfDots,
        QuantizedTiles,
        FloatTiles,
    }

    [ThreadStatic] private static float[]? _rowScratch;

    public WeightMatrix Weight;
    public byte* Activations;
    public int ActivationRowBytes;
    public float* FloatActivations;
    public sbyte* PackedQuants;
    public float* PackedScales;
    public float* Output;
    public int Tokens;
    public int RowsPerJob;
    public Strategy Mode;

    public int Jobs => (Weight.Rows + RowsPerJob - 1) / RowsPerJob;

    public void Execute(int job)
    {
        int start = job * RowsPerJob, end = Math.Min(Weight.Rows, start + RowsPerJob);
        switch (Mode)
        {
            case Strategy.Dots when PackedQuants != null: PackedRows(start, end); break;
            case Strategy.Dots: Dots(start, end, 0); break;
            case Strategy.HalfDots: HalfDots(start, end); break;
            case Strategy.QuantizedTiles: QuantizedTiles(start, end); break;
            default: FloatTiles(start, end); break;
        }
    }

    private void Dots(int start, int end, int firstToken) => DotsForTokens(start, end, firstToken, Tokens);

    private void DotsForTokens(int start, int end, int firstToken, int endToken) =>
        DotRows(Weight, Activations, ActivationRowBytes, Output, start, end, firstToken, endToken);

    /// <summary>Rows [start, end) × tokens [firstToken, endToken) as one-token dot products on quantized activation rows.</summary>
    internal static void DotRows(in WeightMatrix w, byte* activations, int activationRowBytes, float* output,
        int start, int end, int firstToken, int endToken)
    {
        if (end <= start) return;
        // Token by token over the whole row range: a job's rows (tens of kilobytes) stay in cache for the next token.
        for (int t = firstToken; t < endToken; t++)
            DotProducts.Rows(w.Type, w.Data + (long)start * w.RowBytes, w.RowBytes, end - start,
                activations + (long)t * activationRowBytes, w.Columns, output + (long)t * w.Rows + start, 1);
    }

    /// <summary>One token against Q8_0 / Q4_0 / Q5_0 rows, one row after another.</summary>
    private void PackedRows(int start, int end)
    {
        switch (Weight.Type)
        {
            case GgmlType.Q8_0: PackedRows<Q8_0Blocks>(start, end); break;
            case GgmlType.Q4_0: PackedRows<Q4_0Blocks>(start, end); break;
            default: PackedRows<Q5_0Blocks>(start, end); break;
        }
    }

    private void PackedRows<TBlocks>(int start, int end) where TBlocks : struct, IOffsetBlocks
    {
        var w = Weight;
        int blocks = w.Columns / 32;
        byte* row = w.Data + (long)start * w.RowBytes;
        for (int r = start; r < end; r++, row += w.RowBytes)
            Output[r] = VnniTileKernels.Row<TBlocks>(row, PackedQuants, PackedScales, blocks);
    }

    /// <summary>F16 weights against activations widened and scaled once per product (see F16ByScaled).</summary>
    private void HalfDots(int start, int end)
    {
        var w = Weight;
        int n = w.Columns;
        for (int r = start; r < end; r++)
        {
            var row = new ReadOnlySpan<ushort>(w.Data + (long)r * w.RowBytes, n);
            for (int t = 0; t < Tokens; t++)
                Output[(long)t * w.Rows + r] = FloatDotProducts.F16ByScaled(row, new ReadOnlySpan<float>(FloatActivations + (long)t * n, n));
        }
    }

    private void QuantizedTiles(int start, int end)
    {
        var w = Weight;
        int blocks = w.Columns / 32, grouped = Tokens & ~3;
        for (int t = 0; t < grouped; t += 4)
        {
            byte* a = Activations + (long)t * ActivationRowBytes;
            float* o = Output + (long)t * w.Rows;
            int r = start;
            if (PackedQuants != null)
            {
                sbyte* quants = PackedQuants + (long)t * blocks * 32;
                float* scales = PackedScales + (long)t * blocks;
                if (VnniTileKernels.IsSupported)
                {
                    for (; r + VnniTileKernels.Rows <= end; r += VnniTileKernels.Rows)
                    {
                        byte* rows = w.Data + (long)r * w.RowBytes;
                        if (w.Type == GgmlType.Q8_0) VnniTileKernels.Tile<Q8_0Blocks>(rows, w.RowBytes, quants, scales, blocks, o + r, w.Rows);
                        else if (w.Type == GgmlType.Q4_0) VnniTileKernels.Tile<Q4_0Blocks>(rows, w.RowBytes, quants, scales, blocks, o + r, w.Rows);
                        else VnniTileKernels.Tile<Q5_0Blocks>(rows, w.RowBytes, quants, scales, blocks, o + r, w.Rows);
                    }
                }
                else
                {
                    for (; r + Avx2PackedTileKernels.Rows <= end; r += Avx2PackedTileKernels.Rows)
                    {
                        byte* rows = w.Data + (long)r * w.RowBytes;
                        if (w.Type == GgmlType.Q8_0) Avx2PackedTileKernels.Tile<SignedQ8_0>(rows, w.RowBytes, quants, scales, blocks, o + r, w.Rows);
                        else if (w.Type == GgmlType.Q4_0) Avx2PackedTileKernels.Tile<SignedQ4_0>(rows, w.RowBytes, quants, scales, blocks, o + r, w.Rows);
                        else Avx2PackedTileKernels.Tile<SignedQ5_0>(rows, w.RowBytes, quants, scales, blocks, o + r, w.Rows);
                    }
                }
            }
            if (r < end && w.Type == GgmlType.Q5_0)
            {
                // Q5_0 has no 1×4 tile; its leftover rows go through the dots like the leftover tokens.
                DotsForTokens(r, end, t, t + 4);
                continue;
            }
            for (; r < end; r++)
            {
                byte* row = w.Data + (long)r * w.RowBytes;
                switch (w.Type)
                {
                    case GgmlType.Q8_0: Avx2TileKernels.Q8_0x4(row, a, ActivationRowBytes, blocks, o + r, w.Rows); break;
                    case GgmlType.Q4_0: Avx2TileKernels.Q4_0x4(row, a, ActivationRowBytes, blocks, o + r, w.Rows); break;
                    case GgmlType.Q4_K: KQuantTileKernels.Q4_Kx4(row, a, ActivationRowBytes, w.Columns / 256, o + r, w.Rows); break;
                    default: KQuantTileKernels.Q6_Kx4(row, a, ActivationRowBytes, w.Columns / 256, o + r, w.Rows); break;
                }
            }
        }
        if (grouped < Tokens) Dots(start, end, grouped);
    }

    private void FloatTiles(int start, int end)
    {
        var w = Weight;
        int n = w.Columns, rows = end - start;
        // 16 spare floats let the rows start on a cache line, so the tiles' 32-byte loads never straddle two.
        float[] scratch = _rowScratch is { } s && s.Length >= rows * n + 16 ? s : (_rowScratch = new float[rows * n + 16]);
        fixed (float* buffer = scratch)
        {
            float* block = (float*)(((nint)buffer + 63) & ~(nint)63);
            for (int r = 0; r < rows; r++)
                Quantizer.DequantizeRow(w.Type, new ReadOnlySpan<byte>(w.Data + (long)(start + r) * w.RowBytes, w.RowBytes), new Span<float>(block + (long)r * n, n));
            int grouped = Tokens & ~3;
            for (int t = 0; t < grouped; t += 4)
            {
                float* a = FloatActivations + (long)t * n;
                float* o = Output + (long)t * w.Rows;
                int r = 0;
                for (; r + 4 <= rows; r += 4) FloatTileKernels.F32x4x4(block + (long)r * n, n, a, n, n, o + start + r, w.Rows);
                for (; r < rows; r++) FloatTileKernels.F32x4(block + (long)r * n, a, n, n, o + start + r, w.Rows);
            }
            for (int t = grouped; t < Tokens; t++)
            {
                var a = new ReadOnlySpan<float>(FloatActivations + (long)t * n, n);
                for (int r = 0; r < rows; r++)
                    Output[(long)t * w.Rows + start + r] = Vectors.VectorMath.Dot(new ReadOnlySpan<float>(block + (long)r * n, n), a);
            }
        }
    }
}

using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Liaoyuan.Training.Ops;

/// <summary>
/// C[m×n] (+)= A[m×k] · B[k×n] in float32. A and B are each addressed through a row and a column stride, so a
/// transposed operand (Wᵀ in the forward pass, dYᵀ in the weight gradient) is read in place and never
/// materialised; C is row-major. Each C element is one fused multiply-add chain over k in increasing order,
/// whatever the tiling, which makes the result independent of the thread count.
/// B is packed once per call into panels as wide as the register kernel (k × 32, or k × 16 for the 256-bit kernel,
/// zero-padded at the right edge) shared by all threads;
/// then, one 256-deep block of k at a time, each task owns 64 (or 60) rows × up to 512 columns of C, packs its slice
/// of A into row groups as tall as the register kernel (a transposed A is read in place, its groups being
/// contiguous already) and runs the register kernel (8×32, or 6×16 on 256-bit registers) over them, so a depth block's slice of a B panel stays in L1 while every
/// group passes over it.
/// </summary>
internal static unsafe partial class Gemm
{
    private const int DepthBlock = 256, MaxRowBlock = 64;
    private const int MaxTileColumns = 512, WidePanelColumns = 32, NarrowPanelColumns = 16;
    // Row groups as tall as the register kernel: 8 for the 512-bit 8×32 kernel, 6 for the 256-bit 6×16 one
    // (twelve accumulators hide the FMA latency that eight could not; 12 FMAs per 8 loads instead of 8 per 6).
    // A panel is as wide as the register kernel: 32 columns for the 512-bit kernel, 16 for the 256-bit one, so the
    // kernel walks its panel contiguously (a 16-wide kernel on 32-wide panels touched every other cache line and
    // used only half of L1's sets).
    // The kernel (and so the panel width) is chosen once per call and carried in Operands, so a test switching
    // UseWideKernel never meets a call packed for the other width.
    // Larger B operands (the output projection of a big vocabulary) are packed and multiplied in column chunks.
    private const long PackedBLimit = 4L << 20;

    /// <summary>The product with a row-major B of row stride <paramref name="ldb"/>.</summary>
    public static void Multiply(Compute compute, int m, int n, int k,
        float[] a, int aOffset, int aRowStride, int aColumnStride,
        float[] b, int bOffset, int ldb,
        float[] c, int cOffset, int ldc, bool accumulate) =>
        Multiply(compute, m, n, k, a, aOffset, aRowStride, aColumnStride, b, bOffset, ldb, 1, c, cOffset, ldc, accumulate);

    /// <summary>The product with A[i, p] = a[aOffset + i·aRowStride + p·aColumnStride] and B[p, j] likewise.</summary>
    public static void Multiply(Compute compute, int m, int n, int k,
        float[] a, int aOffset, int aRowStride, int aColumnStride,
        float[] b, int bOffset, int bRowStride, int bColumnStride,
        float[] c, int cOffset, int ldc, bool accumulate)
    {
        if (m == 0 || n == 0) return;
        if (k == 0)
        {
            if (!accumulate) for (int i = 0; i < m; i++) Array.Clear(c, cOffset + i * ldc, n);
            return;
        }
        var o = new Operands(a, aRowStride, aColumnStride, b, bRowStride, bColumnStride, c, ldc, UseWideKernel);
        int paddedColumns = RoundUp(n, o.Columns);
        if ((long)k * paddedColumns <= PackedBLimit)
        {
            MultiplyChunk(compute, m, n, k, o, aOffset, bOffset, cOffset, accumulate);
            return;
        }
        // Too big a B to pack at once: cut it into column chunks, each of which re-reads all of A, or into depth
        // chunks, each of which re-reads and re-writes all of C, whichever moves less. Either way every element of
        // C still sums over k in order.
        int columnChunk = (int)Math.Max(o.Columns, PackedBLimit / k / o.Columns * o.Columns);
        int depthChunk = (int)Math.Max(DepthBlock, PackedBLimit / paddedColumns / DepthBlock * DepthBlock);
        long columnTraffic = (long)((n + columnChunk - 1) / columnChunk) * m * k;
        long depthTraffic = (long)((k + depthChunk - 1) / depthChunk) * 2 * m * n;
        if (columnTraffic <= depthTraffic)
        {
            for (int j0 = 0; j0 < n; j0 += columnChunk)
                MultiplyChunk(compute, m, Math.Min(columnChunk, n - j0), k, o, aOffset, bOffset + (long)j0 * bColumnStride, cOffset + (long)j0, accumulate);
        }
        else
        {
            for (int p0 = 0; p0 < k; p0 += depthChunk)
                MultiplyChunk(compute, m, n, Math.Min(depthChunk, k - p0), o, aOffset + (long)p0 * aColumnStride, bOffset + (long)p0 * bRowStride,
                    cOffset, accumulate || p0 > 0);
        }
    }

    /// <summary>512-bit registers where the CPU has them; tests switch it off to check that the 256-bit path agrees bit for bit.</summary>
    internal static bool UseWideKernel { get; set; } = Vector512.IsHardwareAccelerated;

    // Per-thread packing buffers: the register kernel then walks both operands contiguously, whatever the strides
    // of the originals (a stride of a power-of-two kilobytes would otherwise thrash one L1 set).
    [ThreadStatic] private static float[]? PackedA;
    [ThreadStatic] private static float[]? PackedB;

    private sealed record Operands(float[] A, long AStrideRow, long AStrideColumn, float[] B, long BStrideRow, long BStrideColumn, float[] C, int Ldc,
        bool Wide)
    {
        public int Columns => Wide ? WidePanelColumns : NarrowPanelColumns;

        public int GroupRows => Wide ? 8 : 6;

        /// <summary>Rows of C per task: whole groups, 64 or 60.</summary>
        public int RowBlock => MaxRowBlock / GroupRows * GroupRows;
    }

    private static int RoundUp(int value, int multiple) => (value + multiple - 1) / multiple * multiple;

    private static void MultiplyChunk(Compute compute, int m, int n, int k, Operands o, long aOffset, long bOffset, long cOffset, bool accumulate)
    {
        int columns = o.Columns, maxPanelsPerTile = MaxTileColumns / columns;
        int panels = (n + columns - 1) / columns;
        long packedLength = (long)panels * columns * k;
        if (PackedB is null || PackedB.Length < packedLength) PackedB = new float[packedLength];
        var packedB = PackedB;
        const int panelsPerPack = 8;
        compute.For((panels + panelsPerPack - 1) / panelsPerPack, part =>
        {
            fixed (float* pb = o.B, target = packedB)
            {
                for (int panel = part * panelsPerPack; panel < Math.Min(panels, (part + 1) * panelsPerPack); panel++)
                {
                    int j = panel * columns;
                    PackPanelOfB(pb + bOffset + j * o.BStrideColumn, o.BStrideRow, o.BStrideColumn, k, Math.Min(columns, n - j), columns,
                        target + (long)panel * columns * k);
                }
            }
        });

        // Tasks are blocks of 64 rows × at most 512 columns of panels, enumerated down the rows first: a thread's
        // consecutive tasks then reuse the same slice of B (≤ 512 KB per depth block) from its L2 while A streams.
        // Depth blocks run one after another over all tasks, so a long k (weight gradients, the vocabulary's
        // input gradient) does not pull the whole packed B through every task.
        int groupRows = o.GroupRows, rowBlock = o.RowBlock;
        int rowTiles = (m + rowBlock - 1) / rowBlock;
        int columnTiles = (panels + maxPanelsPerTile - 1) / maxPanelsPerTile;
        if (compute.Threads > 1 && rowTiles * columnTiles < 2 * compute.Threads)
            columnTiles = Math.Min(panels, (2 * compute.Threads + rowTiles - 1) / rowTiles);
        int panelsPerTile = (panels + columnTiles - 1) / columnTiles;
        columnTiles = (panels + panelsPerTile - 1) / panelsPerTile;
        // A transposed in memory (dYᵀ, Pᵀ) already holds each group's eight rows side by side at every depth step,
        // so the kernel can read full groups in place, unless its row stride is a multiple of 1 KiB: then a depth
        // block's 256 lines fall into a few L1 sets and thrash, and the group is packed (eight-float copies) instead.
        bool direct = o.AStrideRow == 1 && o.AStrideColumn * sizeof(float) % 1024 != 0;
        bool wide = o.Wide;
        for (int p0 = 0; p0 < k; p0 += DepthBlock)
        {
            int blockStart = p0, depth = Math.Min(DepthBlock, k - p0);
            bool load = accumulate || p0 > 0;
            compute.For(rowTiles * columnTiles, task =>
            {
                int i0 = task % rowTiles * rowBlock, rows = Math.Min(rowBlock, m - i0);
                int panel0 = task / rowTiles * panelsPerTile, panel1 = Math.Min(panels, panel0 + panelsPerTile);
                int fullRows = rows / groupRows * groupRows;
                var packedA = PackedA ??= new float[MaxRowBlock * DepthBlock];
                float* edge = stackalloc float[8 * WidePanelColumns];
                fixed (float* pa = o.A, pb = packedB, pc = o.C, packA = packedA)
                {
                    float* aBlock = pa + aOffset + i0 * o.AStrideRow + blockStart * o.AStrideColumn;
                    PackBlockOfA(aBlock, o.AStrideRow, o.AStrideColumn, direct ? fullRows : 0, rows, m - i0, depth, groupRows, packA);
                    for (int panel = panel0; panel < panel1; panel++)
                    {
                        int j = panel * columns, width = Math.Min(columns, n - j);
                        float* bp = pb + (long)panel * columns * k + (long)blockStart * columns;
                        for (int r = 0; r < rows; r += groupRows)
                        {
                            bool inPlace = direct && r < fullRows;
                            float* ap = inPlace ? aBlock + r : packA + r * depth;
                            long aStep = inPlace ? o.AStrideColumn : groupRows;
                            float* cp = pc + cOffset + (long)(i0 + r) * o.Ldc + j;
                            int height = Math.Min(groupRows, rows - r);
                            if (height == groupRows && width == columns)
                            {
                                Block(wide, ap, aStep, bp, cp, o.Ldc, depth, load);
                            }
                            else
                            {
                                // A ragged border: the kernel runs on a zero-padded copy and only the real part goes back.
                                if (load)
                                    for (int row = 0; row < height; row++)
                                        new ReadOnlySpan<float>(cp + (long)row * o.Ldc, width).CopyTo(new Span<float>(edge + row * columns, width));
                                Block(wide, ap, aStep, bp, edge, columns, depth, load);
                                for (int row = 0; row < height; row++)
                                    new ReadOnlySpan<float>(edge + row * columns, width).CopyTo(new Span<float>(cp + (long)row * o.Ldc, width));
                            }
                        }
                    }
                }
            });
        }
    }

    private static void Block(bool wide, float* a, long aStep, float* b, float* c, int ldc, int depth, bool load)
    {
        if (wide)
        {
            Kernel8x32(a, aStep, b, c, ldc, depth, load);
        }
        else
        {
            Kernel6x16(a, aStep, b, c, ldc, depth, load);
        }
    }

    /// <summary>
    /// Copies rows [firstRow, rows) × depth of A into groups of <paramref name="groupRows"/> rows interleaved per
    /// depth step, [group][p][row], zero-padding the last group.
    /// </summary>
    /// <remarks><paramref name="rowsInMatrix"/> (≥ rows) says how many rows exist from <paramref name="a"/> on, so the
    /// eight-row transpose may read the two rows below a six-row group when they belong to the next block.</remarks>
    private static void PackBlockOfA(float* a, long rowStride, long columnStride, int firstRow, int rows, int rowsInMatrix, int depth,
        int groupRows, float* packed)
    {
        float* columns = stackalloc float[64];
        int r0 = firstRow;
        for (; r0 < rows; r0 += groupRows)
        {
            int height = Math.Min(groupRows, rows - r0);
            float* source = a + r0 * rowStride;
            float* target = packed + r0 * depth;
            int p = 0;
            if (height == 8 && groupRows == 8 && columnStride == 1 && Avx.IsSupported)
            {
                for (; p + 8 <= depth; p += 8) Transpose8x8(source + p, rowStride, target + p * 8, 8);
            }
            else if (height == groupRows && r0 + 8 <= rowsInMatrix && columnStride == 1 && Avx.IsSupported)
            {
                // Six rows: an 8×8 transpose of these rows and the next two (which exist), keeping six of each column.
                for (; p + 8 <= depth; p += 8)
                {
                    Transpose8x8(source + p, rowStride, columns, 8);
                    for (int q = 0; q < 8; q++)
                    {
                        float* step = target + (p + q) * groupRows;
                        Vector128.Load(columns + 8 * q).Store(step);
                        step[4] = columns[8 * q + 4];
                        step[5] = columns[8 * q + 5];
                    }
                }
            }
            else if (height == 8 && groupRows == 8 && rowStride == 1 && Vector256.IsHardwareAccelerated)
            {
                for (; p < depth; p++) Vector256.Load(source + p * columnStride).Store(target + p * 8);
            }
            else if (height == groupRows && rowStride == 1 && Vector128.IsHardwareAccelerated)
            {
                for (; p < depth; p++)
                {
                    float* step = source + p * columnStride;
                    Vector128.Load(step).Store(target + p * groupRows);
                    target[p * groupRows + 4] = step[4];
                    target[p * groupRows + 5] = step[5];
                }
            }
            for (; p < depth; p++)
                for (int r = 0; r < groupRows; r++)
                    target[p * groupRows + r] = r < height ? source[r * rowStride + p * columnStride] : 0f;
        }
    }

    /// <summary>Copies depth × width of B into a panel of <paramref name="columns"/>, [p][column], zero-padding columns past width.</summary>
    private static void PackPanelOfB(float* b, long rowStride, long columnStride, int depth, int width, int columns, float* packed)
    {
        int p = 0;
        if (width == columns && columnStride == 1 && Vector256.IsHardwareAccelerated)
        {
            for (; p < depth; p++)
            {
                float* source = b + p * rowStride;
                float* target = packed + p * columns;
                for (int j = 0; j < columns; j += 8) Vector256.Load(source + j).Store(target + j);
            }
        }
        else if (width == columns && rowStride == 1 && Avx.IsSupported)
        {
            for (; p + 8 <= depth; p += 8)
                for (int j = 0; j < columns; j += 8)
                    Transpose8x8(b + j * columnStride + p, columnStride, packed + p * columns + j, columns);
        }
        for (; p < depth; p++)
            for (int j = 0; j < columns; j++)
                packed[p * columns + j] = j < width ? b[p * rowStride + j * columnStride] : 0f;
    }

    /// <summary>Eight rows of eight floats (row stride <paramref name="sourceStride"/>) written as their eight columns.</summary>
    private static void Transpose8x8(float* source, long sourceStride, float* target, long targetStride)
    {
        var r0 = Avx.LoadVector256(source);
        var r1 = Avx.LoadVector256(source + sourceStride);
        var r2 = Avx.LoadVector256(source + 2 * sourceStride);
        var r3 = Avx.LoadVector256(source + 3 * sourceStride);
        var r4 = Avx.LoadVector256(source + 4 * sourceStride);
        var r5 = Avx.LoadVector256(source + 5 * sourceStride);
        var r6 = Avx.LoadVector256(source + 6 * sourceStride);
        var r7 = Avx.LoadVector256(source + 7 * sourceStride);
        // Pairs of rows interleaved, then quads, then the two 128-bit halves exchanged.
        var u0 = Avx.UnpackLow(r0, r1); var u1 = Avx.UnpackHigh(r0, r1);
        var u2 = Avx.UnpackLow(r2, r3); var u3 = Avx.UnpackHigh(r2, r3);
        var u4 = Avx.UnpackLow(r4, r5); var u5 = Avx.UnpackHigh(r4, r5);
        var u6 = Avx.UnpackLow(r6, r7); var u7 = Avx.UnpackHigh(r6, r7);
        var s0 = Avx.Shuffle(u0, u2, 0x44); var s1 = Avx.Shuffle(u0, u2, 0xEE);
        var s2 = Avx.Shuffle(u1, u3, 0x44); var s3 = Avx.Shuffle(u1, u3, 0xEE);
        var s4 = Avx.Shuffle(u4, u6, 0x44); var s5 = Avx.Shuffle(u4, u6, 0xEE);
        var s6 = Avx.Shuffle(u5, u7, 0x44); var s7 = Avx.Shuffle(u5, u7, 0xEE);
        Avx.Store(target, Avx.Permute2x128(s0, s4, 0x20));
        Avx.Store(target + targetStride, Avx.Permute2x128(s1, s5, 0x20));
        Avx.Store(target + 2 * targetStride, Avx.Permute2x128(s2, s6, 0x20));
        Avx.Store(target + 3 * targetStride, Avx.Permute2x128(s3, s7, 0x20));
        Avx.Store(target + 4 * targetStride, Avx.Permute2x128(s0, s4, 0x31));
        Avx.Store(target + 5 * targetStride, Avx.Permute2x128(s1, s5, 0x31));
        Avx.Store(target + 6 * targetStride, Avx.Permute2x128(s2, s6, 0x31));
        Avx.Store(target + 7 * targetStride, Avx.Permute2x128(s3, s7, 0x31));
    }
}

using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Liaoyuan.Training.Ops;

/// <summary>
/// C[m×n] (+)= A[m×k] · B[k×n] in float32. A is addressed through a row and a column stride, so a transposed
/// operand costs nothing; B and C are row-major. Each C element is one fused multiply-add chain over k in
/// increasing order, whatever the tiling, which makes the result independent of the thread count.
/// Each tile packs a 64×256 block of A and, in turn, 256×32 panels of B, which stay in L1 while the register
/// kernel runs 4×32 blocks of C over them.
/// </summary>
internal static unsafe class Gemm
{
    private const int RowBlock = 64, ColumnBlock = 256, DepthBlock = 256;
    private const int MicroRows = 8, MicroColumns = 32, Lanes = 8;

    public static void Multiply(Compute compute, int m, int n, int k,
        float[] a, int aOffset, int aRowStride, int aColumnStride,
        float[] b, int bOffset, int ldb,
        float[] c, int cOffset, int ldc, bool accumulate)
    {
        if (m == 0 || n == 0) return;
        if (k == 0)
        {
            if (!accumulate) for (int i = 0; i < m; i++) Array.Clear(c, cOffset + i * ldc, n);
            return;
        }
        int rowTiles = (m + RowBlock - 1) / RowBlock, columnTiles = (n + ColumnBlock - 1) / ColumnBlock;
        compute.For(rowTiles * columnTiles, tile =>
        {
            int i0 = tile / columnTiles * RowBlock, j0 = tile % columnTiles * ColumnBlock;
            int i1 = Math.Min(m, i0 + RowBlock), j1 = Math.Min(n, j0 + ColumnBlock);
            int fullRows = (i1 - i0) / MicroRows * MicroRows;
            var packedA = PackedA ??= new float[RowBlock * DepthBlock];
            var packedB = PackedB ??= new float[DepthBlock * MicroColumns];
            fixed (float* pa = &a[aOffset], pb = &b[bOffset], pc = &c[cOffset], packA = packedA, packB = packedB)
            {
                for (int p0 = 0; p0 < k; p0 += DepthBlock)
                {
                    int depth = Math.Min(DepthBlock, k - p0);
                    bool load = accumulate || p0 > 0;
                    PackA(pa + (long)i0 * aRowStride + (long)p0 * aColumnStride, aRowStride, aColumnStride, fullRows, depth, packA);
                    for (int j = j0; j < j1; j += MicroColumns)
                    {
                        int width = Math.Min(MicroColumns, j1 - j);
                        float* bp = pb + (long)p0 * ldb + j;
                        if (width == MicroColumns)
                            for (int p = 0; p < depth; p++)
                                Buffer.MemoryCopy(bp + (long)p * ldb, packB + p * MicroColumns, MicroColumns * sizeof(float), MicroColumns * sizeof(float));
                        for (int i = i0; i < i1; i += MicroRows)
                        {
                            float* cp = pc + (long)i * ldc + j;
                            int rows = Math.Min(MicroRows, i1 - i);
                            if (rows == MicroRows && width == MicroColumns)
                            {
                                float* ap = packA + (i - i0) * depth;
                                if (UseWideKernel)
                                {
                                    Kernel8x32(ap, packB, cp, ldc, depth, load);
                                }
                                else
                                {
                                    Kernel4x32(ap, packB, cp, ldc, depth, load);
                                    Kernel4x32(ap + 4, packB, cp + 4L * ldc, ldc, depth, load);
                                }
                            }
                            else
                            {
                                float* ap = pa + (long)i * aRowStride + (long)p0 * aColumnStride;
                                EdgeKernel(ap, aRowStride, aColumnStride, bp, ldb, cp, ldc, depth, rows, width, load);
                            }
                        }
                    }
                }
            }
        });
    }

    /// <summary>512-bit registers where the CPU has them; tests switch it off to check that the 256-bit path agrees bit for bit.</summary>
    internal static bool UseWideKernel { get; set; } = Vector512.IsHardwareAccelerated;

    // Per-thread packing buffers: the register kernel then walks both operands contiguously, whatever the strides
    // of the originals (a stride of a power-of-two kilobytes would otherwise thrash one L1 set).
    [ThreadStatic] private static float[]? PackedA;
    [ThreadStatic] private static float[]? PackedB;

    /// <summary>Copies rows × depth of A into groups of eight rows interleaved per depth step: [group][p][row].</summary>
    private static void PackA(float* a, int ars, int acs, int rows, int depth, float* packed)
    {
        if (acs == 1)
        {
            for (int r = 0; r < rows; r++)
            {
                float* source = a + (long)r * ars;
                float* target = packed + r / MicroRows * MicroRows * depth + r % MicroRows;
                for (int p = 0; p < depth; p++) target[p * MicroRows] = source[p];
            }
        }
        else
        {
            for (int group = 0; group < rows; group += MicroRows)
            {
                float* source = a + (long)group * ars;
                float* target = packed + group * depth;
                for (int p = 0; p < depth; p++, source += acs, target += MicroRows)
                {
                    for (int r = 0; r < MicroRows; r++) target[r] = source[(long)r * ars];
                }
            }
        }
    }

    /// <summary>8×32 of C in sixteen 512-bit registers; a is packed [p][8], b is packed [p][32].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel8x32(float* a, float* b, float* c, int ldc, int depth, bool load)
    {
        Vector512<float> c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51, c60, c61, c70, c71;
        if (load)
        {
            c00 = Vector512.Load(c); c01 = Vector512.Load(c + 16);
            c10 = Vector512.Load(c + ldc); c11 = Vector512.Load(c + ldc + 16);
            c20 = Vector512.Load(c + 2 * ldc); c21 = Vector512.Load(c + 2 * ldc + 16);
            c30 = Vector512.Load(c + 3 * ldc); c31 = Vector512.Load(c + 3 * ldc + 16);
            c40 = Vector512.Load(c + 4 * ldc); c41 = Vector512.Load(c + 4 * ldc + 16);
            c50 = Vector512.Load(c + 5 * ldc); c51 = Vector512.Load(c + 5 * ldc + 16);
            c60 = Vector512.Load(c + 6 * ldc); c61 = Vector512.Load(c + 6 * ldc + 16);
            c70 = Vector512.Load(c + 7 * ldc); c71 = Vector512.Load(c + 7 * ldc + 16);
        }
        else
        {
            c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = c60 = c61 = c70 = c71 = Vector512<float>.Zero;
        }
        for (int p = 0; p < depth; p++)
        {
            var b0 = Vector512.Load(b); var b1 = Vector512.Load(b + 16);
            var a0 = Vector512.Create(a[0]); c00 = Vector512.FusedMultiplyAdd(a0, b0, c00); c01 = Vector512.FusedMultiplyAdd(a0, b1, c01);
            var a1 = Vector512.Create(a[1]); c10 = Vector512.FusedMultiplyAdd(a1, b0, c10); c11 = Vector512.FusedMultiplyAdd(a1, b1, c11);
            var a2 = Vector512.Create(a[2]); c20 = Vector512.FusedMultiplyAdd(a2, b0, c20); c21 = Vector512.FusedMultiplyAdd(a2, b1, c21);
            var a3 = Vector512.Create(a[3]); c30 = Vector512.FusedMultiplyAdd(a3, b0, c30); c31 = Vector512.FusedMultiplyAdd(a3, b1, c31);
            var a4 = Vector512.Create(a[4]); c40 = Vector512.FusedMultiplyAdd(a4, b0, c40); c41 = Vector512.FusedMultiplyAdd(a4, b1, c41);
            var a5 = Vector512.Create(a[5]); c50 = Vector512.FusedMultiplyAdd(a5, b0, c50); c51 = Vector512.FusedMultiplyAdd(a5, b1, c51);
            var a6 = Vector512.Create(a[6]); c60 = Vector512.FusedMultiplyAdd(a6, b0, c60); c61 = Vector512.FusedMultiplyAdd(a6, b1, c61);
            var a7 = Vector512.Create(a[7]); c70 = Vector512.FusedMultiplyAdd(a7, b0, c70); c71 = Vector512.FusedMultiplyAdd(a7, b1, c71);
            a += MicroRows;
            b += MicroColumns;
        }
        c00.Store(c); c01.Store(c + 16);
        c10.Store(c + ldc); c11.Store(c + ldc + 16);
        c20.Store(c + 2 * ldc); c21.Store(c + 2 * ldc + 16);
        c30.Store(c + 3 * ldc); c31.Store(c + 3 * ldc + 16);
        c40.Store(c + 4 * ldc); c41.Store(c + 4 * ldc + 16);
        c50.Store(c + 5 * ldc); c51.Store(c + 5 * ldc + 16);
        c60.Store(c + 6 * ldc); c61.Store(c + 6 * ldc + 16);
        c70.Store(c + 7 * ldc); c71.Store(c + 7 * ldc + 16);
    }

    /// <summary>The 256-bit fallback: 4×32 of C from half of an 8-row packed group.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel4x32(float* a, float* b, float* c, int ldc, int depth, bool load)
    {
        Vector256<float> c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33;
        if (load)
        {
            c00 = Vector256.Load(c); c01 = Vector256.Load(c + 8); c02 = Vector256.Load(c + 16); c03 = Vector256.Load(c + 24);
            float* r1 = c + ldc, r2 = c + 2 * ldc, r3 = c + 3 * ldc;
            c10 = Vector256.Load(r1); c11 = Vector256.Load(r1 + 8); c12 = Vector256.Load(r1 + 16); c13 = Vector256.Load(r1 + 24);
            c20 = Vector256.Load(r2); c21 = Vector256.Load(r2 + 8); c22 = Vector256.Load(r2 + 16); c23 = Vector256.Load(r2 + 24);
            c30 = Vector256.Load(r3); c31 = Vector256.Load(r3 + 8); c32 = Vector256.Load(r3 + 16); c33 = Vector256.Load(r3 + 24);
        }
        else
        {
            c00 = c01 = c02 = c03 = c10 = c11 = c12 = c13 = c20 = c21 = c22 = c23 = c30 = c31 = c32 = c33 = Vector256<float>.Zero;
        }
        for (int p = 0; p < depth; p++)
        {
            var b0 = Vector256.Load(b); var b1 = Vector256.Load(b + 8); var b2 = Vector256.Load(b + 16); var b3 = Vector256.Load(b + 24);
            var a0 = Vector256.Create(a[0]);
            c00 = Vector256.FusedMultiplyAdd(a0, b0, c00); c01 = Vector256.FusedMultiplyAdd(a0, b1, c01);
            c02 = Vector256.FusedMultiplyAdd(a0, b2, c02); c03 = Vector256.FusedMultiplyAdd(a0, b3, c03);
            var a1 = Vector256.Create(a[1]);
            c10 = Vector256.FusedMultiplyAdd(a1, b0, c10); c11 = Vector256.FusedMultiplyAdd(a1, b1, c11);
            c12 = Vector256.FusedMultiplyAdd(a1, b2, c12); c13 = Vector256.FusedMultiplyAdd(a1, b3, c13);
            var a2 = Vector256.Create(a[2]);
            c20 = Vector256.FusedMultiplyAdd(a2, b0, c20); c21 = Vector256.FusedMultiplyAdd(a2, b1, c21);
            c22 = Vector256.FusedMultiplyAdd(a2, b2, c22); c23 = Vector256.FusedMultiplyAdd(a2, b3, c23);
            var a3 = Vector256.Create(a[3]);
            c30 = Vector256.FusedMultiplyAdd(a3, b0, c30); c31 = Vector256.FusedMultiplyAdd(a3, b1, c31);
            c32 = Vector256.FusedMultiplyAdd(a3, b2, c32); c33 = Vector256.FusedMultiplyAdd(a3, b3, c33);
            a += MicroRows;
            b += MicroColumns;
        }
        c00.Store(c); c01.Store(c + 8); c02.Store(c + 16); c03.Store(c + 24);
        float* s1 = c + ldc, s2 = c + 2 * ldc, s3 = c + 3 * ldc;
        c10.Store(s1); c11.Store(s1 + 8); c12.Store(s1 + 16); c13.Store(s1 + 24);
        c20.Store(s2); c21.Store(s2 + 8); c22.Store(s2 + 16); c23.Store(s2 + 24);
        c30.Store(s3); c31.Store(s3 + 8); c32.Store(s3 + 16); c33.Store(s3 + 24);
    }

    /// <summary>The ragged border of a tile: one row and 8 columns at a time, then single columns.</summary>
    private static void EdgeKernel(float* a, int ars, int acs, float* b, int ldb, float* c, int ldc, int depth, int rows, int width, bool load)
    {
        for (int r = 0; r < rows; r++)
        {
            float* ar = a + (long)r * ars;
            float* cr = c + (long)r * ldc;
            int j = 0;
            for (; j + Lanes <= width; j += Lanes)
            {
                var acc = load ? Vector256.Load(cr + j) : Vector256<float>.Zero;
                float* bp = b + j;
                float* ap = ar;
                for (int p = 0; p < depth; p++, ap += acs, bp += ldb)
                    acc = Vector256.FusedMultiplyAdd(Vector256.Create(*ap), Vector256.Load(bp), acc);
                acc.Store(cr + j);
            }
            for (; j < width; j++)
            {
                float acc = load ? cr[j] : 0f;
                float* bp = b + j;
                float* ap = ar;
                for (int p = 0; p < depth; p++, ap += acs, bp += ldb) acc = MathF.FusedMultiplyAdd(*ap, *bp, acc);
                cr[j] = acc;
            }
        }
    }

    /// <summary>dst[cols×rows] = srcᵀ for a row-major src[rows×cols], in cache-sized blocks.</summary>
    public static void Transpose(Compute compute, float[] src, int rows, int columns, float[] dst)
    {
        const int block = 32;
        compute.ForRanges(rows, 256, (r0, r1) =>
        {
            for (int rb = r0; rb < r1; rb += block)
                for (int cb = 0; cb < columns; cb += block)
                {
                    int re = Math.Min(r1, rb + block), ce = Math.Min(columns, cb + block);
                    for (int r = rb; r < re; r++)
                        for (int col = cb; col < ce; col++)
                            dst[(long)col * rows + r] = src[(long)r * columns + col];
                }
        });
    }
}

using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Liaoyuan.Training.Ops;

/// <summary>The register kernels of <see cref="Gemm"/>: one 8×32 block of C over packed panels of A and B.</summary>
internal static unsafe partial class Gemm
{
    /// <summary>8×32 of C in sixteen 512-bit registers; a holds 8 rows per depth step, aStep apart; b is packed [p][32].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel8x32(float* a, long aStep, float* b, float* c, int ldc, int depth, bool load)
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
            a += aStep;
            b += WidePanelColumns;
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

    /// <summary>
    /// The 256-bit kernel: 6×16 of C in twelve accumulators, with two B vectors and one broadcast (fifteen of the
    /// sixteen ymm registers), from a 6-row packed group and a 16-column panel.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel6x16(float* a, long aStep, float* b, float* c, int ldc, int depth, bool load)
    {
        if (!Vector256.IsHardwareAccelerated || UseFourLaneKernel)
        {
            Kernel6x16FourLanes(a, aStep, b, c, ldc, depth, load);
            return;
        }
        Vector256<float> c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
        float* r1 = c + ldc, r2 = c + 2 * ldc, r3 = c + 3 * ldc, r4 = c + 4 * ldc, r5 = c + 5 * ldc;
        if (load)
        {
            c00 = Vector256.Load(c); c01 = Vector256.Load(c + 8);
            c10 = Vector256.Load(r1); c11 = Vector256.Load(r1 + 8);
            c20 = Vector256.Load(r2); c21 = Vector256.Load(r2 + 8);
            c30 = Vector256.Load(r3); c31 = Vector256.Load(r3 + 8);
            c40 = Vector256.Load(r4); c41 = Vector256.Load(r4 + 8);
            c50 = Vector256.Load(r5); c51 = Vector256.Load(r5 + 8);
        }
        else
        {
            c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = Vector256<float>.Zero;
        }
        for (int p = 0; p < depth; p++)
        {
            var b0 = Vector256.Load(b); var b1 = Vector256.Load(b + 8);
            var a0 = Vector256.Create(a[0]); c00 = Vector256.FusedMultiplyAdd(a0, b0, c00); c01 = Vector256.FusedMultiplyAdd(a0, b1, c01);
            var a1 = Vector256.Create(a[1]); c10 = Vector256.FusedMultiplyAdd(a1, b0, c10); c11 = Vector256.FusedMultiplyAdd(a1, b1, c11);
            var a2 = Vector256.Create(a[2]); c20 = Vector256.FusedMultiplyAdd(a2, b0, c20); c21 = Vector256.FusedMultiplyAdd(a2, b1, c21);
            var a3 = Vector256.Create(a[3]); c30 = Vector256.FusedMultiplyAdd(a3, b0, c30); c31 = Vector256.FusedMultiplyAdd(a3, b1, c31);
            var a4 = Vector256.Create(a[4]); c40 = Vector256.FusedMultiplyAdd(a4, b0, c40); c41 = Vector256.FusedMultiplyAdd(a4, b1, c41);
            var a5 = Vector256.Create(a[5]); c50 = Vector256.FusedMultiplyAdd(a5, b0, c50); c51 = Vector256.FusedMultiplyAdd(a5, b1, c51);
            a += aStep;
            b += NarrowPanelColumns;
        }
        c00.Store(c); c01.Store(c + 8);
        c10.Store(r1); c11.Store(r1 + 8);
        c20.Store(r2); c21.Store(r2 + 8);
        c30.Store(r3); c31.Store(r3 + 8);
        c40.Store(r4); c41.Store(r4 + 8);
        c50.Store(r5); c51.Store(r5 + 8);
    }

    /// <summary>Tests switch it on to run the 4-lane kernel where 256-bit registers exist.</summary>
    internal static bool UseFourLaneKernel { get; set; }

    /// <summary>
    /// <see cref="Kernel6x16"/> on 4-lane registers (ARM64 AdvSimd: 24 accumulators, four B vectors and one broadcast
    /// of its 32 registers), for CPUs without 256-bit vectors; every element is the same fused chain over k.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel6x16FourLanes(float* a, long aStep, float* b, float* c, int ldc, int depth, bool load)
    {
        Vector128<float> c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23;
        Vector128<float> c30, c31, c32, c33, c40, c41, c42, c43, c50, c51, c52, c53;
        float* r1 = c + ldc, r2 = c + 2 * ldc, r3 = c + 3 * ldc, r4 = c + 4 * ldc, r5 = c + 5 * ldc;
        if (load)
        {
            c00 = Vector128.Load(c); c01 = Vector128.Load(c + 4); c02 = Vector128.Load(c + 8); c03 = Vector128.Load(c + 12);
            c10 = Vector128.Load(r1); c11 = Vector128.Load(r1 + 4); c12 = Vector128.Load(r1 + 8); c13 = Vector128.Load(r1 + 12);
            c20 = Vector128.Load(r2); c21 = Vector128.Load(r2 + 4); c22 = Vector128.Load(r2 + 8); c23 = Vector128.Load(r2 + 12);
            c30 = Vector128.Load(r3); c31 = Vector128.Load(r3 + 4); c32 = Vector128.Load(r3 + 8); c33 = Vector128.Load(r3 + 12);
            c40 = Vector128.Load(r4); c41 = Vector128.Load(r4 + 4); c42 = Vector128.Load(r4 + 8); c43 = Vector128.Load(r4 + 12);
            c50 = Vector128.Load(r5); c51 = Vector128.Load(r5 + 4); c52 = Vector128.Load(r5 + 8); c53 = Vector128.Load(r5 + 12);
        }
        else
        {
            c00 = c01 = c02 = c03 = c10 = c11 = c12 = c13 = c20 = c21 = c22 = c23 = Vector128<float>.Zero;
            c30 = c31 = c32 = c33 = c40 = c41 = c42 = c43 = c50 = c51 = c52 = c53 = Vector128<float>.Zero;
        }
        for (int p = 0; p < depth; p++)
        {
            var b0 = Vector128.Load(b); var b1 = Vector128.Load(b + 4); var b2 = Vector128.Load(b + 8); var b3 = Vector128.Load(b + 12);
            var a0 = Vector128.Create(a[0]);
            c00 = Vector128.FusedMultiplyAdd(a0, b0, c00); c01 = Vector128.FusedMultiplyAdd(a0, b1, c01);
            c02 = Vector128.FusedMultiplyAdd(a0, b2, c02); c03 = Vector128.FusedMultiplyAdd(a0, b3, c03);
            var a1 = Vector128.Create(a[1]);
            c10 = Vector128.FusedMultiplyAdd(a1, b0, c10); c11 = Vector128.FusedMultiplyAdd(a1, b1, c11);
            c12 = Vector128.FusedMultiplyAdd(a1, b2, c12); c13 = Vector128.FusedMultiplyAdd(a1, b3, c13);
            var a2 = Vector128.Create(a[2]);
            c20 = Vector128.FusedMultiplyAdd(a2, b0, c20); c21 = Vector128.FusedMultiplyAdd(a2, b1, c21);
            c22 = Vector128.FusedMultiplyAdd(a2, b2, c22); c23 = Vector128.FusedMultiplyAdd(a2, b3, c23);
            var a3 = Vector128.Create(a[3]);
            c30 = Vector128.FusedMultiplyAdd(a3, b0, c30); c31 = Vector128.FusedMultiplyAdd(a3, b1, c31);
            c32 = Vector128.FusedMultiplyAdd(a3, b2, c32); c33 = Vector128.FusedMultiplyAdd(a3, b3, c33);
            var a4 = Vector128.Create(a[4]);
            c40 = Vector128.FusedMultiplyAdd(a4, b0, c40); c41 = Vector128.FusedMultiplyAdd(a4, b1, c41);
            c42 = Vector128.FusedMultiplyAdd(a4, b2, c42); c43 = Vector128.FusedMultiplyAdd(a4, b3, c43);
            var a5 = Vector128.Create(a[5]);
            c50 = Vector128.FusedMultiplyAdd(a5, b0, c50); c51 = Vector128.FusedMultiplyAdd(a5, b1, c51);
            c52 = Vector128.FusedMultiplyAdd(a5, b2, c52); c53 = Vector128.FusedMultiplyAdd(a5, b3, c53);
            a += aStep;
            b += NarrowPanelColumns;
        }
        c00.Store(c); c01.Store(c + 4); c02.Store(c + 8); c03.Store(c + 12);
        c10.Store(r1); c11.Store(r1 + 4); c12.Store(r1 + 8); c13.Store(r1 + 12);
        c20.Store(r2); c21.Store(r2 + 4); c22.Store(r2 + 8); c23.Store(r2 + 12);
        c30.Store(r3); c31.Store(r3 + 4); c32.Store(r3 + 8); c33.Store(r3 + 12);
        c40.Store(r4); c41.Store(r4 + 4); c42.Store(r4 + 8); c43.Store(r4 + 12);
        c50.Store(r5); c51.Store(r5 + 4); c52.Store(r5 + 8); c53.Store(r5 + 12);
    }
}

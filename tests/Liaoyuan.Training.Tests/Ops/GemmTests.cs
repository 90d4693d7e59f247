using Liaoyuan.Training.Ops;

namespace Liaoyuan.Training.Tests.Ops;

public sealed class GemmTests
{
    [Theory]
    [InlineData(70, 300, 520, false)]
    [InlineData(3, 7, 5, true)]
    public void Product_matches_float64_for_plain_and_transposed_A(int m, int n, int k, bool transposedA)
    {
        float[] a = GradientCheck.Random(m * k, 1), b = GradientCheck.Random(k * n, 2), c = GradientCheck.Random(m * n, 3);
        var expected = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double sum = c[i * n + j];
                for (int p = 0; p < k; p++) sum += (double)(transposedA ? a[p * m + i] : a[i * k + p]) * b[p * n + j];
                expected[i * n + j] = sum;
            }
        var product = (float[])c.Clone();
        Gemm.Multiply(new Compute(2), m, n, k, a, 0, transposedA ? 1 : k, transposedA ? m : 1, b, 0, n, product, 0, n, accumulate: true);
        GradientCheck.Close("C", product, expected, 1e-5);
    }

    [Fact]
    public void Result_is_bit_identical_for_one_and_two_threads()
    {
        const int m = 130, n = 290, k = 300;
        float[] a = GradientCheck.Random(m * k, 4), b = GradientCheck.Random(k * n, 5);
        float[] one = new float[m * n], two = new float[m * n];
        Gemm.Multiply(new Compute(1), m, n, k, a, 0, k, 1, b, 0, n, one, 0, n, accumulate: false);
        Gemm.Multiply(new Compute(2), m, n, k, a, 0, k, 1, b, 0, n, two, 0, n, accumulate: false);
        Assert.Equal(one, two);
    }

    [Fact]
    public void The_512_and_256_bit_kernels_give_bit_identical_products()
    {
        const int m = 72, n = 96, k = 300;
        float[] a = GradientCheck.Random(m * k, 6), b = GradientCheck.Random(k * n, 7);
        float[] wide = new float[m * n], narrow = new float[m * n];
        bool saved = Gemm.UseWideKernel;
        try
        {
            Gemm.UseWideKernel = true;
            Gemm.Multiply(new Compute(1), m, n, k, a, 0, k, 1, b, 0, n, wide, 0, n, accumulate: false);
            Gemm.UseWideKernel = false;
            Gemm.Multiply(new Compute(1), m, n, k, a, 0, k, 1, b, 0, n, narrow, 0, n, accumulate: false);
        }
        finally
        {
            Gemm.UseWideKernel = saved;
        }
        Assert.Equal(wide, narrow);
    }

    [Theory]
    // B of 1100 × 4096 or 4096 × 1100 floats is more than the GEMM packs at once: the first is cut into column
    // chunks (re-reading A), the second into depth chunks (re-reading C).
    [InlineData(9, 4096, 1100)]
    [InlineData(9, 1100, 4096)]
    public void Products_too_big_to_pack_at_once_are_the_same_fused_chain_over_k(int m, int n, int k)
    {
        float[] a = GradientCheck.Random(m * k, 8), b = GradientCheck.Random(k * n, 9), c = GradientCheck.Random(m * n, 10);
        var expected = new float[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                float sum = c[i * n + j];
                for (int p = 0; p < k; p++) sum = MathF.FusedMultiplyAdd(a[i * k + p], b[p * n + j], sum);
                expected[i * n + j] = sum;
            }
        var product = (float[])c.Clone();
        Gemm.Multiply(new Compute(2), m, n, k, a, 0, k, 1, b, 0, n, product, 0, n, accumulate: true);
        Assert.Equal(expected, product);
    }

    [Theory]
    // A transposed in memory (dYᵀ) with m = 72 is read in place; with m = 256 its row stride is 1 KiB, so its groups
    // are packed first. Either way, with either kernel, every element is the scalar fused chain over k.
    [InlineData(72, 40, 300, true)]
    [InlineData(256, 40, 300, true)]
    [InlineData(72, 40, 300, false)]
    [InlineData(256, 40, 300, false)]
    public void Transposed_A_in_place_or_packed_is_the_same_fused_chain_over_k(int m, int n, int k, bool wide)
    {
        float[] a = GradientCheck.Random(m * k, 11), b = GradientCheck.Random(k * n, 12);
        var expected = new float[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                float sum = 0;
                for (int p = 0; p < k; p++) sum = MathF.FusedMultiplyAdd(a[p * m + i], b[p * n + j], sum);
                expected[i * n + j] = sum;
            }
        var product = new float[m * n];
        bool saved = Gemm.UseWideKernel;
        try
        {
            Gemm.UseWideKernel = wide;
            Gemm.Multiply(new Compute(2), m, n, k, a, 0, 1, m, b, 0, n, product, 0, n, accumulate: false);
        }
        finally
        {
            Gemm.UseWideKernel = saved;
        }
        Assert.Equal(expected, product);
    }

    [Theory]
    // Row-major A is packed into groups as tall as the kernel (8 rows, or 6 for the 256-bit kernel, transposed
    // eight rows at a time where eight exist): ragged groups, ragged 60/64-row blocks, depths with and without a
    // tail of fewer than eight, and accumulation into C must all keep each element the scalar fused chain.
    [InlineData(13, 40, 300, "narrow")]
    [InlineData(64, 33, 257, "narrow")]
    [InlineData(125, 17, 70, "narrow")]
    [InlineData(13, 40, 300, "wide")]
    [InlineData(125, 17, 70, "wide")]
    [InlineData(13, 40, 300, "four-lane")]
    [InlineData(64, 33, 257, "four-lane")]
    [InlineData(125, 17, 70, "four-lane")]
    public void Row_major_A_with_any_kernel_is_the_scalar_fused_chain_over_k(int m, int n, int k, string kernel)
    {
        float[] a = GradientCheck.Random(m * k, 13), b = GradientCheck.Random(k * n, 14), c = GradientCheck.Random(m * n, 15);
        var expected = new float[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                float sum = c[i * n + j];
                for (int p = 0; p < k; p++) sum = MathF.FusedMultiplyAdd(a[i * k + p], b[p * n + j], sum);
                expected[i * n + j] = sum;
            }
        var product = (float[])c.Clone();
        bool saved = Gemm.UseWideKernel;
        try
        {
            Gemm.UseWideKernel = kernel == "wide";
            Gemm.UseFourLaneKernel = kernel == "four-lane";
            Gemm.Multiply(new Compute(2), m, n, k, a, 0, k, 1, b, 0, n, product, 0, n, accumulate: true);
        }
        finally
        {
            Gemm.UseWideKernel = saved;
            Gemm.UseFourLaneKernel = false;
        }
        Assert.Equal(expected, product);
    }
}

namespace Liaoyuan.Training.Tests.Ops;

/// <summary>Central finite differences in float64 against an analytic (fp32) gradient.</summary>
internal static class GradientCheck
{
    public static float[] Random(int count, int seed, double std = 1.0, double mean = 0.0)
    {
        var random = new Random(seed);
        var values = new float[count];
        for (int i = 0; i < count; i++)
        {
            double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
            values[i] = (float)(mean + std * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
        return values;
    }

    public static double[] Widen(float[] values) => values.Select(v => (double)v).ToArray();

    /// <summary>
    /// Perturbs every element of <paramref name="point"/> by ±h, evaluates <paramref name="loss"/> in float64 and
    /// requires the central difference to match <paramref name="analytic"/> within <paramref name="tolerance"/> of
    /// the largest gradient magnitude. With <paramref name="only"/>, just those elements are checked.
    /// </summary>
    public static void Compare(string what, double[] point, Func<double> loss, float[] analytic, double tolerance = 2e-4, double h = 1e-4,
        int[]? only = null)
    {
        Assert.Equal(point.Length, analytic.Length);
        var numeric = new double[point.Length];
        var indices = only ?? Enumerable.Range(0, point.Length).ToArray();
        foreach (int i in indices)
        {
            double saved = point[i];
            point[i] = saved + h;
            double plus = loss();
            point[i] = saved - h;
            double minus = loss();
            point[i] = saved;
            numeric[i] = (plus - minus) / (2 * h);
        }
        double largest = numeric.Max(Math.Abs);
        Assert.True(largest > 1e-6, $"{what}: the numerical gradient vanishes, so the check would prove nothing");
        foreach (int i in indices)
        {
            double error = Math.Abs(analytic[i] - numeric[i]) / largest;
            Assert.True(error <= tolerance, $"{what}[{i}]: analytic {analytic[i]:G9} vs numerical {numeric[i]:G9} (error {error:E2} of the largest gradient {largest:G4})");
        }
    }

    /// <summary>Requires the fp32 forward to agree with the float64 reference.</summary>
    public static void Close(string what, float[] actual, double[] expected, double tolerance = 1e-5)
    {
        double largest = expected.Max(Math.Abs);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(actual[i] - expected[i]) <= tolerance * largest, $"{what}[{i}]: {actual[i]:G9} vs reference {expected[i]:G9}");
    }
}

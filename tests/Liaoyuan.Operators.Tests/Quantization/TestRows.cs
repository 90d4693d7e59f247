using Liaoyuan.Operators.Quantization;
using Liaoyuan.Operators.Tensors;

namespace Liaoyuan.Operators.Tests.Quantization;

/// <summary>Deterministic test rows: roughly Gaussian values with runs of zeros, outliers and tiny values mixed in.</summary>
internal static class TestRows
{
    public static float[] Random(int length, int seed, float scale = 1f, bool withOutliers = true)
    {
        var random = new Random(seed);
        var row = new float[length];
        if (length == 0)
            return row;
        for (int i = 0; i < length; i++)
        {
            double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
            double gaussian = Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
            row[i] = (float)(gaussian * scale);
        }
        // Sprinkle the awkward cases: exact zeros, a zero run, large outliers of both signs, tiny values.
        for (int i = 0; i < length / 16; i++)
            row[random.Next(length)] = 0f;
        if (length >= 64)
            Array.Clear(row, random.Next(length - 32) / 32 * 32, 32);
        for (int i = 0; i < (withOutliers ? Math.Max(1, length / 200) : 0); i++)
            row[random.Next(length)] = (random.Next(2) == 0 ? -1 : 1) * 40f * scale;
        for (int i = 0; i < length / 50; i++)
            row[random.Next(length)] = 1e-7f * scale;
        return row;
    }

    public static byte[] Quantize(GgmlType type, float[] values)
    {
        var bytes = new byte[GgmlTypeInfo.RowBytes(type, values.Length)];
        Quantizer.QuantizeRow(type, values, bytes);
        return bytes;
    }

    public static byte[] QuantizeActivations(GgmlType type, float[] values)
    {
        var bytes = new byte[GgmlTypeInfo.RowBytes(type, values.Length)];
        Quantizer.QuantizeActivationRow(type, values, bytes);
        return bytes;
    }

    public static float[] Dequantize(GgmlType type, byte[] bytes, int length)
    {
        var values = new float[length];
        Quantizer.DequantizeRow(type, bytes, values);
        return values;
    }

    public static readonly int[] BlockCounts = [1, 3, 7, 33];
}

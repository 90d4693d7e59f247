using Liaoyuan.Engine.Gguf;
using Liaoyuan.Operators.Tensors;
using Liaoyuan.TestSupport;

namespace Liaoyuan.Engine.Tests.Gguf;

public sealed class GgufRoundTripTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void EveryValueTypeAndNestedArraysSurviveAWriteAndRead()
    {
        var w = new GgufWriter();
        w.Set("u8", new GgufValue(GgufValueType.UInt8, (byte)200, GgufValueType.UInt8));
        w.Set("i8", new GgufValue(GgufValueType.Int8, (sbyte)-5, GgufValueType.Int8));
        w.Set("u16", new GgufValue(GgufValueType.UInt16, (ushort)65000, GgufValueType.UInt16));
        w.Set("i16", new GgufValue(GgufValueType.Int16, (short)-30000, GgufValueType.Int16));
        w.Set("u32", 4000000000u);
        w.Set("i32", -7);
        w.Set("f32", 1.5f);
        w.Set("bool", true);
        w.Set("str", "燎原 spark 🔥");
        w.Set("u64", GgufValue.Of(ulong.MaxValue));
        w.Set("i64", GgufValue.Of(long.MinValue));
        w.Set("f64", GgufValue.Of(Math.PI));
        w.Set("strings", new[] { "a", "", "中文" });
        w.Set("floats", new[] { 0.5f, -2f });
        w.Set("nested", GgufValue.Of([GgufValue.Of(new[] { 1, 2 }), GgufValue.Of(new[] { 3 })]));
        var data = new byte[4 * 6];
        for (int i = 0; i < data.Length; i++) data[i] = (byte)i;
        w.AddTensor("t.weight", GgmlType.F32, [3, 2], data);
        w.AddTensor("q.weight", GgmlType.Q8_0, [32, 1], new byte[34]);
        string path = _dir.File("all.gguf");
        w.Write(path);

        using var f = GgufFile.Open(path);
        Assert.Equal(3u, f.Version);
        Assert.Equal((byte)200, f.Metadata["u8"].Value);
        Assert.Equal((sbyte)-5, f.Metadata["i8"].Value);
        Assert.Equal((ushort)65000, f.Metadata["u16"].Value);
        Assert.Equal((short)-30000, f.Metadata["i16"].Value);
        Assert.Equal(4000000000u, f.Metadata["u32"].Value);
        Assert.Equal(-7, f.GetInt32("i32"));
        Assert.Equal(1.5f, f.GetFloat("f32"));
        Assert.True(f.GetBool("bool", false));
        Assert.Equal("燎原 spark 🔥", f.GetString("str"));
        Assert.Equal(ulong.MaxValue, f.Metadata["u64"].Value);
        Assert.Equal(long.MinValue, f.GetInteger("i64"));
        Assert.Equal(Math.PI, f.Metadata["f64"].Value);
        Assert.Equal(new[] { "a", "", "中文" }, f.GetArrayOrNull<string>("strings"));
        Assert.Equal(new[] { 0.5f, -2f }, f.GetArrayOrNull<float>("floats"));
        var nested = f.GetArrayOrNull<GgufValue>("nested")!;
        Assert.Equal(new[] { 1, 2 }, (int[])nested[0].Value);
        Assert.Equal(new[] { 3 }, (int[])nested[1].Value);
        Assert.Equal(["u8", "i8", "u16"], f.MetadataList.Take(3).Select(kv => kv.Key));

        var t = f.FindTensor("t.weight")!;
        Assert.Equal(new long[] { 3, 2 }, t.Shape);
        Assert.Equal(data, f.TensorBytes(t).ToArray());
        Assert.Equal(0, t.DataOffset % f.Alignment);
        Assert.Equal(0, f.FindTensor("q.weight")!.DataOffset % f.Alignment);
    }

    [Fact]
    public void WrongTypedMetadataNamesTheKey()
    {
        string path = _dir.File("typed.gguf");
        new GgufWriter().Set("general.architecture", 5).Write(path);
        using var f = GgufFile.Open(path);
        var e = Assert.Throws<GgufFormatException>(() => f.GetString("general.architecture"));
        Assert.Contains("'general.architecture'", e.Message);
        Assert.Contains("Int32", e.Message);
    }

    [Theory]
    [InlineData(new byte[] { 0x47, 0x47, 0x55, 0x46 }, "too short")]
    [InlineData(new byte[] { 0x47, 0x47, 0x55, 0x47, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, "magic")]
    [InlineData(new byte[] { 0x47, 0x47, 0x55, 0x46, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, "version 9")]
    [InlineData(new byte[] { 0x47, 0x47, 0x55, 0x46, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0 }, "metadata count")]
    public void BadHeadersGiveOneLineErrors(byte[] bytes, string expected)
    {
        string path = _dir.File("bad.gguf");
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<GgufFormatException>(() => GgufFile.Open(path));
        Assert.Contains(expected, e.Message);
        Assert.Contains(path, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void TensorDataPastTheEndIsRejectedWithItsName()
    {
        var w = new GgufWriter();
        w.AddTensor("big.weight", GgmlType.F32, [8], new byte[32]);
        string path = _dir.File("trunc.gguf");
        w.Write(path);
        byte[] bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^8]);
        var e = Assert.Throws<GgufFormatException>(() => GgufFile.Open(path));
        Assert.Contains("'big.weight'", e.Message);
        Assert.Contains("past the end", e.Message);
    }
}

using Liaoyuan.Operators.Tensors;
using Liaoyuan.TestSupport;

namespace Liaoyuan.Cli.Tests.Store;

/// <summary>One fake hub for the store tests, reached through the hub endpoint variables, and the test models it serves.</summary>
public sealed class HubFixture : IDisposable
{
    private readonly TempDirectory _models = new();

    public HubFixture()
    {
        Hub = new FakeHub();
        Environment.SetEnvironmentVariable("LIAOYUAN_HF_ENDPOINT", Hub.BaseAddress.ToString());
        Environment.SetEnvironmentVariable("LIAOYUAN_MODELSCOPE_ENDPOINT", Hub.BaseAddress.ToString());
        Q8 = Write("q8.gguf", new TestModelShape { Architecture = "qwen2", MatrixType = GgmlType.Q8_0, Context = 128 });
        Q4KM = Write("q4km.gguf", new TestModelShape { Embedding = 256, HeadDim = 64, FeedForward = 256, Layers = 1, MatrixType = GgmlType.Q4_K, Context = 64 });
    }

    public FakeHub Hub { get; }

    /// <summary>A qwen2 model with Q8_0 matrices and a ChatML-capable vocabulary.</summary>
    public byte[] Q8 { get; }

    /// <summary>A llama model with Q4_K matrices.</summary>
    public byte[] Q4KM { get; }

    /// <summary>A repository in the usual GGUF-repo shape: two quants, a vision projector, a README, one quant in a folder.</summary>
    public (HostedFile Q4KM, HostedFile Q8) AddTypicalRepo(string org, string repo)
    {
        var q4 = new HostedFile("Tiny-Q4_K_M.gguf", Q4KM);
        var q8 = new HostedFile("q8/tiny.q8_0.gguf", Q8);
        Hub.AddRepo(org, repo, new HostedFile("README.md", "# tiny"u8.ToArray()), new HostedFile("mmproj-tiny-f16.gguf", Q8), q4, q8);
        return (q4, q8);
    }

    private byte[] Write(string name, TestModelShape shape)
    {
        string path = _models.File(name);
        var vocabulary = shape.Architecture == "qwen2" ? TestVocabularies.Multilingual() : TestVocabulary.ByteLevel();
        TestModelBuilder.Write(path, shape, vocabulary);
        return File.ReadAllBytes(path);
    }

    public void Dispose()
    {
        Environment.SetEnvironmentVariable("LIAOYUAN_HF_ENDPOINT", null);
        Environment.SetEnvironmentVariable("LIAOYUAN_MODELSCOPE_ENDPOINT", null);
        Hub.Dispose();
        _models.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class StoreCollection : ICollectionFixture<HubFixture>
{
    public const string Name = "model store";
}

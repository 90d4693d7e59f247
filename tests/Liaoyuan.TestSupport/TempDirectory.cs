namespace Liaoyuan.TestSupport;

/// <summary>A scratch folder removed when the test ends.</summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "liaoyuan-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>llama.cpp tests share one collection so they never load the native library from two threads at once.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class LlamaCppCollection
{
    public const string Name = "llama.cpp reference";
}

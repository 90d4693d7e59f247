using Liaoyuan.Server.Scheduling;

namespace Liaoyuan.Server;

/// <summary>A model the server offers: its id in the API (the file name without .gguf, or an alias) and its file.</summary>
public sealed record ModelSource(string Id, string Path);

/// <summary>
/// A LoRA adapter (llama.cpp LoRA GGUF) served on top of the model <paramref name="BaseId"/> under the id
/// <c>BASE:NAME</c>; it is read when its base model is loaded and applies only to the requests that name it.
/// </summary>
public sealed record AdapterSource(string BaseId, string Name, string Path, float Scale = 1f)
{
    public string Id => $"{BaseId}:{Name}";
}

public sealed record ServerOptions
{
    public IReadOnlyList<ModelSource> Models { get; init; } = [];

    /// <summary>LoRA adapters offered as models of their own, each over one of <see cref="Models"/>.</summary>
    public IReadOnlyList<AdapterSource> Adapters { get; init; } = [];

    /// <summary>Address to listen on; 127.0.0.1 keeps the server local.</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>Port to listen on; 0 picks a free one (see <see cref="LiaoyuanServer.BaseAddress"/>).</summary>
    public int Port { get; init; } = 8080;

    /// <summary>The server's state folder; its <c>liaoyuan.db</c> holds apps, keys and usage unless <see cref="Database"/> says otherwise.</summary>
    public string? DataDirectory { get; init; }

    /// <summary>A PostgreSQL connection string, or the path of a SQLite file; null for the data folder's SQLite file.</summary>
    public string? Database { get; init; }

    /// <summary>Serve without keys: the single-user local mode, with no database.</summary>
    public bool NoAuth { get; init; }

    /// <summary>The admin key; null keeps the stored one, or makes one at the first start.</summary>
    public string? AdminKey { get; init; }

    public SchedulerOptions Scheduler { get; init; } = new();

    /// <summary>Largest request body accepted; larger ones are answered 413.</summary>
    public long MaxRequestBodyBytes { get; init; } = 8 * 1024 * 1024;

    /// <summary>Bytes that loaded models (weights and KV caches) may take; least recently used idle models are
    /// unloaded to make room. 0 means no limit.</summary>
    public long MemoryBudgetBytes { get; init; }

    /// <summary>Compute threads per model (0 = all cores).</summary>
    public int Threads { get; init; }

    /// <summary>Most choices (n) one request may ask for.</summary>
    public int MaxChoices { get; init; } = 16;

    /// <summary>Runs each decode step; the default evaluates the sequences one after another. Tests slow it down.</summary>
    internal Func<IDecodeStepExecutor>? DecodeStepExecutor { get; init; }
}

using Liaoyuan.Engine.Gguf;
using Liaoyuan.Engine.Models;
using Liaoyuan.Engine.Templates;
using Liaoyuan.Operators.Kernels;
using Liaoyuan.Server.Api;
using Liaoyuan.Server.Scheduling;
using Liaoyuan.Server.Structured;
using Liaoyuan.Server.Tools;
using Microsoft.Extensions.Logging;

namespace Liaoyuan.Server.Hosting;

/// <summary>A model in memory with what serving it needs: its chat template and its scheduler.</summary>
public sealed class ServedModel : IDisposable
{
    private readonly Dictionary<string, LoraWeights> _adapters = new(StringComparer.Ordinal);
    private readonly long _bytes;

    internal ServedModel(ModelSource source, LoadedModel model, ChatTemplate template, ModelScheduler scheduler, long estimatedBytes)
    {
        Source = source;
        Model = model;
        Template = template;
        Scheduler = scheduler;
        _bytes = estimatedBytes;
        _vocabulary = new Lazy<TokenVocabulary>(() => new TokenVocabulary(model.Tokenizer));
        Prompts = new ChatPromptRenderer(template, model.Tokenizer);
    }

    /// <summary>Renders chat requests, tools included, into prompt tokens.</summary>
    internal ChatPromptRenderer Prompts { get; }

    private readonly Lazy<TokenVocabulary> _vocabulary;

    /// <summary>The vocabulary as a trie for constrained decoding, built on first use.</summary>
    public TokenVocabulary Vocabulary => _vocabulary.Value;

    public ModelSource Source { get; }
    public string Id => Source.Id;
    public LoadedModel Model { get; }
    public ChatTemplate Template { get; }
    public ModelScheduler Scheduler { get; }
    /// <summary>Weights, KV caches and the adapters read so far.</summary>
    internal long EstimatedBytes
    {
        get { lock (_adapters) return _bytes + _adapters.Values.Sum(a => a.Bytes); }
    }

    /// <summary>The adapter's weights for this model, read on first use.</summary>
    /// <exception cref="ApiException">500 when the file can no longer be read (it was checked at start).</exception>
    internal LoraWeights Adapter(AdapterSource source)
    {
        lock (_adapters)
        {
            if (_adapters.TryGetValue(source.Id, out var loaded)) return loaded;
            try
            {
                loaded = LoraAdapter.Load(source.Path, Model, source.Scale);
            }
            catch (Exception problem) when (problem is GgufFormatException or IOException or UnauthorizedAccessException)
            {
                throw new ApiException(500, $"The adapter '{source.Id}' could not be read: {problem.Message}", ApiErrorTypes.Server, "model", "adapter_unreadable");
            }
            _adapters[source.Id] = loaded;
            return loaded;
        }
    }
    internal int Leases { get; set; }
    internal long LastUsed { get; set; }

    public void Dispose()
    {
        Scheduler.Dispose();
        Model.Dispose();
    }
}

/// <summary>A request's hold on a loaded model; the model is not unloaded while any lease is open.</summary>
public sealed class ModelLease(ModelRegistry registry, ServedModel model, string? id = null, LoraWeights? adapter = null) : IDisposable
{
    private int _released;

    public ServedModel Model { get; } = model;

    /// <summary>The id the request named: the model's, or an adapter's over it.</summary>
    public string Id { get; } = id ?? model.Id;

    /// <summary>The adapter the request's sequences run with; null for the model itself.</summary>
    public LoraWeights? Adapter { get; } = adapter;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0) registry.Release(Model);
    }
}

/// <summary>
/// The models the server offers. Each is loaded on first use; when loading one would exceed the memory budget,
/// the least recently used models that no request holds are unloaded first.
/// </summary>
public sealed class ModelRegistry : IDisposable
{
    private readonly ServerOptions _options;
    private readonly ServerMetrics _metrics;
    private readonly ILogger _log;
    private readonly Dictionary<string, ModelSource> _sources;
    private readonly Dictionary<string, AdapterSource> _adapters;
    private readonly Dictionary<string, ServedModel> _loaded = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _loading = new(1, 1);
    private long _clock;

    public ModelRegistry(ServerOptions options, ServerMetrics metrics, ILogger<ModelRegistry> log)
    {
        _options = options;
        _metrics = metrics;
        _log = log;
        _sources = new Dictionary<string, ModelSource>(StringComparer.Ordinal);
        foreach (var source in options.Models)
        {
            if (!_sources.TryAdd(source.Id, source)) throw new ArgumentException($"two models are named '{source.Id}'");
        }
        _adapters = options.Adapters.ToDictionary(a => a.Id, StringComparer.Ordinal);
    }

    public IReadOnlyList<ModelSource> Models => _options.Models;
    public IReadOnlyList<AdapterSource> Adapters => _options.Adapters;

    /// <summary>
    /// Checks what would otherwise fail a first request, without loading any model: that the KV budget holds one
    /// full-context sequence of each model, and every adapter against its base model's file (architecture, tensor
    /// names and shapes).
    /// </summary>
    /// <exception cref="ArgumentException">Naming the adapter and the problem.</exception>
    public static void CheckAtStart(ServerOptions options)
    {
        if (options.Scheduler.KvBudgetBytes > 0)
        {
            foreach (var model in options.Models)
            {
                using var file = GgufFile.Open(model.Path);
                int vocab = (int)(file.FindTensor("token_embd.weight")?.Shape[1]
                    ?? throw new ArgumentException($"model '{model.Id}': {model.Path} has no token_embd.weight"));
                var config = ModelHyperparameters.Read(file, vocab);
                int context = SessionPool.ContextFor(config, options.Scheduler.ContextLength);
                SessionPool.CheckBudget(config, context, options.Scheduler.KvType, options.Scheduler.KvBudgetBytes);
            }
        }
        var ids = options.Models.Select(m => m.Id).ToHashSet(StringComparer.Ordinal);
        foreach (var adapter in options.Adapters)
        {
            if (!ids.Add(adapter.Id)) throw new ArgumentException($"two models or adapters have the id '{adapter.Id}'");
            var model = options.Models.FirstOrDefault(m => m.Id == adapter.BaseId)
                ?? throw new ArgumentException($"adapter '{adapter.Id}': no model '{adapter.BaseId}' is served (served: {string.Join(", ", options.Models.Select(m => m.Id))})");
            if (!float.IsFinite(adapter.Scale)) throw new ArgumentException($"adapter '{adapter.Id}': the scale must be a finite number, got {adapter.Scale}");
            if (!File.Exists(adapter.Path)) throw new ArgumentException($"adapter '{adapter.Id}': {adapter.Path}: no such file");
            try
            {
                using var baseFile = GgufFile.Open(model.Path);
                LoraAdapter.Check(adapter.Path, baseFile);
            }
            catch (GgufFormatException problem)
            {
                throw new ArgumentException($"adapter '{adapter.Id}' does not fit model '{model.Id}': {problem.Message}");
            }
        }
    }

    public bool IsLoaded(string id)
    {
        lock (_loaded) return _loaded.ContainsKey(id);
    }

    /// <summary>The loaded models' ids with their queue depth and active sequences.</summary>
    public IReadOnlyList<(string Id, int Queued, int Active)> LoadedState()
    {
        lock (_loaded) return _loaded.Values.Select(m => (m.Id, m.Scheduler.Queued, m.Scheduler.Active)).ToList();
    }

    /// <summary>The model, loading it first if needed.</summary>
    /// <exception cref="ApiException">404 when no model has this id.</exception>
    public async Task<ModelLease> AcquireAsync(string id, CancellationToken cancel)
    {
        if (_adapters.TryGetValue(id, out var adapter))
        {
            var baseLease = await AcquireAsync(adapter.BaseId, cancel);
            try
            {
                // The adapter's lease takes over the base lease's hold on the model (released once, by the new one).
                return new ModelLease(this, baseLease.Model, id, baseLease.Model.Adapter(adapter));
            }
            catch
            {
                baseLease.Dispose();
                throw;
            }
        }
        if (!_sources.TryGetValue(id, out var source))
            throw new ApiException(404, $"The model '{id}' does not exist", ApiErrorTypes.InvalidRequest, "model", "model_not_found");
        if (TryLease(id) is { } lease) return lease;
        await _loading.WaitAsync(cancel);
        try
        {
            if (TryLease(id) is { } loadedMeanwhile) return loadedMeanwhile;
            var model = await Task.Run(() => Load(source), CancellationToken.None);
            lock (_loaded)
            {
                _loaded[id] = model;
                model.Leases++;
                model.LastUsed = ++_clock;
                return new ModelLease(this, model);
            }
        }
        finally
        {
            _loading.Release();
        }
    }

    private ModelLease? TryLease(string id)
    {
        lock (_loaded)
        {
            if (!_loaded.TryGetValue(id, out var model)) return null;
            model.Leases++;
            model.LastUsed = ++_clock;
            return new ModelLease(this, model);
        }
    }

    internal void Release(ServedModel model)
    {
        lock (_loaded)
        {
            model.Leases--;
            model.LastUsed = ++_clock;
        }
    }

    private ServedModel Load(ModelSource source)
    {
        var scheduler = _options.Scheduler;
        long fileBytes = new FileInfo(source.Path).Length;
        MakeRoom(fileBytes);
        _log.LogInformation("Loading model {Id} from {Path}", source.Id, source.Path);
        var loaded = ModelLoader.Load(source.Path, new CpuKernels(_options.Threads));
        try
        {
            var template = ChatTemplate.FromModelOrFallback(loaded.Tokenizer.ChatTemplate,
                warning => _log.LogWarning("{Id}: {Warning}", source.Id, warning));
            var modelScheduler = new ModelScheduler(source.Id, loaded, scheduler, _options.DecodeStepExecutor?.Invoke(), _metrics);
            return new ServedModel(source, loaded, template, modelScheduler, fileBytes + modelScheduler.SessionBudgetBytes);
        }
        catch
        {
            loaded.Dispose();
            throw;
        }
    }

    /// <summary>Unloads idle models, least recently used first, until <paramref name="needed"/> more bytes fit the budget.</summary>
    private void MakeRoom(long needed)
    {
        if (_options.MemoryBudgetBytes <= 0) return;
        var evicted = new List<ServedModel>();
        lock (_loaded)
        {
            long used = _loaded.Values.Sum(m => m.EstimatedBytes);
            foreach (var idle in _loaded.Values.Where(m => m.Leases == 0).OrderBy(m => m.LastUsed).ToList())
            {
                if (used + needed <= _options.MemoryBudgetBytes) break;
                _loaded.Remove(idle.Id);
                used -= idle.EstimatedBytes;
                evicted.Add(idle);
            }
        }
        foreach (var model in evicted)
        {
            _log.LogInformation("Unloading model {Id} to stay within the memory budget", model.Id);
            model.Dispose();
        }
    }

    public void Dispose()
    {
        lock (_loaded)
        {
            foreach (var model in _loaded.Values) model.Dispose();
            _loaded.Clear();
        }
        _loading.Dispose();
    }
}

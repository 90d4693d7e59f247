using System.Globalization;
using System.Text.Json;
using Liaoyuan.Engine.Gguf;

namespace Liaoyuan.Server.Store;

/// <summary>Reports a pull's steps; the CLI draws them as a progress bar.</summary>
public interface IPullProgress : IDownloadProgress
{
    /// <summary>The hub's file list named <paramref name="file"/> for <paramref name="name"/>.</summary>
    void Resolved(ModelName name, HubFile file);

    /// <summary>The bytes are all there; checking size, SHA-256 and the GGUF structure.</summary>
    void Verifying();
}

public sealed record PullResult(StoredModel Model, bool AlreadyInstalled);

/// <summary>
/// Models pulled from Hugging Face and ModelScope, kept in one folder:
/// <c>ROOT/HOST/ORG/REPO/QUANT/FILE.gguf</c> for the weights, <c>ROOT/manifests/HOST/ORG/REPO/QUANT.json</c> for what
/// is installed and <c>ROOT/partial/…</c> for downloads under way. A download becomes visible only when its GGUF
/// has been verified and renamed into place and its manifest written after it, each by an atomic rename.
/// </summary>
public sealed class ModelStore : IDisposable
{
    private readonly HttpClient _http;
    private readonly HubEndpoints? _endpoints;
    private readonly string _rootWithSeparator;

    /// <param name="endpoints">Hub URLs; by default from the environment when a pull needs them.</param>
    public ModelStore(string root, HubEndpoints? endpoints = null, HttpMessageHandler? handler = null)
    {
        Root = System.IO.Path.GetFullPath(root);
        _rootWithSeparator = System.IO.Path.EndsInDirectorySeparator(Root) ? Root : Root + System.IO.Path.DirectorySeparatorChar;
        _endpoints = endpoints;
        _http = new HttpClient(handler ?? new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(30) }, disposeHandler: true)
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd("liaoyuan/1.0");
    }

    public string Root { get; }

    /// <summary>Retries per pull after a dropped connection.</summary>
    public int Retries { get; init; } = 3;

    /// <summary>--store, else $LIAOYUAN_STORE, else the models folder of $LIAOYUAN_DATA or ~/.liaoyuan.</summary>
    public static string ResolveRoot(string? given)
    {
        if (!string.IsNullOrWhiteSpace(given)) return given;
        if (Environment.GetEnvironmentVariable("LIAOYUAN_STORE") is { Length: > 0 } store) return store;
        string data = Environment.GetEnvironmentVariable("LIAOYUAN_DATA") is { Length: > 0 } d
            ? d : System.IO.Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".liaoyuan");
        return System.IO.Path.Combine(data, "models");
    }

    /// <summary>Every installed model, by name.</summary>
    public IReadOnlyList<StoredModel> List()
    {
        string manifests = Inside("manifests");
        if (!Directory.Exists(manifests)) return [];
        var models = new List<StoredModel>();
        foreach (string path in Directory.EnumerateFiles(manifests, "*.json", SearchOption.AllDirectories))
        {
            if (ReadManifest(path) is { } model) models.Add(model);
        }
        return models.OrderBy(m => m.Name, StringComparer.OrdinalIgnoreCase).ToList();
    }

    /// <summary>
    /// The installed model <paramref name="text"/> names (case-insensitive); without a quant, the only installed quant
    /// of that repository. Null when there is none.
    /// </summary>
    public StoredModel? Find(string text)
    {
        var name = ModelName.Parse(text);
        var matches = List().Where(m => Matches(m, name)).ToList();
        if (matches.Count > 1)
            throw new ModelStoreException($"several quants of {name.Repo} are installed ({string.Join(", ", matches.Select(m => m.Quant))}); name one, e.g. {matches[0].Name}");
        return matches.SingleOrDefault();
    }

    /// <summary>Removes an installed model: its manifest first, so it leaves the list before its file goes.</summary>
    public StoredModel Remove(string text)
    {
        var model = Find(text) ?? throw new ModelStoreException($"{ModelName.Parse(text)} is not in the store ({Root})");
        var name = ModelName.Parse(model.Name);
        File.Delete(ManifestPath(name));
        string folder = ModelFolder(name);
        if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        PruneEmptyFolders(System.IO.Path.GetDirectoryName(ManifestPath(name))!);
        PruneEmptyFolders(System.IO.Path.GetDirectoryName(folder)!);
        return model;
    }

    /// <summary>Resolves, downloads (resuming any earlier partial download), verifies and installs a model.</summary>
    public async Task<PullResult> PullAsync(string text, IPullProgress progress, CancellationToken cancel = default)
    {
        var requested = ModelName.Parse(text);
        var hub = HubClient.For(requested, _http, _endpoints ?? HubEndpoints.FromEnvironment());
        var files = await hub.ListFilesAsync(requested, cancel);
        var file = GgufChoice.Choose(requested, files);
        var name = requested.WithQuant(SafeFileName(GgufChoice.QuantOf(file)));
        string fileName = SafeFileName(file.FileName);

        var installed = List().FirstOrDefault(m => Matches(m, name));
        if (installed is not null && File.Exists(installed.Path) && installed.File == fileName
            && (file.Sha256 is null ? file.Size == installed.Size : file.Sha256 == installed.Sha256))
            return new PullResult(installed, AlreadyInstalled: true);

        progress.Resolved(name, file);
        var source = hub.DownloadUri(requested, file);
        string partialFolder = PartialFolder(name);
        Directory.CreateDirectory(partialFolder);
        string partial = System.IO.Path.Combine(partialFolder, fileName + ".partial");
        StartOrResume(partial, new PartialDownload(source.ToString(), file.Size, file.Sha256));

        var download = new ResumableDownload(_http, hub.Authorize) { Retries = Retries };
        await download.DownloadAsync(source, partial, file.Size, progress, cancel);

        progress.Verifying();
        string sha256 = await Verify(name, file, partial, cancel);
        var model = Install(name, fileName, partial, sha256, source);
        return new PullResult(model, AlreadyInstalled: false);
    }

    /// <summary>Checks size, SHA-256 and GGUF structure; a download that fails is deleted, so the next pull starts clean.</summary>
    private async Task<string> Verify(ModelName name, HubFile file, string partial, CancellationToken cancel)
    {
        long length = new FileInfo(partial).Length;
        if (file.Size is { } size && length != size)
            throw Discard(partial, string.Create(CultureInfo.InvariantCulture, $"{name}: downloaded {length:N0} bytes but the hub lists {size:N0}"));
        string sha256 = await ResumableDownload.Sha256Async(partial, cancel);
        if (file.Sha256 is { } expected && sha256 != expected)
            throw Discard(partial, $"{name}: SHA-256 mismatch (hub {expected}, downloaded {sha256})");
        try
        {
            using var gguf = GgufFile.Open(partial);
        }
        catch (GgufFormatException e)
        {
            throw Discard(partial, $"{name}: the downloaded file is not a valid GGUF ({e.Message})");
        }
        return sha256;
    }

    private StoredModel Install(ModelName name, string fileName, string partial, string sha256, Uri source)
    {
        string folder = ModelFolder(name);
        Directory.CreateDirectory(folder);
        string target = System.IO.Path.Combine(folder, fileName);
        File.Move(partial, target, overwrite: true);
        File.Delete(partial + ".json");
        PruneEmptyFolders(System.IO.Path.GetDirectoryName(partial)!);

        var model = new StoredModel
        {
            Name = name.ToString(),
            Quant = name.Quant!,
            File = fileName,
            Size = new FileInfo(target).Length,
            Sha256 = sha256,
            Source = source.ToString(),
            PulledAt = DateTimeOffset.UtcNow,
            Path = target,
        };
        string manifest = ManifestPath(name);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(manifest)!);
        string temporary = manifest + ".tmp";
        File.WriteAllText(temporary, JsonSerializer.Serialize(model, StoredModel.Json));
        File.Move(temporary, manifest, overwrite: true);

        // A re-pull whose file was renamed on the hub leaves the old file behind; the manifest no longer names it.
        foreach (string stale in Directory.EnumerateFiles(folder).Where(f => f != target)) File.Delete(stale);
        return model;
    }

    /// <summary>Keeps a .partial only when it belongs to the same hub file; otherwise starts from nothing.</summary>
    private static void StartOrResume(string partial, PartialDownload wanted)
    {
        string metaPath = partial + ".json";
        PartialDownload? held = null;
        try
        {
            if (File.Exists(metaPath)) held = JsonSerializer.Deserialize<PartialDownload>(File.ReadAllText(metaPath), StoredModel.Json);
        }
        catch (JsonException)
        {
        }
        if (held == wanted && File.Exists(partial)) return;
        if (File.Exists(partial)) File.Delete(partial);
        File.WriteAllText(metaPath, JsonSerializer.Serialize(wanted, StoredModel.Json));
    }

    private ModelStoreException Discard(string partial, string message)
    {
        File.Delete(partial);
        File.Delete(partial + ".json");
        PruneEmptyFolders(System.IO.Path.GetDirectoryName(partial)!);
        return new ModelStoreException(message + "; the download was discarded");
    }

    private StoredModel? ReadManifest(string path)
    {
        try
        {
            var model = JsonSerializer.Deserialize<StoredModel>(File.ReadAllText(path), StoredModel.Json);
            if (model is null || SafeFileName(model.File) != model.File) return null;
            var name = ModelName.Parse(model.Name);
            // A manifest counts only where its own name puts it, so an edited one cannot point outside the store.
            if (name.Quant is null || ManifestPath(name) != System.IO.Path.GetFullPath(path)) return null;
            string file = System.IO.Path.Combine(ModelFolder(name), model.File);
            return File.Exists(file) ? model with { Path = file } : null;
        }
        catch (Exception e) when (e is JsonException or ModelStoreException or IOException or NotSupportedException)
        {
            return null;
        }
    }

    private static bool Matches(StoredModel model, ModelName name) =>
        model.Name.StartsWith(name.Repo + ":", StringComparison.OrdinalIgnoreCase)
        && (name.Quant is null || string.Equals(model.Quant, name.Quant, StringComparison.OrdinalIgnoreCase));

    private string ModelFolder(ModelName name) => Inside(name.Host, name.Organization, name.Repository, name.Quant!);

    private string ManifestPath(ModelName name) => Inside("manifests", name.Host, name.Organization, name.Repository, name.Quant + ".json");

    private string PartialFolder(ModelName name) => Inside("partial", name.Host, name.Organization, name.Repository, name.Quant!);

    /// <summary>A path under the root; names are validated already, this is the last line of defence.</summary>
    private string Inside(params string[] parts)
    {
        string path = System.IO.Path.GetFullPath(System.IO.Path.Combine([Root, .. parts]));
        if (!path.StartsWith(_rootWithSeparator, StringComparison.Ordinal))
            throw new ModelStoreException($"'{string.Join('/', parts)}' would leave the store folder");
        return path;
    }

    private void PruneEmptyFolders(string folder)
    {
        for (var dir = new DirectoryInfo(folder); dir.FullName.StartsWith(_rootWithSeparator, StringComparison.Ordinal); dir = dir.Parent!)
        {
            if (!dir.Exists) continue;
            if (dir.EnumerateFileSystemInfos().Any()) break;
            dir.Delete();
        }
    }

    /// <summary>Hub file names become local file names: anything but letters, digits, '.', '_' and '-' becomes '_'.</summary>
    internal static string SafeFileName(string name)
    {
        var chars = name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' ? c : '_').ToArray();
        if (chars.Length == 0 || chars[0] is '.' or '-') return "_" + new string(chars);
        return new string(chars);
    }

    public void Dispose() => _http.Dispose();
}

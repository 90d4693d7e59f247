using System.Net;
using System.Text.Json;

namespace Liaoyuan.Server.Store;

/// <summary>A file in a hub repository; size and SHA-256 when the hub's listing gives them.</summary>
public sealed record HubFile(string Path, long? Size, string? Sha256)
{
    public string FileName => System.IO.Path.GetFileName(Path);
}

/// <summary>Where each hub's API lives; tests point these at a local server.</summary>
public sealed record HubEndpoints(Uri HuggingFace, Uri ModelScope)
{
    public static HubEndpoints FromEnvironment() => new(
        EndpointFrom("https://huggingface.co", "LIAOYUAN_HF_ENDPOINT", "HF_ENDPOINT"),
        EndpointFrom("https://www.modelscope.cn", "LIAOYUAN_MODELSCOPE_ENDPOINT"));

    private static Uri EndpointFrom(string fallback, params string[] variables)
    {
        foreach (string variable in variables)
        {
            string? value = Environment.GetEnvironmentVariable(variable);
            if (string.IsNullOrWhiteSpace(value)) continue;
            if (!Uri.TryCreate(value.TrimEnd('/'), UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
                throw new ModelStoreException($"${variable} must be an http(s) URL, got '{value}'");
            return uri;
        }
        return new Uri(fallback);
    }
}

/// <summary>Lists a repository's files and says where each one downloads from, in one hub's URL layout.</summary>
public abstract class HubClient(HttpClient http, Uri endpoint)
{
    protected HttpClient Http { get; } = http;
    protected string Base { get; } = endpoint.ToString().TrimEnd('/');

    public abstract string HubName { get; }

    public abstract Task<IReadOnlyList<HubFile>> ListFilesAsync(ModelName name, CancellationToken cancel);

    public abstract Uri DownloadUri(ModelName name, HubFile file);

    /// <summary>Adds credentials the hub needs (a token from the environment), if any.</summary>
    public virtual void Authorize(HttpRequestMessage request)
    {
    }

    public static HubClient For(ModelName name, HttpClient http, HubEndpoints endpoints) => name.Hub switch
    {
        ModelHub.HuggingFace => new HuggingFaceClient(http, endpoints.HuggingFace),
        _ => new ModelScopeClient(http, endpoints.ModelScope),
    };

    protected static string EscapePath(string path) => string.Join('/', path.Split('/').Select(Uri.EscapeDataString));

    /// <summary>GETs JSON, turning the hub's "no such repository" answers and transport failures into one-line errors.</summary>
    protected async Task<(JsonDocument Json, HttpResponseMessage Response)> GetJsonAsync(ModelName name, string url, CancellationToken cancel)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        Authorize(request);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        HttpResponseMessage response;
        try
        {
            response = await Http.SendAsync(request, HttpCompletionOption.ResponseContentRead, timeout.Token);
        }
        catch (HttpRequestException e)
        {
            throw new ModelStoreException($"cannot reach {HubName} at {Base}: {e.Message}", e);
        }
        catch (OperationCanceledException e) when (!cancel.IsCancellationRequested)
        {
            throw new ModelStoreException($"{HubName} at {Base} did not answer within 60 s", e);
        }
        if (response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
        {
            response.Dispose();
            throw new ModelStoreException($"{name.Repo}: no such repository on {HubName} (HTTP {(int)response.StatusCode}; private and gated repos need a token)");
        }
        if (!response.IsSuccessStatusCode)
        {
            response.Dispose();
            throw new ModelStoreException($"{name.Repo}: {HubName} answered HTTP {(int)response.StatusCode} {response.ReasonPhrase} for the file list");
        }
        try
        {
            var json = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(cancel), default, cancel);
            return (json, response);
        }
        catch (JsonException e)
        {
            response.Dispose();
            throw new ModelStoreException($"{name.Repo}: {HubName}'s file list is not valid JSON: {e.Message}", e);
        }
    }

    protected static long? Int64OrNull(JsonElement element, string property) =>
        element.TryGetProperty(property, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out long n) && n >= 0 ? n : null;

    protected static string? StringOrNull(JsonElement element, string property) =>
        element.TryGetProperty(property, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    /// <summary>A hub's hash only counts when it is 64 hex digits; anything else is ignored rather than trusted.</summary>
    protected static string? Sha256OrNull(string? text) =>
        text is { Length: 64 } && text.All(Uri.IsHexDigit) ? text.ToLowerInvariant() : null;
}

using System.Text.Json;
using System.Text.RegularExpressions;

namespace Liaoyuan.Server.Store;

/// <summary>
/// Hugging Face's layout, as huggingface_hub uses it: the file list from the tree API
/// <c>GET {endpoint}/api/models/{org}/{repo}/tree/{revision}?recursive=true</c> (HfApi.list_repo_tree; a JSON array
/// of <c>{"type", "path", "size", "oid", "lfs": {"oid": sha256, "size"}}</c>, paginated by a <c>Link: &lt;…&gt;;
/// rel="next"</c> header), and each file at <c>{endpoint}/{org}/{repo}/resolve/{revision}/{path}</c> (hf_hub_url),
/// which for LFS files redirects to a CDN that honours Range requests. $HF_TOKEN, when set, is sent as a Bearer token.
/// </summary>
public sealed partial class HuggingFaceClient(HttpClient http, Uri endpoint) : HubClient(http, endpoint)
{
    private const string Revision = "main";
    private const int MaxPages = 1000;

    public override string HubName => "Hugging Face";

    public override async Task<IReadOnlyList<HubFile>> ListFilesAsync(ModelName name, CancellationToken cancel)
    {
        var files = new List<HubFile>();
        string? url = $"{Base}/api/models/{EscapePath(name.RepoId)}/tree/{Revision}?recursive=true";
        for (int page = 0; url is not null; page++)
        {
            if (page == MaxPages) throw new ModelStoreException($"{name.Repo}: the file list has more than {MaxPages} pages");
            var (json, response) = await GetJsonAsync(name, url, cancel);
            using (json)
            using (response)
            {
                if (json.RootElement.ValueKind != JsonValueKind.Array)
                    throw new ModelStoreException($"{name.Repo}: Hugging Face's file list is not a JSON array");
                foreach (var entry in json.RootElement.EnumerateArray())
                {
                    if (StringOrNull(entry, "type") != "file" || StringOrNull(entry, "path") is not { Length: > 0 } path) continue;
                    long? size = Int64OrNull(entry, "size");
                    string? sha = null;
                    if (entry.TryGetProperty("lfs", out var lfs) && lfs.ValueKind == JsonValueKind.Object)
                    {
                        sha = Sha256OrNull(StringOrNull(lfs, "oid") ?? StringOrNull(lfs, "sha256"));
                        size = Int64OrNull(lfs, "size") ?? size;
                    }
                    files.Add(new HubFile(path, size, sha));
                }
                url = NextPage(response);
            }
        }
        return files;
    }

    public override Uri DownloadUri(ModelName name, HubFile file) =>
        new($"{Base}/{EscapePath(name.RepoId)}/resolve/{Revision}/{EscapePath(file.Path)}");

    public override void Authorize(HttpRequestMessage request)
    {
        // HttpClient drops Authorization when it follows the redirect to the CDN, so the token stays with the hub.
        string? token = Environment.GetEnvironmentVariable("HF_TOKEN");
        if (!string.IsNullOrWhiteSpace(token)) request.Headers.Authorization = new("Bearer", token.Trim());
    }

    private static string? NextPage(HttpResponseMessage response)
    {
        if (!response.Headers.TryGetValues("Link", out var links)) return null;
        foreach (string link in links)
        {
            var match = NextLink().Match(link);
            if (match.Success) return match.Groups["url"].Value;
        }
        return null;
    }

    [GeneratedRegex("<(?<url>[^>]+)>\\s*;\\s*rel=\"?next\"?")]
    private static partial Regex NextLink();
}

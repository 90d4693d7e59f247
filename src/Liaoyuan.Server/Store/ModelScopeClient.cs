using System.Text.Json;

namespace Liaoyuan.Server.Store;

/// <summary>
/// ModelScope's layout, as its Python SDK uses it (modelscope/hub/api.py get_model_files and
/// file_download.get_file_download_url): the file list from
/// <c>GET {endpoint}/api/v1/models/{org}/{repo}/repo/files?Revision=master&amp;Recursive=true</c>, answered as
/// <c>{"Code": 200, "Success": true, "Data": {"Files": [{"Name", "Path", "Type": "blob"|"tree", "Size", "Sha256"}]}}</c>,
/// and each file at <c>{endpoint}/api/v1/models/{org}/{repo}/repo?Revision=master&amp;FilePath={path}</c>.
/// </summary>
public sealed class ModelScopeClient(HttpClient http, Uri endpoint) : HubClient(http, endpoint)
{
    private const string Revision = "master";

    public override string HubName => "ModelScope";

    public override async Task<IReadOnlyList<HubFile>> ListFilesAsync(ModelName name, CancellationToken cancel)
    {
        string url = $"{Base}/api/v1/models/{EscapePath(name.RepoId)}/repo/files?Revision={Revision}&Recursive=true";
        var (json, response) = await GetJsonAsync(name, url, cancel);
        using (json)
        using (response)
        {
            var root = json.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new ModelStoreException($"{name.Repo}: ModelScope's file list is not a JSON object");
            // ModelScope reports some failures (an unknown model among them) in the body of an HTTP 200.
            bool success = !root.TryGetProperty("Success", out var s) || s.ValueKind != JsonValueKind.False;
            long? code = Int64OrNull(root, "Code");
            if (!success || code is not (null or 200))
            {
                string message = StringOrNull(root, "Message") ?? "no message";
                throw new ModelStoreException($"{name.Repo}: no such repository on ModelScope (code {code?.ToString() ?? "?"}: {message})");
            }
            if (!root.TryGetProperty("Data", out var data) || data.ValueKind != JsonValueKind.Object
                || !data.TryGetProperty("Files", out var list) || list.ValueKind != JsonValueKind.Array)
                throw new ModelStoreException($"{name.Repo}: ModelScope's answer has no Data.Files list");
            var files = new List<HubFile>();
            foreach (var entry in list.EnumerateArray())
            {
                if (StringOrNull(entry, "Type") == "tree") continue;
                if ((StringOrNull(entry, "Path") ?? StringOrNull(entry, "Name")) is not { Length: > 0 } path) continue;
                files.Add(new HubFile(path, Int64OrNull(entry, "Size"), Sha256OrNull(StringOrNull(entry, "Sha256"))));
            }
            return files;
        }
    }

    public override Uri DownloadUri(ModelName name, HubFile file) =>
        new($"{Base}/api/v1/models/{EscapePath(name.RepoId)}/repo?Revision={Revision}&FilePath={Uri.EscapeDataString(file.Path)}");
}

using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Liaoyuan.Cli.Tests.Store;

/// <summary>A file a fake hub serves, with what its listing claims and how its first downloads misbehave.</summary>
public sealed class HostedFile(string path, byte[] content)
{
    public string Path { get; } = path;
    public byte[] Content { get; set; } = content;
    /// <summary>The SHA-256 the listing gives; by default the content's, null to list none.</summary>
    public string? ListedSha256 { get; set; } = Convert.ToHexStringLower(SHA256.HashData(content));
    public long? ListedSize { get; set; } = content.Length;
    /// <summary>How many downloads still get cut off after <see cref="DropAfterBytes"/> bytes of their body.</summary>
    public int DropsLeft { get; set; }
    public int DropAfterBytes { get; set; } = 4096;
}

/// <summary>
/// A loopback HTTP server answering in Hugging Face's and ModelScope's URL layouts (file lists, downloads with
/// Range support, HF's redirect of LFS files to a CDN host, paginated HF tree listings), recording each request.
/// </summary>
public sealed class FakeHub : IDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, List<HostedFile>> _repos = new(StringComparer.Ordinal);

    public FakeHub()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        _app = builder.Build();
        _app.Use(async (context, next) =>
        {
            Requests.Enqueue($"{context.Request.Path}{context.Request.QueryString} range={context.Request.Headers.Range}");
            await next(context);
        });
        _app.MapGet("/api/models/{org}/{repo}/tree/main", HuggingFaceTree);
        _app.MapGet("/{org}/{repo}/resolve/main/{**path}", (HttpContext c, string org, string repo, string path) =>
            Find(org, repo, path) is null ? Results.NotFound() : Results.Redirect($"/cdn/{org}/{repo}/{path}"));
        _app.MapGet("/cdn/{org}/{repo}/{**path}", (HttpContext c, string org, string repo, string path) => ServeAsync(c, Find(org, repo, path)));
        _app.MapGet("/api/v1/models/{org}/{repo}/repo/files", ModelScopeFiles);
        _app.MapGet("/api/v1/models/{org}/{repo}/repo", (HttpContext c, string org, string repo) =>
            ServeAsync(c, Find(org, repo, c.Request.Query["FilePath"].ToString())));
        _app.StartAsync().GetAwaiter().GetResult();
        string address = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        BaseAddress = new Uri(address);
    }

    public Uri BaseAddress { get; }

    // ModelScope's API spells its fields in PascalCase; ASP.NET's default would camel-case them.
    private static readonly JsonSerializerOptions PascalCase = new();

    /// <summary>Each request as "PATH?QUERY range=RANGE".</summary>
    public ConcurrentQueue<string> Requests { get; } = new();

    /// <summary>Entries per page of the HF tree listing, so pagination is exercised.</summary>
    public int TreePageSize { get; set; } = 2;

    public void AddRepo(string org, string repo, params HostedFile[] files) => _repos[$"{org}/{repo}"] = [.. files];

    private HostedFile? Find(string org, string repo, string path) =>
        _repos.TryGetValue($"{org}/{repo}", out var files) ? files.FirstOrDefault(f => f.Path == path) : null;

    private IResult HuggingFaceTree(HttpContext context, string org, string repo)
    {
        if (!_repos.TryGetValue($"{org}/{repo}", out var files))
            return Results.Json(new { error = "Repository not found" }, statusCode: 404);
        // HF lists folders as entries of their own and LFS files with an "lfs" object holding the SHA-256.
        var entries = files.SelectMany(f => f.Path.Contains('/')
                ? new object[] { new { type = "directory", oid = "0", size = 0, path = f.Path[..f.Path.LastIndexOf('/')] }, TreeEntry(f) }
                : [TreeEntry(f)])
            .ToList();
        int cursor = int.TryParse(context.Request.Query["cursor"], out int c) ? c : 0;
        var page = entries.Skip(cursor).Take(TreePageSize).ToList();
        if (cursor + TreePageSize < entries.Count)
            context.Response.Headers.Link = $"<{BaseAddress.ToString().TrimEnd('/')}/api/models/{org}/{repo}/tree/main?recursive=true&cursor={cursor + TreePageSize}>; rel=\"next\"";
        return Results.Json(page);
    }

    private static object TreeEntry(HostedFile f) => f.Path.EndsWith(".gguf", StringComparison.Ordinal)
        ? new { type = "file", oid = "a1b2", size = f.ListedSize, path = f.Path, lfs = new { oid = f.ListedSha256, size = f.ListedSize, pointerSize = 134 } }
        : new { type = "file", oid = "c3d4", size = f.ListedSize, path = f.Path };

    private IResult ModelScopeFiles(string org, string repo)
    {
        if (!_repos.TryGetValue($"{org}/{repo}", out var files))
            return Results.Json(new { Code = 10010205, Message = "model not found", Success = false }, PascalCase, statusCode: 404);
        var listed = files.Select(f => new { Name = f.Path.Split('/')[^1], Path = f.Path, Type = "blob", Size = f.ListedSize, Sha256 = f.ListedSha256, Revision = "abc" })
            .Prepend(new { Name = "sub", Path = "sub", Type = "tree", Size = (long?)0, Sha256 = (string?)"", Revision = "abc" });
        return Results.Json(new { Code = 200, Data = new { Files = listed }, Message = "success", Success = true }, PascalCase);
    }

    private static async Task ServeAsync(HttpContext context, HostedFile? file)
    {
        var response = context.Response;
        if (file is null)
        {
            response.StatusCode = 404;
            return;
        }
        byte[] content = file.Content;
        long start = 0;
        string range = context.Request.Headers.Range.ToString();
        if (range.StartsWith("bytes=", StringComparison.Ordinal) && range.EndsWith('-'))
        {
            start = long.Parse(range["bytes=".Length..^1], System.Globalization.CultureInfo.InvariantCulture);
            if (start >= content.Length)
            {
                response.StatusCode = 416;
                response.Headers.ContentRange = $"bytes */{content.Length}";
                return;
            }
            response.StatusCode = 206;
            response.Headers.ContentRange = $"bytes {start}-{content.Length - 1}/{content.Length}";
        }
        response.ContentLength = content.Length - start;
        response.Headers.AcceptRanges = "bytes";
        bool drop;
        lock (file)
        {
            drop = file.DropsLeft > 0;
            if (drop) file.DropsLeft--;
        }
        if (drop)
        {
            int count = (int)Math.Min(file.DropAfterBytes, content.Length - start);
            await response.Body.WriteAsync(content.AsMemory((int)start, count));
            await response.Body.FlushAsync();
            // Aborting discards what the transport has not sent yet; let the bytes leave before cutting the connection.
            await Task.Delay(400);
            context.Abort();
            return;
        }
        await response.Body.WriteAsync(content.AsMemory((int)start));
    }

    public void Dispose()
    {
        _app.StopAsync().GetAwaiter().GetResult();
        ((IDisposable)_app).Dispose();
    }
}

using System.Globalization;
using System.Net;
using System.Security.Cryptography;

namespace Liaoyuan.Server.Store;

/// <summary>How a download is going, for progress bars.</summary>
public interface IDownloadProgress
{
    /// <summary>A request is starting at <paramref name="offset"/> bytes (non-zero when resuming) of <paramref name="total"/>.</summary>
    void Started(long offset, long? total);

    void Advanced(long received);

    /// <summary>The connection broke; the download resumes from what is on disk.</summary>
    void Retrying(int attempt, string reason);
}

/// <summary>
/// Downloads one URL into a file, resuming from its current length with an HTTP Range request after a dropped
/// connection or an earlier interrupted run. The caller owns the file's name and what it means.
/// </summary>
public sealed class ResumableDownload(HttpClient http, Action<HttpRequestMessage> authorize)
{
    private const int BufferSize = 1 << 20;

    /// <summary>Retries per run after a dropped connection; each resumes where the last one stopped.</summary>
    public int Retries { get; init; } = 3;

    /// <summary>A connection that delivers nothing for this long counts as dropped.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromSeconds(60);

    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Fetches <paramref name="url"/> into <paramref name="path"/>, appending to what is already there.</summary>
    public async Task DownloadAsync(Uri url, string path, long? expectedSize, IDownloadProgress progress, CancellationToken cancel)
    {
        // FileShare.None takes an exclusive lock, so a second pull of the same file fails instead of interleaving.
        await using var file = OpenExclusive(path);
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                if (await FetchRestAsync(url, file, expectedSize, progress, cancel)) return;
                throw new IOException("the server ended the response early");
            }
            catch (Exception e) when ((e is IOException or HttpRequestException or TimeoutException) && !cancel.IsCancellationRequested)
            {
                await file.FlushAsync(CancellationToken.None);
                if (attempt >= Retries)
                {
                    string of = expectedSize is { } t ? string.Create(CultureInfo.InvariantCulture, $" of {t:N0}") : "";
                    throw new ModelStoreException(
                        string.Create(CultureInfo.InvariantCulture, $"download of {url} interrupted at {file.Length:N0}{of} bytes ({e.Message}); run pull again to resume"), e);
                }
                progress.Retrying(attempt + 1, e.Message);
                await Task.Delay(RetryDelay * (attempt + 1), cancel);
            }
        }
    }

    private static FileStream OpenExclusive(string path)
    {
        try
        {
            return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.Asynchronous);
        }
        catch (IOException e)
        {
            throw new ModelStoreException($"{path} is in use: is another pull of this model running? ({e.Message})", e);
        }
    }

    /// <summary>One request for the bytes the file lacks; true when the file is complete.</summary>
    private async Task<bool> FetchRestAsync(Uri url, FileStream file, long? expectedSize, IDownloadProgress progress, CancellationToken cancel)
    {
        long offset = file.Length;
        if (expectedSize is { } size && offset > size)
        {
            file.SetLength(0);
            offset = 0;
        }
        if (expectedSize is { } complete && offset == complete && complete > 0)
        {
            progress.Started(offset, expectedSize);
            return true;
        }

        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        authorize(request);
        if (offset > 0) request.Headers.Range = new System.Net.Http.Headers.RangeHeaderValue(offset, null);
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        idle.CancelAfter(IdleTimeout);
        using var response = await SendAsync(request, idle, cancel);

        if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable)
        {
            // What we hold no longer fits the file on the server: start over.
            file.SetLength(0);
            throw new IOException("the server refused to resume (HTTP 416); starting over");
        }
        if (response.StatusCode == HttpStatusCode.NotFound)
            throw new ModelStoreException($"{url}: not found on the hub (HTTP 404)");
        if ((int)response.StatusCode >= 500)
            throw new HttpRequestException($"HTTP {(int)response.StatusCode} {response.ReasonPhrase}");
        if (!response.IsSuccessStatusCode)
            throw new ModelStoreException($"{url}: the hub answered HTTP {(int)response.StatusCode} {response.ReasonPhrase}");

        if (response.StatusCode == HttpStatusCode.PartialContent)
        {
            long? start = response.Content.Headers.ContentRange?.From;
            if (start != offset) throw new ModelStoreException($"{url}: asked to resume at byte {offset}, the server sent bytes from {start?.ToString() ?? "?"}");
        }
        else
        {
            // A 200 answer is the whole file, whatever we asked for.
            file.SetLength(0);
            offset = 0;
        }
        long? total = expectedSize ?? (response.Content.Headers.ContentLength is { } length ? offset + length : null);
        progress.Started(offset, total);

        file.Seek(offset, SeekOrigin.Begin);
        await using var body = await response.Content.ReadAsStreamAsync(idle.Token);
        var buffer = new byte[BufferSize];
        while (true)
        {
            idle.CancelAfter(IdleTimeout);
            int read;
            try
            {
                read = await body.ReadAsync(buffer, idle.Token);
            }
            catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
            {
                throw new TimeoutException($"no data for {IdleTimeout.TotalSeconds:0} s");
            }
            if (read == 0) break;
            await file.WriteAsync(buffer.AsMemory(0, read), cancel);
            progress.Advanced(read);
        }
        await file.FlushAsync(cancel);
        return total is null || file.Length >= total;
    }

    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationTokenSource idle, CancellationToken cancel)
    {
        try
        {
            return await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, idle.Token);
        }
        catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
        {
            throw new TimeoutException("the hub did not answer");
        }
    }

    /// <summary>The SHA-256 of a file as lower-case hex.</summary>
    public static async Task<string> Sha256Async(string path, CancellationToken cancel)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, BufferSize, FileOptions.Asynchronous | FileOptions.SequentialScan);
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, cancel));
    }
}

using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http;

namespace Liaoyuan.Server.Api;

/// <summary>Writes an OpenAI-style event stream: <c>data: {json}</c> events, ending with <c>data: [DONE]</c>.</summary>
internal sealed class ServerSentEvents(HttpResponse response)
{
    private static readonly byte[] Prefix = "data: "u8.ToArray();
    private static readonly byte[] Separator = "\n\n"u8.ToArray();

    public async Task StartAsync()
    {
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        // Proxies such as nginx would otherwise buffer the stream and defeat time-to-first-token.
        response.Headers["X-Accel-Buffering"] = "no";
        await response.StartAsync(response.HttpContext.RequestAborted);
    }

    public async Task WriteAsync<T>(T value, JsonTypeInfo<T> type)
    {
        var cancel = response.HttpContext.RequestAborted;
        await response.Body.WriteAsync(Prefix, cancel);
        await JsonSerializer.SerializeAsync(response.Body, value, type, cancel);
        await response.Body.WriteAsync(Separator, cancel);
        await response.Body.FlushAsync(cancel);
    }

    /// <summary>An error after the stream started: the status line is gone, so the error travels as an event.</summary>
    public async Task WriteErrorAsync(string message, string type, string? code)
    {
        using var buffer = new MemoryStream();
        await using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteStartObject("error");
            json.WriteString("message", message);
            json.WriteString("type", type);
            json.WriteNull("param");
            if (code is null) json.WriteNull("code"); else json.WriteString("code", code);
            json.WriteEndObject();
            json.WriteEndObject();
        }
        var cancel = response.HttpContext.RequestAborted;
        await response.Body.WriteAsync(Prefix, cancel);
        await response.Body.WriteAsync(buffer.ToArray(), cancel);
        await response.Body.WriteAsync(Separator, cancel);
        await response.Body.FlushAsync(cancel);
    }

    public async Task DoneAsync()
    {
        var cancel = response.HttpContext.RequestAborted;
        await response.Body.WriteAsync(Encoding.ASCII.GetBytes("data: [DONE]\n\n"), cancel);
        await response.Body.FlushAsync(cancel);
    }
}

using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Liaoyuan.Server.Api;

/// <summary>
/// Every failure leaves as an OpenAI-style error object: refused requests with their 4xx, anything unexpected as a
/// 500 that names no internals. A client that went away gets nothing.
/// </summary>
internal static class ErrorHandling
{
    public static async Task CatchAsync(HttpContext http, RequestDelegate next)
    {
        try
        {
            await next(http);
            Count(http, http.Response.StatusCode);
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            // The client disconnected; its sequences were cancelled with the same token.
        }
        catch (ApiException problem) when (!http.Response.HasStarted)
        {
            Count(http, problem.Status);
            await ApiErrors.WriteAsync(http, problem);
        }
        catch (BadHttpRequestException problem) when (!http.Response.HasStarted)
        {
            Count(http, problem.StatusCode);
            string message = problem.StatusCode == StatusCodes.Status413PayloadTooLarge
                ? "The request body is larger than the server accepts"
                : $"Bad request: {problem.Message}";
            await ApiErrors.WriteAsync(http, problem.StatusCode, message, ApiErrorTypes.InvalidRequest, null,
                problem.StatusCode == StatusCodes.Status413PayloadTooLarge ? "request_too_large" : "bad_request");
        }
        catch (Exception problem) when (!http.Response.HasStarted)
        {
            http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Liaoyuan.Server")
                .LogError(problem, "Unhandled error on {Method} {Path}", http.Request.Method, http.Request.Path);
            Count(http, StatusCodes.Status500InternalServerError);
            await ApiErrors.WriteAsync(http, StatusCodes.Status500InternalServerError,
                "The server had an error while processing the request", ApiErrorTypes.Server, null, "internal_error");
        }
    }

    /// <summary>Bodies for the framework's own answers: unknown paths (404) and wrong methods (405).</summary>
    public static Task StatusCodePageAsync(StatusCodeContext context)
    {
        var http = context.HttpContext;
        int status = http.Response.StatusCode;
        string message = status switch
        {
            StatusCodes.Status404NotFound => $"Unknown path: {http.Request.Method} {http.Request.Path}",
            StatusCodes.Status405MethodNotAllowed => $"Method {http.Request.Method} is not allowed on {http.Request.Path}",
            StatusCodes.Status415UnsupportedMediaType => "The request body must be JSON",
            _ => $"HTTP {status}",
        };
        return ApiErrors.WriteAsync(http, status, message, status == 404 ? ApiErrorTypes.NotFound : ApiErrorTypes.InvalidRequest, null, null);
    }

    private static void Count(HttpContext http, int status)
    {
        if (!http.Request.Path.StartsWithSegments("/v1")) return;
        http.RequestServices.GetService<ServerMetrics>()?.RequestAnswered(http.Request.Path.Value ?? "", status);
    }
}

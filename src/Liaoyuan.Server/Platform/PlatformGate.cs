using Liaoyuan.Server.Api;
using Microsoft.AspNetCore.Http;

namespace Liaoyuan.Server.Platform;

/// <summary>
/// Who may call what: <c>/admin</c> takes only the admin key (an app key gets 403), <c>/v1</c> only an unrevoked
/// app key (the admin key gets 403). Keys are checked against the database on every request, so a revocation
/// — through the API or the CLI on the data folder — applies to the very next request. Generation requests get
/// a <see cref="RequestMeter"/> that records their usage however they end.
/// </summary>
internal sealed class PlatformGate(PlatformServices platform)
{
    public async Task InvokeAsync(HttpContext http, RequestDelegate next)
    {
        var path = http.Request.Path;
        if (path.StartsWithSegments("/admin")) await AdminAsync(http, next);
        else if (path.StartsWithSegments("/v1")) await ApiAsync(http, next);
        else await next(http);
    }

    private async Task AdminAsync(HttpContext http, RequestDelegate next)
    {
        string? key = BearerKey(http);
        if (key is not null && PlatformKeys.Matches(key, platform.AdminKeyHash))
        {
            await next(http);
            return;
        }
        if (key is not null && PlatformKeys.IsWellFormedAppKey(key) && await platform.Store.FindActiveKeyAsync(PlatformKeys.Hash(key), http.RequestAborted) is not null)
            throw new ApiException(StatusCodes.Status403Forbidden, "App keys cannot use the admin API; send the admin key", ApiErrorTypes.Authentication, null, "admin_key_required");
        throw Unauthorized(http, key is null ? "Missing admin key: send 'Authorization: Bearer ADMIN_KEY'" : "Incorrect admin key");
    }

    private async Task ApiAsync(HttpContext http, RequestDelegate next)
    {
        string? key = BearerKey(http) ?? throw Unauthorized(http, "Missing API key: send 'Authorization: Bearer KEY'");
        if (PlatformKeys.Matches(key, platform.AdminKeyHash))
            throw new ApiException(StatusCodes.Status403Forbidden, "The admin key cannot call the model API; create an app key with POST /admin/apps/{id}/keys",
                ApiErrorTypes.Authentication, null, "app_key_required");
        if (!PlatformKeys.IsWellFormedAppKey(key))
            throw Unauthorized(http, $"Malformed API key: app keys start with '{PlatformKeys.AppKeyPrefix}' followed by 43 base64url characters");
        var owner = await platform.Store.FindActiveKeyAsync(PlatformKeys.Hash(key), http.RequestAborted)
            ?? throw Unauthorized(http, "Incorrect or revoked API key");
        if (!IsGeneration(http.Request))
        {
            await next(http);
            return;
        }
        var meter = new RequestMeter(owner, platform.Store, platform.Limiter);
        http.Features.Set(meter);
        try
        {
            await next(http);
        }
        catch (ApiException problem)
        {
            await meter.FailAsync(problem.Status);
            throw;
        }
        catch (BadHttpRequestException problem)
        {
            await meter.FailAsync(problem.StatusCode);
            throw;
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            await meter.FailAsync(StatusCodes.Status499ClientClosedRequest);
            throw;
        }
        catch
        {
            await meter.FailAsync(StatusCodes.Status500InternalServerError);
            throw;
        }
        if (!meter.Recorded)
        {
            // Ended without the endpoint recording success: an error event mid-stream, or the client went away.
            int status = http.Response.StatusCode;
            await meter.FailAsync(http.RequestAborted.IsCancellationRequested ? StatusCodes.Status499ClientClosedRequest
                : status == StatusCodes.Status200OK ? StatusCodes.Status500InternalServerError : status);
        }
    }

    private static bool IsGeneration(HttpRequest request) =>
        HttpMethods.IsPost(request.Method) && (request.Path == "/v1/chat/completions" || request.Path == "/v1/completions");

    private static string? BearerKey(HttpContext http)
    {
        const string scheme = "Bearer ";
        string header = http.Request.Headers.Authorization.ToString();
        if (!header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)) return null;
        string key = header[scheme.Length..].Trim();
        return key.Length == 0 ? null : key;
    }

    private static ApiException Unauthorized(HttpContext http, string message)
    {
        http.Response.Headers.WWWAuthenticate = "Bearer";
        return new(StatusCodes.Status401Unauthorized, message, ApiErrorTypes.Authentication, null, "invalid_api_key");
    }
}

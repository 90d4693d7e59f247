using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace Liaoyuan.Server.Api;

/// <summary>Requires <c>Authorization: Bearer KEY</c> with one of the configured keys on the /v1 API.</summary>
internal sealed class ApiKeyCheck(IReadOnlyList<string> keys)
{
    private readonly byte[][] _keys = keys.Select(Encoding.UTF8.GetBytes).ToArray();

    public async Task InvokeAsync(HttpContext http, RequestDelegate next)
    {
        if (!http.Request.Path.StartsWithSegments("/v1") || IsAuthorized(http.Request.Headers.Authorization.ToString()))
        {
            await next(http);
            return;
        }
        http.Response.Headers.WWWAuthenticate = "Bearer";
        await ApiErrors.WriteAsync(http, StatusCodes.Status401Unauthorized, "Missing or incorrect API key: send 'Authorization: Bearer KEY'",
            ApiErrorTypes.Authentication, null, "invalid_api_key");
    }

    private bool IsAuthorized(string header)
    {
        const string scheme = "Bearer ";
        if (!header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)) return false;
        var given = Encoding.UTF8.GetBytes(header[scheme.Length..].Trim());
        // Constant-time comparison, so response timing does not reveal how much of a key matched.
        return _keys.Any(key => CryptographicOperations.FixedTimeEquals(key, given));
    }
}

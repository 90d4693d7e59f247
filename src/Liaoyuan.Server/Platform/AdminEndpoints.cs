using Liaoyuan.Server.Api;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Liaoyuan.Server.Platform;

/// <summary>The admin API under <c>/admin</c>; <see cref="PlatformGate"/> lets only the admin key in.</summary>
internal static class AdminEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapPost("/admin/apps", CreateAppAsync);
        app.MapGet("/admin/apps", async (PlatformServices platform, HttpContext http) =>
            Results.Json(new AdminList<AppDto>(await Admin(platform).ListAppsAsync(http.RequestAborted)), AdminJsonContext.Default.AdminListAppDto));
        app.MapPost("/admin/apps/{id}/keys", (string id, PlatformServices platform, HttpContext http) =>
            Run(async () => Results.Json(await Admin(platform).CreateKeyAsync(id, http.RequestAborted), AdminJsonContext.Default.CreatedKeyDto)));
        app.MapGet("/admin/apps/{id}/keys", (string id, PlatformServices platform, HttpContext http) =>
            Run(async () => Results.Json(new AdminList<KeyDto>(await Admin(platform).ListKeysAsync(id, http.RequestAborted)), AdminJsonContext.Default.AdminListKeyDto)));
        app.MapDelete("/admin/keys/{id}", (string id, PlatformServices platform, HttpContext http) =>
            Run(async () => Results.Json(await Admin(platform).RevokeKeyAsync(id, http.RequestAborted), AdminJsonContext.Default.KeyDto)));
        app.MapGet("/admin/usage", (PlatformServices platform, HttpContext http) => Run(async () =>
        {
            var query = http.Request.Query;
            var usage = await Admin(platform).UsageAsync(query["app"], query["from"], query["to"], http.RequestAborted);
            return Results.Json(new AdminList<UsageDto>(usage), AdminJsonContext.Default.AdminListUsageDto);
        }));
    }

    private static async Task<IResult> CreateAppAsync(HttpContext http, PlatformServices platform)
    {
        using var body = await RequestBodies.ReadJsonObjectAsync(http.Request);
        var root = body.RootElement;
        string name = JsonFields.RequiredString(root, "name");
        long? quota = JsonFields.Integer(root, "daily_token_quota", long.MinValue, long.MaxValue);
        long? rpm = JsonFields.Integer(root, "requests_per_minute", long.MinValue, long.MaxValue);
        long? tpm = JsonFields.Integer(root, "tokens_per_minute", long.MinValue, long.MaxValue);
        return await Run(async () => Results.Json(await Admin(platform).CreateAppAsync(name, quota, rpm, tpm, http.RequestAborted), AdminJsonContext.Default.AppDto));
    }

    private static PlatformAdmin Admin(PlatformServices platform) => new(platform.Store, TimeProvider.System);

    /// <summary>Turns the admin operations' input errors into 400 and 404 answers.</summary>
    private static async Task<IResult> Run(Func<Task<IResult>> operation)
    {
        try
        {
            return await operation();
        }
        catch (PlatformInputException problem)
        {
            throw problem.NotFound
                ? new ApiException(StatusCodes.Status404NotFound, problem.Message, ApiErrorTypes.NotFound, problem.Param, "not_found")
                : ApiException.BadRequest(problem.Message, problem.Param, "invalid_value");
        }
    }
}

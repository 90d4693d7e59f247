using Liaoyuan.Server.Hosting;
using Microsoft.AspNetCore.Http;

namespace Liaoyuan.Server.Api;

/// <summary><c>GET /v1/models</c>, <c>GET /v1/models/{id}</c> and <c>GET /health</c>.</summary>
internal static class ModelsEndpoint
{
    public static IResult List(ModelRegistry registry) =>
        Results.Json(new ModelList([.. registry.Models.Select(Info), .. registry.Adapters.Select(Info)]), ApiJsonContext.Default.ModelList);

    public static IResult Get(string id, ModelRegistry registry)
    {
        var info = registry.Models.FirstOrDefault(m => m.Id == id) is { } model ? Info(model)
            : registry.Adapters.FirstOrDefault(a => a.Id == id) is { } adapter ? Info(adapter)
            : throw new ApiException(404, $"The model '{id}' does not exist", ApiErrorTypes.InvalidRequest, "model", "model_not_found");
        return Results.Json(info, ApiJsonContext.Default.ModelInfo);
    }

    public static IResult Health(ModelRegistry registry)
    {
        var state = registry.LoadedState().ToDictionary(s => s.Id);
        var models = registry.Models.Select(m => state.TryGetValue(m.Id, out var s)
            ? new HealthModel(m.Id, true, s.Queued, s.Active)
            : new HealthModel(m.Id, false, 0, 0)).ToList();
        return Results.Json(new HealthResponse("ok", models), ApiJsonContext.Default.HealthResponse);
    }

    // "created" is the model file's modification time: the closest thing a local file has to a release date.
    private static ModelInfo Info(ModelSource source) =>
        new(source.Id, new DateTimeOffset(File.GetLastWriteTimeUtc(source.Path)).ToUnixTimeSeconds(), "liaoyuan");

    private static ModelInfo Info(AdapterSource source) =>
        new(source.Id, new DateTimeOffset(File.GetLastWriteTimeUtc(source.Path)).ToUnixTimeSeconds(), "liaoyuan", source.BaseId);
}

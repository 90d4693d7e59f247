using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Liaoyuan.Server.Api;

internal static class RequestBodies
{
    /// <summary>The body as a JSON object; malformed JSON is a 400, a body over the size limit a 413.</summary>
    public static async Task<JsonDocument> ReadJsonObjectAsync(HttpRequest request)
    {
        JsonDocument document;
        try
        {
            document = await JsonDocument.ParseAsync(request.Body, new JsonDocumentOptions { MaxDepth = 64 }, request.HttpContext.RequestAborted);
        }
        catch (JsonException problem)
        {
            throw ApiException.BadRequest($"The request body is not valid JSON: {problem.Message}", code: "invalid_json");
        }
        catch (BadHttpRequestException problem) when (problem.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw new ApiException(StatusCodes.Status413PayloadTooLarge, "The request body is larger than the server accepts", code: "request_too_large");
        }
        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            document.Dispose();
            throw ApiException.BadRequest("The request body must be a JSON object", code: "invalid_json");
        }
        return document;
    }
}

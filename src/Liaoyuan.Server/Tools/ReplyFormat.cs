using System.Text.Json;

namespace Liaoyuan.Server.Tools;

/// <summary>What <c>tool_choice</c> (or Microsoft.Extensions.AI's <c>ToolMode</c>) asks for.</summary>
internal enum ToolChoiceMode { Auto, None, Required, Function }

/// <summary>
/// What a chat reply may contain, as the HTTP request or the in-process <c>ChatOptions</c> describe it: tools in
/// OpenAI's shape (<c>{"type":"function","function":{"name","description","parameters"}}</c>), how they must be
/// used, and the response format.
/// </summary>
internal sealed record ReplyFormat
{
    public IReadOnlyList<JsonElement> Tools { get; init; } = [];
    public ToolChoiceMode ToolChoice { get; init; } = ToolChoiceMode.Auto;

    /// <summary>The function a <see cref="ToolChoiceMode.Function"/> choice names.</summary>
    public string? ForcedFunction { get; init; }

    /// <summary>Whether one reply may hold several calls; when false it holds at most one.</summary>
    public bool ParallelToolCalls { get; init; } = true;

    /// <summary>"text", "json_object" or "json_schema".</summary>
    public string ResponseFormat { get; init; } = "text";
    public JsonElement? ResponseSchema { get; init; }

    public static string ToolName(JsonElement tool) => tool.GetProperty("function").GetProperty("name").GetString()!;

    public static JsonElement? Parameters(JsonElement tool) =>
        tool.GetProperty("function").TryGetProperty("parameters", out var parameters) && parameters.ValueKind != JsonValueKind.Null ? parameters : null;
}

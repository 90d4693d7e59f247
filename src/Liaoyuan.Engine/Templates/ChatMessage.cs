using System.Text.Json;

namespace Liaoyuan.Engine.Templates;

/// <summary>One turn of a conversation, shaped like an OpenAI / Hugging Face chat message.</summary>
/// <param name="Role">"system", "user", "assistant" or "tool" (templates may accept others).</param>
/// <param name="Content">The text; may be null on an assistant turn that only calls tools.</param>
public sealed record ChatMessage(string Role, string? Content)
{
    public IReadOnlyList<ToolCall>? ToolCalls { get; init; }

    /// <summary>On a "tool" message: the id of the call this is the result of.</summary>
    public string? ToolCallId { get; init; }

    /// <summary>On a "tool" message: the name of the tool that produced it.</summary>
    public string? Name { get; init; }

    /// <summary>An assistant turn's thinking, for templates that render it (Qwen3 and other reasoning models).</summary>
    public string? ReasoningContent { get; init; }
}

/// <summary>A function call made by the assistant. <paramref name="ArgumentsJson"/> is the JSON text of the arguments.</summary>
public sealed record ToolCall(string Id, string Name, string ArgumentsJson);

/// <summary>What besides the messages a chat template is rendered with.</summary>
public sealed record ChatTemplateOptions
{
    /// <summary>End with the header that starts the assistant's reply, so generation continues as the assistant.</summary>
    public bool AddGenerationPrompt { get; init; } = true;

    public string BosToken { get; init; } = "";

    public string EosToken { get; init; } = "";

    /// <summary>Tool definitions, each usually <c>{"type": "function", "function": {...}}</c>.</summary>
    public IReadOnlyList<JsonElement>? Tools { get; init; }

    /// <summary>Tool definitions as the text of a JSON array; an alternative to <see cref="Tools"/>.</summary>
    public string? ToolsJson { get; init; }

    /// <summary>
    /// Further template variables, such as <c>enable_thinking</c> for Qwen3 or <c>date_string</c> for Llama 3.
    /// They are applied last and so can override the standard ones.
    /// </summary>
    public IReadOnlyDictionary<string, object?>? ExtraVariables { get; init; }

    /// <summary>The time <c>strftime_now</c> reports; the local clock when null.</summary>
    public DateTimeOffset? Now { get; init; }
}

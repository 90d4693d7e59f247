using System.Text.Json;
using Liaoyuan.Engine.Templates;
using Liaoyuan.Server.Structured;
using Liaoyuan.Server.Tools;

namespace Liaoyuan.Server.Api;

/// <summary>A validated <c>/v1/chat/completions</c> request.</summary>
internal sealed record ChatRequest
{
    public required CommonRequestFields Common { get; init; }
    public required IReadOnlyList<ChatMessage> Messages { get; init; }
    public bool Logprobs { get; init; }
    public int TopLogprobs { get; init; }

    /// <summary>Tools, tool_choice, parallel_tool_calls and response_format.</summary>
    public required ReplyFormat Reply { get; init; }

    private static readonly string[] Roles = ["system", "developer", "user", "assistant", "tool"];

    public static ChatRequest Read(JsonElement root, ServerOptions options)
    {
        var common = CommonRequestFields.Read(root, options, allowZeroMaxTokens: false);
        bool logprobs = JsonFields.Bool(root, "logprobs") ?? false;
        int top = (int)(JsonFields.Integer(root, "top_logprobs", 0, CommonRequestFields.MaxTopLogprobs) ?? 0);
        if (top > 0 && !logprobs)
            throw ApiException.BadRequest("'top_logprobs' needs 'logprobs' set to true", "top_logprobs", "invalid_value");
        var tools = ReadTools(root);
        var (choice, forced) = ReadToolChoice(root, tools);
        var (format, schema) = ReadResponseFormat(root);
        return new ChatRequest
        {
            Common = common,
            Messages = ReadMessages(root),
            Logprobs = logprobs,
            TopLogprobs = top,
            Reply = new ReplyFormat
            {
                Tools = tools ?? [],
                ToolChoice = choice,
                ForcedFunction = forced,
                ParallelToolCalls = JsonFields.Bool(root, "parallel_tool_calls") ?? true,
                ResponseFormat = format,
                ResponseSchema = schema,
            },
        };
    }

    private static List<ChatMessage> ReadMessages(JsonElement root)
    {
        if (JsonFields.Optional(root, "messages") is not { } messages)
            throw ApiException.BadRequest("'messages' is required", "messages", "missing_required_parameter");
        if (messages.ValueKind != JsonValueKind.Array) throw JsonFields.WrongType("messages", "an array", messages);
        var result = new List<ChatMessage>();
        foreach (var message in messages.EnumerateArray())
        {
            string at = $"messages[{result.Count}]";
            if (message.ValueKind != JsonValueKind.Object) throw JsonFields.WrongType(at, "an object", message);
            string role = JsonFields.RequiredString(message, "role", $"{at}.role");
            if (!Roles.Contains(role))
                throw ApiException.BadRequest($"'{at}.role' must be one of {string.Join(", ", Roles)}, got '{role}'", $"{at}.role", "invalid_value");
            // Templates know "system"; "developer" is OpenAI's newer name for the same turn.
            if (role == "developer") role = "system";
            result.Add(new ChatMessage(role, ReadContent(message, at))
            {
                ToolCalls = ReadToolCalls(message, at),
                ToolCallId = JsonFields.String(message, "tool_call_id", $"{at}.tool_call_id"),
                Name = JsonFields.String(message, "name", $"{at}.name"),
            });
        }
        if (result.Count == 0) throw ApiException.BadRequest("'messages' must not be empty", "messages", "invalid_value");
        return result;
    }

    /// <summary>A string, or an array of text parts joined together; other part types are not supported.</summary>
    private static string? ReadContent(JsonElement message, string at)
    {
        if (JsonFields.Optional(message, "content") is not { } content) return null;
        if (content.ValueKind == JsonValueKind.String) return content.GetString();
        if (content.ValueKind != JsonValueKind.Array) throw JsonFields.WrongType($"{at}.content", "a string or an array of content parts", content);
        var text = new System.Text.StringBuilder();
        int index = 0;
        foreach (var part in content.EnumerateArray())
        {
            string partAt = $"{at}.content[{index++}]";
            if (part.ValueKind != JsonValueKind.Object) throw JsonFields.WrongType(partAt, "an object", part);
            string type = JsonFields.RequiredString(part, "type", $"{partAt}.type");
            if (type != "text")
                throw ApiException.BadRequest($"content parts of type '{type}' are not supported; only 'text'", $"{partAt}.type", "unsupported_content");
            text.Append(JsonFields.RequiredString(part, "text", $"{partAt}.text"));
        }
        return text.ToString();
    }

    private static List<ToolCall>? ReadToolCalls(JsonElement message, string at)
    {
        if (JsonFields.Optional(message, "tool_calls") is not { } calls) return null;
        if (calls.ValueKind != JsonValueKind.Array) throw JsonFields.WrongType($"{at}.tool_calls", "an array", calls);
        var result = new List<ToolCall>();
        foreach (var call in calls.EnumerateArray())
        {
            string callAt = $"{at}.tool_calls[{result.Count}]";
            if (call.ValueKind != JsonValueKind.Object) throw JsonFields.WrongType(callAt, "an object", call);
            if (JsonFields.Optional(call, "function") is not { ValueKind: JsonValueKind.Object } function)
                throw ApiException.BadRequest($"'{callAt}.function' must be an object", $"{callAt}.function", "invalid_type");
            result.Add(new ToolCall(
                JsonFields.String(call, "id", $"{callAt}.id") ?? $"call_{result.Count}",
                JsonFields.RequiredString(function, "name", $"{callAt}.function.name"),
                JsonFields.String(function, "arguments", $"{callAt}.function.arguments") ?? "{}"));
        }
        return result;
    }

    private static List<JsonElement>? ReadTools(JsonElement root)
    {
        if (JsonFields.Optional(root, "tools") is not { } tools) return null;
        if (tools.ValueKind != JsonValueKind.Array) throw JsonFields.WrongType("tools", "an array", tools);
        var result = new List<JsonElement>();
        foreach (var tool in tools.EnumerateArray())
        {
            string at = $"tools[{result.Count}]";
            if (tool.ValueKind != JsonValueKind.Object) throw JsonFields.WrongType(at, "an object", tool);
            string type = JsonFields.RequiredString(tool, "type", $"{at}.type");
            if (type != "function") throw ApiException.BadRequest($"'{at}.type' must be 'function', got '{type}'", $"{at}.type", "invalid_value");
            if (JsonFields.Optional(tool, "function") is not { ValueKind: JsonValueKind.Object } function)
                throw ApiException.BadRequest($"'{at}.function' must be an object", $"{at}.function", "invalid_type");
            JsonFields.RequiredString(function, "name", $"{at}.function.name");
            if (JsonFields.Optional(function, "parameters") is { } parameters)
                JsonSchemaValidation.Check(parameters, $"{at}.function.parameters");
            result.Add(tool.Clone());
        }
        return result.Count == 0 ? null : result;
    }

    private static (ToolChoiceMode, string?) ReadToolChoice(JsonElement root, List<JsonElement>? tools)
    {
        if (JsonFields.Optional(root, "tool_choice") is not { } choice) return (ToolChoiceMode.Auto, null);
        if (choice.ValueKind == JsonValueKind.String)
        {
            var mode = choice.GetString() switch
            {
                "auto" => ToolChoiceMode.Auto,
                "none" => ToolChoiceMode.None,
                "required" => ToolChoiceMode.Required,
                var other => throw ApiException.BadRequest($"'tool_choice' must be 'auto', 'none', 'required' or a function, got '{other}'", "tool_choice", "invalid_value"),
            };
            if (mode == ToolChoiceMode.Required && tools is null)
                throw ApiException.BadRequest("'tool_choice' is 'required' but no 'tools' were given", "tool_choice", "invalid_value");
            return (mode, null);
        }
        if (choice.ValueKind != JsonValueKind.Object) throw JsonFields.WrongType("tool_choice", "a string or an object", choice);
        if (JsonFields.Optional(choice, "function") is not { ValueKind: JsonValueKind.Object } function)
            throw ApiException.BadRequest("'tool_choice.function' must be an object", "tool_choice.function", "invalid_type");
        string name = JsonFields.RequiredString(function, "name", "tool_choice.function.name");
        if (tools is null || !tools.Any(t => ReplyFormat.ToolName(t) == name))
            throw ApiException.BadRequest($"'tool_choice' names the function '{name}', which is not among 'tools'", "tool_choice", "invalid_value");
        return (ToolChoiceMode.Function, name);
    }

    private static (string, JsonElement?) ReadResponseFormat(JsonElement root)
    {
        if (JsonFields.Optional(root, "response_format") is not { } format) return ("text", null);
        if (format.ValueKind != JsonValueKind.Object) throw JsonFields.WrongType("response_format", "an object", format);
        string type = JsonFields.RequiredString(format, "type", "response_format.type");
        switch (type)
        {
            case "text":
            case "json_object":
                return (type, null);
            case "json_schema":
                if (JsonFields.Optional(format, "json_schema") is not { ValueKind: JsonValueKind.Object } wrapper)
                    throw ApiException.BadRequest("'response_format.json_schema' must be an object", "response_format.json_schema", "invalid_type");
                JsonFields.RequiredString(wrapper, "name", "response_format.json_schema.name");
                if (JsonFields.Optional(wrapper, "schema") is not { } schema) return ("json_object", null);
                JsonSchemaValidation.Check(schema, "response_format.json_schema.schema");
                return (type, schema.Clone());
            default:
                throw ApiException.BadRequest($"'response_format.type' must be 'text', 'json_object' or 'json_schema', got '{type}'", "response_format.type", "invalid_value");
        }
    }
}

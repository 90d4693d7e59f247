using System.Text.Json;

namespace Liaoyuan.Engine.Templates;

/// <summary>
/// A model's <c>tokenizer.chat_template</c>, rendered the way Hugging Face transformers does it: Jinja with
/// trim_blocks and lstrip_blocks on, <c>messages</c>, <c>tools</c>, <c>add_generation_prompt</c>,
/// <c>bos_token</c>/<c>eos_token</c> and any extra variables, plus <c>raise_exception</c> and <c>strftime_now</c>.
/// </summary>
public sealed class ChatTemplate
{
    private const string ChatMlSource =
        "{%- for message in messages %}\n" +
        "{{- '<|im_start|>' + message.role + '\\n' + (message.content or '') + '<|im_end|>\\n' }}\n" +
        "{%- endfor %}\n" +
        "{%- if add_generation_prompt %}\n" +
        "{{- '<|im_start|>assistant\\n' }}\n" +
        "{%- endif %}";

    private static readonly Lazy<ChatTemplate> ChatMlTemplate = new(() => Parse(ChatMlSource));

    private readonly JinjaTemplate _template;

    private ChatTemplate(string source, JinjaTemplate template)
    {
        Source = source;
        _template = template;
    }

    public string Source { get; }

    /// <summary>The plain ChatML format (<c>&lt;|im_start|&gt;role\ncontent&lt;|im_end|&gt;</c>), used when a model has no usable template.</summary>
    public static ChatTemplate ChatMl => ChatMlTemplate.Value;

    /// <exception cref="TemplateException">The source is not a valid template.</exception>
    public static ChatTemplate Parse(string source) =>
        new(source, JinjaTemplate.Parse(source, TemplateSyntaxOptions.HuggingFace));

    /// <summary>
    /// The model's template when it parses and renders a one-message conversation; otherwise ChatML, after one
    /// call to <paramref name="warn"/> that says why.
    /// </summary>
    public static ChatTemplate FromModelOrFallback(string? source, Action<string> warn)
    {
        ArgumentNullException.ThrowIfNull(warn);
        if (string.IsNullOrWhiteSpace(source))
        {
            warn("The model has no chat template; using ChatML.");
            return ChatMl;
        }
        try
        {
            var template = Parse(source);
            // Some templates parse but use features this interpreter lacks; finding out now beats failing per request.
            template.Render([new ChatMessage("user", "Hello")], new ChatTemplateOptions { Now = DateTimeOffset.UnixEpoch });
            return template;
        }
        catch (TemplateException problem)
        {
            warn($"The model's chat template is not usable ({problem.Message}); using ChatML.");
            return ChatMl;
        }
    }

    /// <exception cref="TemplateException">The template rejected the conversation (e.g. via raise_exception) or failed.</exception>
    public string Render(IReadOnlyList<ChatMessage> messages, ChatTemplateOptions options)
    {
        ArgumentNullException.ThrowIfNull(messages);
        ArgumentNullException.ThrowIfNull(options);
        var variables = new Dictionary<string, object?>(StringComparer.Ordinal)
        {
            ["messages"] = messages.Select(ToTemplateMessage).ToList(),
            ["tools"] = ToolsFrom(options),
            ["documents"] = null,
            ["add_generation_prompt"] = options.AddGenerationPrompt,
            ["bos_token"] = options.BosToken,
            ["eos_token"] = options.EosToken,
        };
        foreach (var (name, value) in options.ExtraVariables ?? new Dictionary<string, object?>())
        {
            variables[name] = value;
        }
        Func<DateTimeOffset>? clock = options.Now is { } now ? () => now : null;
        return _template.Render(variables, clock);
    }

    private static List<object?>? ToolsFrom(ChatTemplateOptions options)
    {
        if (options.Tools is not null && options.ToolsJson is not null)
        {
            throw new ArgumentException("Give tools either as Tools or as ToolsJson, not both.", nameof(options));
        }
        if (options.Tools is not null) return options.Tools.Select(TemplateValueConversion.FromJson).ToList();
        if (options.ToolsJson is null) return null;
        using var document = JsonDocument.Parse(options.ToolsJson);
        if (document.RootElement.ValueKind != JsonValueKind.Array)
        {
            throw new ArgumentException("ToolsJson must be a JSON array of tool definitions.", nameof(options));
        }
        return (List<object?>?)TemplateValueConversion.FromJson(document.RootElement);
    }

    /// <summary>
    /// The dict a template sees for a message. Optional fields are left out rather than set to none, because
    /// templates test them with 'in' and 'is defined' (Llama 3 checks <c>'tool_calls' in message</c>).
    /// </summary>
    private static OrderedDictionary<string, object?> ToTemplateMessage(ChatMessage message)
    {
        bool hasToolCalls = message.ToolCalls is { Count: > 0 };
        var result = new OrderedDictionary<string, object?>(StringComparer.Ordinal)
        {
            ["role"] = message.Role,
            // OpenAI sends null content with tool calls; templates such as Qwen3's search that content with 'in',
            // which fails on none, so a tool-calling turn gets an empty string instead.
            ["content"] = message.Content ?? (hasToolCalls ? "" : null),
        };
        if (hasToolCalls) result["tool_calls"] = message.ToolCalls!.Select(ToTemplateToolCall).ToList();
        if (message.ToolCallId is not null) result["tool_call_id"] = message.ToolCallId;
        if (message.Name is not null) result["name"] = message.Name;
        if (message.ReasoningContent is not null) result["reasoning_content"] = message.ReasoningContent;
        return result;
    }

    private static object? ToTemplateToolCall(ToolCall call)
    {
        var function = new OrderedDictionary<string, object?>(StringComparer.Ordinal)
        {
            ["name"] = call.Name,
            ["arguments"] = ParseArguments(call.ArgumentsJson),
        };
        return new OrderedDictionary<string, object?>(StringComparer.Ordinal)
        {
            ["id"] = call.Id,
            ["type"] = "function",
            ["function"] = function,
        };
    }

    // Templates tojson the arguments, so they must be a mapping to come out as an object rather than a quoted string.
    private static object? ParseArguments(string argumentsJson)
    {
        try
        {
            using var document = JsonDocument.Parse(argumentsJson);
            return document.RootElement.ValueKind == JsonValueKind.Object
                ? TemplateValueConversion.FromJson(document.RootElement)
                : argumentsJson;
        }
        catch (JsonException)
        {
            return argumentsJson;
        }
    }
}

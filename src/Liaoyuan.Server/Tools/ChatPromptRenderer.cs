using System.Text;
using System.Text.Json;
using Liaoyuan.Engine.Templates;
using Liaoyuan.Engine.Tokenization;

namespace Liaoyuan.Server.Tools;

/// <summary>
/// Turns a conversation and its tools into prompt tokens through the model's chat template. Templates with tool
/// syntax (Qwen2.5's, Llama 3.1's, ...) render tools, earlier calls and results themselves. For a template without
/// it (the ChatML fallback among them) the tools are described in the system message and earlier calls are written
/// as <c>&lt;tool_call&gt;</c> text, the format <see cref="ReplyReader"/> recognises in replies.
/// </summary>
internal sealed class ChatPromptRenderer
{
    private const string ProbeTool = "liaoyuan_probe_tool";
    private const string ProbeCall = "liaoyuan_probe_call";

    private readonly ChatTemplate _template;
    private readonly Tokenizer _tokenizer;
    private readonly Lazy<bool> _rendersTools;
    private readonly Lazy<bool> _rendersCalls;

    public ChatPromptRenderer(ChatTemplate template, Tokenizer tokenizer)
    {
        _template = template;
        _tokenizer = tokenizer;
        _rendersTools = new(() => RendersName(ProbeTool, [new ChatMessage("user", "Hi")],
            [ProbeToolDefinition()]));
        _rendersCalls = new(() => RendersName(ProbeCall,
        [
            new ChatMessage("user", "Hi"),
            new ChatMessage("assistant", null) { ToolCalls = [new ToolCall("call_probe", ProbeCall, "{}")] },
            new ChatMessage("tool", "ok") { ToolCallId = "call_probe", Name = ProbeCall },
        ], null));
    }

    /// <exception cref="TemplateException">The template rejected the conversation.</exception>
    public int[] Tokenize(IReadOnlyList<ChatMessage> messages, IReadOnlyList<JsonElement>? tools)
    {
        var (prepared, options) = Prepare(messages, tools);
        return ChatPrompt.Tokenize(_template, _tokenizer, prepared, options);
    }

    /// <summary>The prompt as text, as <see cref="Tokenize"/> reads it.</summary>
    public string Render(IReadOnlyList<ChatMessage> messages, IReadOnlyList<JsonElement>? tools)
    {
        var (prepared, options) = Prepare(messages, tools);
        return _template.Render(prepared, options);
    }

    private (IReadOnlyList<ChatMessage>, ChatTemplateOptions) Prepare(IReadOnlyList<ChatMessage> messages, IReadOnlyList<JsonElement>? tools)
    {
        if (tools is { Count: > 0 } && !_rendersTools.Value)
        {
            messages = WithToolsDescribed(messages, tools);
            tools = null;
        }
        if (messages.Any(m => m.ToolCalls is { Count: > 0 }) && !_rendersCalls.Value) messages = WithCallsAsText(messages);
        return (messages, ChatPrompt.OptionsFor(_tokenizer) with { Tools = tools is { Count: > 0 } ? tools : null });
    }

    private static JsonElement ProbeToolDefinition()
    {
        using var document = JsonDocument.Parse("{\"type\":\"function\",\"function\":{\"name\":\"" + ProbeTool + "\",\"parameters\":{\"type\":\"object\"}}}");
        return document.RootElement.Clone();
    }

    private bool RendersName(string name, IReadOnlyList<ChatMessage> messages, IReadOnlyList<JsonElement>? tools)
    {
        try
        {
            var options = ChatPrompt.OptionsFor(_tokenizer) with { Tools = tools, Now = DateTimeOffset.UnixEpoch };
            return _template.Render(messages, options).Contains(name, StringComparison.Ordinal);
        }
        catch (TemplateException)
        {
            return false;
        }
    }

    private static List<ChatMessage> WithToolsDescribed(IReadOnlyList<ChatMessage> messages, IReadOnlyList<JsonElement> tools)
    {
        var text = new StringBuilder("# Tools\n\nYou can call these functions, described as JSON inside <tools></tools>:\n<tools>\n");
        foreach (var tool in tools) text.Append(tool.GetRawText()).Append('\n');
        text.Append("</tools>\n\nTo call one, answer with its name and arguments as a JSON object inside <tool_call></tool_call> tags, one per call:\n")
            .Append("<tool_call>\n{\"name\": \"function name\", \"arguments\": {\"argument\": \"value\"}}\n</tool_call>");
        var result = messages.ToList();
        if (result.Count > 0 && result[0].Role == "system")
            result[0] = result[0] with { Content = (result[0].Content ?? "") + "\n\n" + text };
        else
            result.Insert(0, new ChatMessage("system", text.ToString()));
        return result;
    }

    private static List<ChatMessage> WithCallsAsText(IReadOnlyList<ChatMessage> messages) =>
        messages.Select(message =>
        {
            if (message.ToolCalls is not { Count: > 0 } calls) return message;
            var text = new StringBuilder(message.Content ?? "");
            foreach (var call in calls)
            {
                if (text.Length > 0) text.Append('\n');
                text.Append("<tool_call>\n{\"name\": \"").Append(JsonEncodedText.Encode(call.Name)).Append("\", \"arguments\": ")
                    .Append(call.ArgumentsJson).Append("}\n</tool_call>");
            }
            return message with { Content = text.ToString(), ToolCalls = null };
        }).ToList();
}

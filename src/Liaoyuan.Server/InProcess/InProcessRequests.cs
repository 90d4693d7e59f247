using System.Text;
using System.Text.Json;
using Liaoyuan.Engine.Templates;
using Liaoyuan.Server.Tools;
using AI = Microsoft.Extensions.AI;

namespace Liaoyuan.Server.InProcess;

/// <summary>Microsoft.Extensions.AI's messages and options in the shapes the server's chat pipeline takes.</summary>
internal static class InProcessRequests
{
    /// <summary>The tools, tool mode and response format of <paramref name="options"/>.</summary>
    /// <exception cref="ArgumentException">A tool mode names no given tool, or a tool is not a function.</exception>
    public static ReplyFormat ReplyFormatOf(AI.ChatOptions? options)
    {
        var tools = new List<JsonElement>();
        foreach (var tool in options?.Tools ?? [])
        {
            if (tool is not AI.AIFunctionDeclaration function)
                throw new NotSupportedException($"the tool '{tool.Name}' is not a function; only function tools run in process");
            tools.Add(ToolDefinition(function));
        }
        var (mode, forced) = options?.ToolMode switch
        {
            AI.NoneChatToolMode => (ToolChoiceMode.None, null),
            AI.RequiredChatToolMode { RequiredFunctionName: { } name } => (ToolChoiceMode.Function, name),
            AI.RequiredChatToolMode => (ToolChoiceMode.Required, (string?)null),
            _ => (ToolChoiceMode.Auto, null),
        };
        if (mode is ToolChoiceMode.Required or ToolChoiceMode.Function && tools.Count == 0)
            throw new ArgumentException("ToolMode requires a tool call but no tools were given", nameof(options));
        if (forced is not null && !tools.Any(t => ReplyFormat.ToolName(t) == forced))
            throw new ArgumentException($"ToolMode names the function '{forced}', which is not among the tools", nameof(options));
        var (responseFormat, schema) = options?.ResponseFormat switch
        {
            AI.ChatResponseFormatJson { Schema: { } s } => ("json_schema", (JsonElement?)s),
            AI.ChatResponseFormatJson => ("json_object", null),
            _ => ("text", null),
        };
        return new ReplyFormat
        {
            Tools = tools,
            ToolChoice = mode,
            ForcedFunction = forced,
            ParallelToolCalls = options?.AllowMultipleToolCalls ?? true,
            ResponseFormat = responseFormat,
            ResponseSchema = schema,
        };
    }

    /// <summary>A function as OpenAI's tools list describes it, the shape chat templates render.</summary>
    private static JsonElement ToolDefinition(AI.AIFunctionDeclaration function)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("type", "function");
            json.WriteStartObject("function");
            json.WriteString("name", function.Name);
            if (!string.IsNullOrEmpty(function.Description)) json.WriteString("description", function.Description);
            json.WritePropertyName("parameters");
            function.JsonSchema.WriteTo(json);
            json.WriteEndObject();
            json.WriteEndObject();
        }
        using var document = JsonDocument.Parse(buffer.ToArray());
        return document.RootElement.Clone();
    }

    /// <summary>
    /// The conversation as the chat template takes it: function calls become an assistant turn's tool calls, and
    /// each function result a "tool" turn naming the call it answers.
    /// </summary>
    public static List<ChatMessage> Conversation(IEnumerable<AI.ChatMessage> messages)
    {
        var callNames = new Dictionary<string, string>(StringComparer.Ordinal);
        var result = new List<ChatMessage>();
        foreach (var message in messages)
        {
            var calls = message.Contents.OfType<AI.FunctionCallContent>()
                .Select(call => new ToolCall(call.CallId, call.Name, ArgumentsJson(call.Arguments)))
                .ToList();
            foreach (var call in calls) callNames[call.Id] = call.Name;
            var results = message.Contents.OfType<AI.FunctionResultContent>().ToList();
            string text = message.Text;
            if (results.Count > 0)
            {
                foreach (var answer in results)
                    result.Add(new ChatMessage("tool", ResultText(answer)) { ToolCallId = answer.CallId, Name = callNames.GetValueOrDefault(answer.CallId) });
                if (text.Length == 0) continue;
            }
            result.Add(new ChatMessage(message.Role.Value, calls.Count > 0 && text.Length == 0 ? null : text) { ToolCalls = calls.Count > 0 ? calls : null });
        }
        return result;
    }

    private static string ArgumentsJson(IDictionary<string, object?>? arguments) =>
        arguments is null ? "{}" : JsonSerializer.Serialize(arguments, AI.AIJsonUtilities.DefaultOptions);

    private static string ResultText(AI.FunctionResultContent answer) => answer.Result switch
    {
        null => answer.Exception?.Message ?? "",
        string text => text,
        JsonElement json when json.ValueKind == JsonValueKind.String => json.GetString()!,
        var value => JsonSerializer.Serialize(value, AI.AIJsonUtilities.DefaultOptions),
    };
}

/// <summary>The calls of one reply, assembled from their deltas.</summary>
internal sealed class InProcessCalls
{
    private readonly List<(string Id, string Name, StringBuilder Arguments)> _calls = [];

    public int Count => _calls.Count;

    public void Add(ReplyDelta delta)
    {
        switch (delta)
        {
            case ToolCallOpened opened:
                _calls.Add((opened.Id, opened.Name, new StringBuilder()));
                break;
            case ToolCallArguments arguments:
                _calls[arguments.Index].Arguments.Append(arguments.Fragment);
                break;
        }
    }

    /// <summary>The calls, with arguments parsed; a call whose arguments do not parse carries the parse error.</summary>
    public List<AI.AIContent> Contents() =>
        _calls.Select(call => (AI.AIContent)AI.FunctionCallContent.CreateFromParsedArguments(
            call.Arguments.Length == 0 ? "{}" : call.Arguments.ToString(), call.Id, call.Name,
            json => JsonSerializer.Deserialize<Dictionary<string, object?>>(json, AI.AIJsonUtilities.DefaultOptions))).ToList();
}

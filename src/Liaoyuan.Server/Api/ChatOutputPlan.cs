using System.Text.Json;
using System.Text.RegularExpressions;
using Liaoyuan.Server.Hosting;
using Liaoyuan.Server.Scheduling;
using Liaoyuan.Server.Structured;

namespace Liaoyuan.Server.Api;

/// <summary>
/// How a chat reply is produced and read back: free text, JSON constrained to a schema, or tool calls —
/// forced ones decoded under a grammar of the call itself (so they are well-formed whatever the chat template
/// knows of tools), or optional ones recognised in the text afterwards.
/// </summary>
internal sealed partial class ChatOutputPlan
{
    private enum Kind { Text, ForcedFunction, RequiredCall, AutoTools }

    private readonly Kind _kind;
    private readonly string? _function;
    private readonly HashSet<string> _toolNames;

    private ChatOutputPlan(Kind kind, ITokenConstraint? constraint, string? function, HashSet<string> toolNames)
    {
        _kind = kind;
        Constraint = constraint;
        _function = function;
        _toolNames = toolNames;
    }

    public ITokenConstraint? Constraint { get; }

    /// <summary>Tool calls are decided only once the reply is complete, so the text is not streamed as it comes.</summary>
    public bool HoldsTextUntilDone => _kind != Kind.Text;

    /// <summary>Whether tool definitions go into the prompt.</summary>
    public bool OffersTools => _kind != Kind.Text;

    public static ChatOutputPlan For(ChatRequest request, ServedModel model)
    {
        var tools = request.Tools ?? [];
        var names = tools.Select(ChatRequest.ToolName).ToHashSet(StringComparer.Ordinal);
        if (tools.Count > 0 && request.ToolChoice == ToolChoiceMode.Function)
        {
            var tool = tools.First(t => ChatRequest.ToolName(t) == request.ForcedFunction);
            var grammar = JsonSchemaGrammar.Compile(Parameters(tool), "tools.function.parameters");
            return new(Kind.ForcedFunction, new GrammarConstraint(grammar, model.Vocabulary), request.ForcedFunction, names);
        }
        if (tools.Count > 0 && request.ToolChoice == ToolChoiceMode.Required)
        {
            var grammar = JsonSchemaGrammar.CompileToolCall(tools.Select(t => (ChatRequest.ToolName(t), Parameters(t))).ToList());
            return new(Kind.RequiredCall, new GrammarConstraint(grammar, model.Vocabulary), null, names);
        }
        ITokenConstraint? format = request.ResponseFormat switch
        {
            "json_object" => new GrammarConstraint(JsonSchemaGrammar.Compile(null, "response_format"), model.Vocabulary),
            "json_schema" => new GrammarConstraint(JsonSchemaGrammar.Compile(request.ResponseSchema, "response_format.json_schema.schema"), model.Vocabulary),
            _ => null,
        };
        bool auto = tools.Count > 0 && request.ToolChoice == ToolChoiceMode.Auto && format is null;
        return new(auto ? Kind.AutoTools : Kind.Text, format, null, names);
    }

    private static JsonElement? Parameters(JsonElement tool) =>
        tool.GetProperty("function").TryGetProperty("parameters", out var parameters) && parameters.ValueKind != JsonValueKind.Null ? parameters : null;

    /// <summary>Splits a finished reply into text content and tool calls.</summary>
    public (string? Content, List<ToolCallDto> Calls) Interpret(string text, int choice)
    {
        var calls = new List<ToolCallDto>();
        switch (_kind)
        {
            case Kind.ForcedFunction:
                calls.Add(Call(_function!, text, choice, 0));
                return (null, calls);
            case Kind.RequiredCall when TryReadCall(text, out var name, out var arguments):
                calls.Add(Call(name, arguments, choice, 0));
                return (null, calls);
            case Kind.AutoTools:
                // Hermes / Qwen style: <tool_call>{"name": ..., "arguments": ...}</tool_call>, possibly several.
                foreach (Match match in TaggedCall().Matches(text))
                {
                    if (TryReadCall(match.Groups[1].Value, out var tagged, out var taggedArguments))
                        calls.Add(Call(tagged, taggedArguments, choice, calls.Count));
                }
                if (calls.Count > 0)
                {
                    string rest = TaggedCall().Replace(text, "").Trim();
                    return (rest.Length == 0 ? null : rest, calls);
                }
                // Llama 3 style: the whole reply is one {"name": ..., "parameters": ...} object.
                if (TryReadCall(text.Trim(), out var bare, out var bareArguments))
                {
                    calls.Add(Call(bare, bareArguments, choice, 0));
                    return (null, calls);
                }
                return (text, calls);
            default:
                return (text, calls);
        }
    }

    private bool TryReadCall(string json, out string name, out string arguments)
    {
        name = arguments = "";
        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("name", out var n) || n.ValueKind != JsonValueKind.String) return false;
            name = n.GetString()!;
            if (!_toolNames.Contains(name)) return false;
            JsonElement args = root.TryGetProperty("arguments", out var a) ? a : root.TryGetProperty("parameters", out var p) ? p : default;
            arguments = args.ValueKind switch
            {
                JsonValueKind.Undefined => "{}",
                JsonValueKind.String => args.GetString()!,
                _ => args.GetRawText(),
            };
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static ToolCallDto Call(string name, string arguments, int choice, int index) =>
        new(index, $"call_{Guid.NewGuid():N}"[..29], "function", new FunctionCallDto(name, arguments)) { };

    [GeneratedRegex(@"<tool_call>\s*(.*?)\s*</tool_call>", RegexOptions.Singleline)]
    private static partial Regex TaggedCall();
}

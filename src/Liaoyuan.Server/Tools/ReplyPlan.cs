using Liaoyuan.Server.Scheduling;
using Liaoyuan.Server.Structured;

namespace Liaoyuan.Server.Tools;

/// <summary>
/// How a chat reply is produced and read back, for the HTTP API and the in-process client alike: free text, JSON
/// constrained to a schema, or tool calls. Forced calls are decoded under a grammar of the call itself, so they are
/// well-formed whatever the chat template knows of tools: a named function gets exactly one call whose arguments
/// match its parameters; "required" gets one call to any of the tools, or several when parallel calls are allowed.
/// Optional calls are recognised in the text as it streams.
/// </summary>
internal sealed class ReplyPlan
{
    private readonly ReplyReader.Mode _mode;
    private readonly HashSet<string> _names;
    private readonly bool _parallel;
    private readonly string? _forcedFunction;

    private ReplyPlan(ReplyReader.Mode mode, ITokenConstraint? constraint, HashSet<string> names, bool parallel, string? forcedFunction)
    {
        _mode = mode;
        Constraint = constraint;
        _names = names;
        _parallel = parallel;
        _forcedFunction = forcedFunction;
    }

    public ITokenConstraint? Constraint { get; }

    /// <summary>Whether tool definitions go into the prompt.</summary>
    public bool OffersTools => _mode != ReplyReader.Mode.Text;

    /// <summary>Whether the reply is plain text (no tools to look for).</summary>
    public bool IsText => _mode == ReplyReader.Mode.Text;

    /// <exception cref="Api.ApiException">400 when a schema cannot be enforced.</exception>
    /// <param name="vocabulary">The vocabulary trie, asked for only when a constraint needs it (it takes a while to build).</param>
    public static ReplyPlan For(ReplyFormat format, Func<TokenVocabulary> vocabulary)
    {
        var tools = format.Tools;
        var names = tools.Select(ReplyFormat.ToolName).ToHashSet(StringComparer.Ordinal);
        if (tools.Count > 0 && format.ToolChoice == ToolChoiceMode.Function)
        {
            var tool = tools.First(t => ReplyFormat.ToolName(t) == format.ForcedFunction);
            var grammar = JsonSchemaGrammar.Compile(ReplyFormat.Parameters(tool), "tools.function.parameters");
            return new(ReplyReader.Mode.ForcedArguments, new GrammarConstraint(grammar, vocabulary()), names, false, format.ForcedFunction);
        }
        if (tools.Count > 0 && format.ToolChoice == ToolChoiceMode.Required)
        {
            var grammar = JsonSchemaGrammar.CompileToolCalls(
                tools.Select(t => (ReplyFormat.ToolName(t), ReplyFormat.Parameters(t))).ToList(), several: format.ParallelToolCalls);
            return new(ReplyReader.Mode.ForcedCalls, new GrammarConstraint(grammar, vocabulary()), names, format.ParallelToolCalls, null);
        }
        ITokenConstraint? constraint = format.ResponseFormat switch
        {
            "json_object" => new GrammarConstraint(JsonSchemaGrammar.Compile(null, "response_format"), vocabulary()),
            "json_schema" => new GrammarConstraint(JsonSchemaGrammar.Compile(format.ResponseSchema, "response_format.json_schema.schema"), vocabulary()),
            _ => null,
        };
        bool auto = tools.Count > 0 && format.ToolChoice == ToolChoiceMode.Auto && constraint is null;
        return new(auto ? ReplyReader.Mode.AutoTools : ReplyReader.Mode.Text, constraint, names, format.ParallelToolCalls, null);
    }

    /// <summary>A reader for one choice's text.</summary>
    public ReplyReader NewReader() => new(_mode, _names, _parallel, _forcedFunction);
}

using System.Text;

namespace Liaoyuan.Server.Tools;

/// <summary>A piece of a reply as a client sees it: text, the start of a tool call, or more of a call's arguments.</summary>
internal abstract record ReplyDelta;

internal sealed record ContentDelta(string Text) : ReplyDelta;

internal sealed record ToolCallOpened(int Index, string Id, string Name) : ReplyDelta;

internal sealed record ToolCallArguments(int Index, string Fragment) : ReplyDelta;

/// <summary>
/// Splits one choice's generated text, as it streams in, into content and tool calls. Forced calls come from a
/// grammar, so their shape is known; optional ones are recognised in free text: Hermes / Qwen style
/// <c>&lt;tool_call&gt;{"name": ..., "arguments": ...}&lt;/tool_call&gt;</c> anywhere, possibly several, or
/// Llama 3 style, a reply that starts with a bare <c>{"name": ..., "parameters": ...}</c> object. Text that might
/// still turn out to be a call is held back until it is known; a call whose name is not among the tools stays text.
/// </summary>
internal sealed class ReplyReader
{
    public enum Mode
    {
        /// <summary>Everything is content.</summary>
        Text,
        /// <summary>The whole reply is the arguments of one call to a known function.</summary>
        ForcedArguments,
        /// <summary>The whole reply is call objects separated by whitespace.</summary>
        ForcedCalls,
        /// <summary>Free text that may contain calls.</summary>
        AutoTools,
    }

    private const string OpenTag = "<tool_call>";
    private const string CloseTag = "</tool_call>";

    private enum State { Content, Call, AfterCall, Ignoring }

    private readonly Mode _mode;
    private readonly IReadOnlySet<string> _names;
    private readonly bool _parallel;
    private readonly string? _forcedFunction;
    private readonly List<ReplyDelta> _output = [];
    private readonly StringBuilder _pendingContent = new();
    private readonly StringBuilder _pendingArguments = new();
    private readonly StringBuilder _whitespace = new();
    private readonly StringBuilder _held = new();
    private readonly StringBuilder _raw = new();
    private readonly StringBuilder _arguments = new();
    private readonly StringBuilder _afterCall = new();
    private State _state;
    private ToolCallScanner? _scanner;
    private bool _tagged;
    private bool _opened;
    private bool _sawText;

    public ReplyReader(Mode mode, IReadOnlySet<string> names, bool parallel, string? forcedFunction = null)
    {
        _mode = mode;
        _names = names;
        _parallel = parallel;
        _forcedFunction = forcedFunction;
        _state = mode == Mode.ForcedCalls ? State.Call : State.Content;
    }

    /// <summary>Calls opened so far.</summary>
    public int Calls { get; private set; }

    /// <summary>The deltas that <paramref name="text"/>, the next piece of the reply, completes.</summary>
    public IReadOnlyList<ReplyDelta> Push(string text)
    {
        if (text.Length == 0) return [];
        switch (_mode)
        {
            case Mode.Text:
                return [new ContentDelta(text)];
            case Mode.ForcedArguments:
                OpenForced();
                AddArguments(text);
                break;
            default:
                foreach (char c in text) Step(c);
                break;
        }
        return TakeOutput();
    }

    /// <summary>What is still held back once the reply has ended.</summary>
    public IReadOnlyList<ReplyDelta> Finish()
    {
        switch (_mode)
        {
            case Mode.Text:
                return [];
            case Mode.ForcedArguments:
                OpenForced();
                break;
            default:
                if (_state == State.Call && !_opened && _raw.Length > 0) FallBackToContent();
                if (_held.Length > 0) AddContent(_held.ToString());
                _held.Clear();
                // Whitespace around calls is not content; in a reply without calls it is.
                if (Calls == 0 && _whitespace.Length > 0) _pendingContent.Append(_whitespace);
                _whitespace.Clear();
                break;
        }
        return TakeOutput();
    }

    private void OpenForced()
    {
        if (Calls > 0) return;
        Calls = 1;
        _output.Add(new ToolCallOpened(0, NewCallId(), _forcedFunction!));
    }

    private void Step(char c)
    {
        switch (_state)
        {
            case State.Content:
                StepContent(c);
                break;
            case State.Call:
                StepCall(c);
                break;
            case State.AfterCall:
                StepAfterCall(c);
                break;
        }
    }

    private void StepContent(char c)
    {
        if (!_sawText && _held.Length == 0 && c == '{')
        {
            StartCall(tagged: false);
            StepCall(c);
            return;
        }
        _held.Append(c);
        string held = _held.ToString();
        if (held == OpenTag)
        {
            _held.Clear();
            StartCall(tagged: true);
            _raw.Append(OpenTag);
            return;
        }
        if (OpenTag.StartsWith(held, StringComparison.Ordinal)) return;
        // Not the tag: release text from the front until what is left could still begin one.
        int keep = held.Length - 1;
        while (keep > 0 && !OpenTag.StartsWith(held[^keep..], StringComparison.Ordinal)) keep--;
        AddContent(held[..^keep]);
        _held.Remove(0, held.Length - keep);
    }

    private void StartCall(bool tagged)
    {
        _state = State.Call;
        _tagged = tagged;
        _opened = false;
        _scanner = new ToolCallScanner();
        _raw.Clear();
        _arguments.Clear();
    }

    private void StepCall(char c)
    {
        if (_scanner is null)
        {
            // Forced calls: whitespace separates them.
            if (char.IsWhiteSpace(c)) return;
            StartCall(tagged: false);
        }
        var scanner = _scanner!;
        _raw.Append(c);
        scanner.Feed(c, _arguments);
        if (!_opened && scanner.Name is { } name)
        {
            if (!_names.Contains(name))
            {
                FallBackToContent();
                return;
            }
            _opened = true;
            Flush();
            _output.Add(new ToolCallOpened(Calls++, NewCallId(), name));
        }
        if (_opened && _arguments.Length > 0)
        {
            AddArguments(_arguments.ToString());
            _arguments.Clear();
        }
        if (scanner.Failed && !_opened) FallBackToContent();
        else if (scanner.Failed || scanner.Done)
        {
            if (!_opened) { FallBackToContent(); return; }
            _scanner = null;
            _state = !_parallel ? State.Ignoring : _mode == Mode.ForcedCalls ? State.Call : _tagged ? State.AfterCall : State.Content;
            _afterCall.Clear();
        }
    }

    private void StepAfterCall(char c)
    {
        _afterCall.Append(c);
        string after = _afterCall.ToString().TrimStart();
        if (CloseTag.StartsWith(after, StringComparison.Ordinal))
        {
            if (after.Length == CloseTag.Length) _state = State.Content;
            return;
        }
        // No closing tag: what came is ordinary text (or the next call's opening tag).
        _state = State.Content;
        foreach (char next in _afterCall.ToString()) StepContent(next);
    }

    /// <summary>What looked like the start of a call is not one: it is text after all.</summary>
    private void FallBackToContent()
    {
        _state = State.Content;
        _scanner = null;
        string raw = _raw.ToString();
        _raw.Clear();
        _arguments.Clear();
        AddContent(raw);
    }

    private void AddContent(string text)
    {
        if (text.Length == 0) return;
        if (string.IsNullOrWhiteSpace(text))
        {
            _whitespace.Append(text);
            return;
        }
        if (_pendingArguments.Length > 0) Flush();
        _sawText = true;
        _pendingContent.Append(_whitespace).Append(text);
        _whitespace.Clear();
    }

    private void AddArguments(string fragment)
    {
        if (_pendingContent.Length > 0) Flush();
        _pendingArguments.Append(fragment);
    }

    private void Flush()
    {
        if (_pendingContent.Length > 0) _output.Add(new ContentDelta(_pendingContent.ToString()));
        if (_pendingArguments.Length > 0) _output.Add(new ToolCallArguments(Calls - 1, _pendingArguments.ToString()));
        _pendingContent.Clear();
        _pendingArguments.Clear();
    }

    private List<ReplyDelta> TakeOutput()
    {
        Flush();
        var output = _output.ToList();
        _output.Clear();
        return output;
    }

    private static string NewCallId() => "call_" + Guid.NewGuid().ToString("N")[..24];
}

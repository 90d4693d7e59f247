using System.Text;
using System.Text.Json;

namespace Liaoyuan.Server.Tools;

/// <summary>
/// Reads one tool call object a character at a time: <c>{"name": "f", "arguments": {...}}</c> with any spacing and
/// key order, "parameters" accepted for "arguments" (Llama 3 writes that), other keys skipped. The name is known as
/// soon as its string closes; argument text is handed on as it arrives, so a call can be streamed while it is
/// generated. Arguments given as a JSON string (some models quote them) are decoded and handed on once complete.
/// </summary>
internal sealed class ToolCallScanner
{
    private enum State { Open, KeyOrClose, Key, Colon, Value, Name, Arguments, QuotedArguments, Skipped, CommaOrClose, Done, Failed }

    private State _state = State.Open;
    private readonly StringBuilder _string = new();
    private string _key = "";
    private bool _escaped;

    // The raw value being passed through or skipped: nesting depth, inside a string, or a bare literal.
    private int _depth;
    private bool _inString;
    private bool _literal;

    public string? Name { get; private set; }
    public bool HasArguments { get; private set; }
    public bool Done => _state == State.Done;
    public bool Failed => _state == State.Failed;

    /// <summary>Reads <paramref name="c"/>; any argument text it completes is appended to <paramref name="arguments"/>.</summary>
    public void Feed(char c, StringBuilder arguments)
    {
        while (true)
        {
            bool again = false;
            switch (_state)
            {
                case State.Open:
                    if (!char.IsWhiteSpace(c)) _state = c == '{' ? State.KeyOrClose : State.Failed;
                    break;
                case State.KeyOrClose:
                    if (!char.IsWhiteSpace(c)) _state = c == '"' ? State.Key : c == '}' ? State.Done : State.Failed;
                    break;
                case State.Key:
                    if (ReadString(c) is { } key)
                    {
                        _key = key;
                        _state = State.Colon;
                    }
                    break;
                case State.Colon:
                    if (!char.IsWhiteSpace(c)) _state = c == ':' ? State.Value : State.Failed;
                    break;
                case State.Value:
                    if (!char.IsWhiteSpace(c)) StartValue(c, arguments);
                    break;
                case State.Name:
                    if (ReadString(c) is { } name)
                    {
                        Name = name;
                        _state = State.CommaOrClose;
                    }
                    break;
                case State.QuotedArguments:
                    if (ReadString(c) is { } quoted)
                    {
                        arguments.Append(quoted);
                        _state = State.CommaOrClose;
                    }
                    break;
                case State.Arguments:
                case State.Skipped:
                    var end = Track(c);
                    if (end != ValueEnd.Excluding && _state == State.Arguments) arguments.Append(c);
                    if (end != ValueEnd.None)
                    {
                        _state = State.CommaOrClose;
                        again = end == ValueEnd.Excluding;
                    }
                    break;
                case State.CommaOrClose:
                    if (!char.IsWhiteSpace(c)) _state = c == ',' ? State.KeyOrClose : c == '}' ? State.Done : State.Failed;
                    break;
            }
            if (!again) return;
        }
    }

    private void StartValue(char c, StringBuilder arguments)
    {
        _string.Clear();
        _escaped = false;
        if (_key == "name")
        {
            _state = c == '"' && Name is null ? State.Name : State.Failed;
            return;
        }
        bool isArguments = (_key == "arguments" || _key == "parameters") && !HasArguments;
        if (isArguments && c == '"')
        {
            HasArguments = true;
            _state = State.QuotedArguments;
            return;
        }
        HasArguments |= isArguments;
        _state = isArguments ? State.Arguments : State.Skipped;
        _inString = c == '"';
        _depth = c is '{' or '[' ? 1 : 0;
        _literal = !_inString && _depth == 0;
        if (isArguments) arguments.Append(c);
    }

    private enum ValueEnd { None, Including, Excluding }

    /// <summary>Follows a raw value past its first character; says whether <paramref name="c"/> ends it.</summary>
    private ValueEnd Track(char c)
    {
        if (_literal) return c is ',' or '}' || char.IsWhiteSpace(c) ? ValueEnd.Excluding : ValueEnd.None;
        if (_inString)
        {
            if (_escaped) _escaped = false;
            else if (c == '\\') _escaped = true;
            else if (c == '"')
            {
                _inString = false;
                if (_depth == 0) return ValueEnd.Including;
            }
            return ValueEnd.None;
        }
        switch (c)
        {
            case '"': _inString = true; break;
            case '{' or '[': _depth++; break;
            case '}' or ']':
                if (--_depth == 0) return ValueEnd.Including;
                break;
        }
        return ValueEnd.None;
    }

    /// <summary>Collects a JSON string's characters; returns it decoded at its closing quote, else null.</summary>
    private string? ReadString(char c)
    {
        if (!_escaped && c == '"')
        {
            try
            {
                using var document = JsonDocument.Parse("\"" + _string + "\"");
                _string.Clear();
                return document.RootElement.GetString()!;
            }
            catch (JsonException)
            {
                _state = State.Failed;
                return null;
            }
        }
        _escaped = !_escaped && c == '\\';
        _string.Append(c);
        return null;
    }
}

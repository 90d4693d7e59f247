using System.Globalization;
using System.Text;

namespace Liaoyuan.Engine.Templates;

/// <summary>
/// Splits template source into text and tag tokens, applying Jinja's whitespace control as it goes:
/// <c>{%-</c>/<c>-%}</c> (and the <c>{{</c>, <c>{#</c> forms) strip all whitespace on that side, and the
/// <see cref="TemplateSyntaxOptions"/> trim_blocks/lstrip_blocks rules apply to statement and comment tags.
/// </summary>
internal sealed class TemplateLexer
{
    private enum PendingTrim { None, OneNewline, AllWhitespace }

    private static readonly string[] TwoCharOperators = ["//", "**", "==", "!=", "<=", ">="];
    private const string SingleCharOperators = "+-*/%~|.,:()[]{}<>=";

    private readonly string _source;
    private readonly TemplateSyntaxOptions _options;
    private readonly List<int> _lineStarts = [0];
    private readonly List<TemplateToken> _tokens = [];
    private int _position;

    private TemplateLexer(string source, TemplateSyntaxOptions options)
    {
        // Jinja normalises line endings in template data; templates saved on Windows render the same.
        _source = source.Replace("\r\n", "\n").Replace('\r', '\n');
        if (!options.KeepTrailingNewline && _source.EndsWith('\n')) _source = _source[..^1];
        _options = options;
        for (int i = 0; i < _source.Length; i++)
        {
            if (_source[i] == '\n') _lineStarts.Add(i + 1);
        }
    }

    public static List<TemplateToken> Tokenize(string source, TemplateSyntaxOptions options)
    {
        var lexer = new TemplateLexer(source, options);
        lexer.Run();
        return lexer._tokens;
    }

    private SourcePosition PositionOf(int index)
    {
        int line = _lineStarts.BinarySearch(index);
        if (line < 0) line = ~line - 1;
        return new SourcePosition(line + 1, index - _lineStarts[line] + 1);
    }

    private void Run()
    {
        var pending = PendingTrim.None;
        while (true)
        {
            int tagStart = FindNextTag(_position);
            int textEnd = tagStart < 0 ? _source.Length : tagStart;
            string text = _source[_position..textEnd];
            bool textStartsLine = _position == 0 || _source[_position - 1] == '\n';
            (text, textStartsLine) = ApplyLeadingTrim(text, textStartsLine, pending);

            if (tagStart < 0)
            {
                AddText(text, _position);
                _tokens.Add(new TemplateToken(TokenKind.EndOfSource, "", PositionOf(_source.Length)));
                return;
            }

            char opener = _source[tagStart + 1];
            char modifier = tagStart + 2 < _source.Length ? _source[tagStart + 2] : '\0';
            bool isBlockLike = opener is '%' or '#';
            if (modifier == '-')
            {
                text = text.TrimEnd();
            }
            else if (modifier != '+' && isBlockLike && _options.LstripBlocks)
            {
                text = StripIndentBeforeTag(text, textStartsLine);
            }

            AddText(text, _position);
            int contentStart = tagStart + 2 + (modifier is '-' or '+' ? 1 : 0);
            pending = opener == '#'
                ? SkipComment(tagStart, contentStart)
                : TokenizeTag(tagStart, contentStart, opener == '{');
        }
    }

    private int FindNextTag(int from)
    {
        for (int i = _source.IndexOf('{', from); i >= 0 && i + 1 < _source.Length; i = _source.IndexOf('{', i + 1))
        {
            if (_source[i + 1] is '{' or '%' or '#') return i;
        }
        return -1;
    }

    private static (string Text, bool StartsLine) ApplyLeadingTrim(string text, bool startsLine, PendingTrim pending)
    {
        if (pending == PendingTrim.AllWhitespace)
        {
            string trimmed = text.TrimStart();
            bool removedNewline = text.AsSpan(0, text.Length - trimmed.Length).Contains('\n');
            return (trimmed, startsLine || removedNewline);
        }
        if (pending == PendingTrim.OneNewline && text.StartsWith('\n'))
        {
            return (text[1..], true);
        }
        return (text, startsLine);
    }

    // lstrip_blocks: spaces and tabs between the start of a line and a block tag are not output.
    private static string StripIndentBeforeTag(string text, bool textStartsLine)
    {
        int lineStart = text.LastIndexOf('\n') + 1;
        if (lineStart == 0 && !textStartsLine) return text;
        for (int i = lineStart; i < text.Length; i++)
        {
            if (text[i] is not (' ' or '\t')) return text;
        }
        return text[..lineStart];
    }

    private void AddText(string text, int rawStart)
    {
        if (text.Length > 0) _tokens.Add(new TemplateToken(TokenKind.Text, text, PositionOf(rawStart)));
    }

    private PendingTrim SkipComment(int tagStart, int contentStart)
    {
        int end = _source.IndexOf("#}", contentStart, StringComparison.Ordinal);
        if (end < 0) throw PositionOf(tagStart).Error("unclosed comment: '{#' has no matching '#}'");
        _position = end + 2;
        char before = end > contentStart ? _source[end - 1] : '\0';
        if (before == '-') return PendingTrim.AllWhitespace;
        return before != '+' && _options.TrimBlocks ? PendingTrim.OneNewline : PendingTrim.None;
    }

    private PendingTrim TokenizeTag(int tagStart, int contentStart, bool isOutput)
    {
        var tagPosition = PositionOf(tagStart);
        _tokens.Add(new TemplateToken(isOutput ? TokenKind.OutputBegin : TokenKind.StatementBegin,
            isOutput ? "{{" : "{%", tagPosition));
        char closer = isOutput ? '}' : '%';
        int depth = 0;
        int i = contentStart;
        while (true)
        {
            while (i < _source.Length && char.IsWhiteSpace(_source[i])) i++;
            if (i >= _source.Length)
            {
                string opener = isOutput ? "{{" : "{%";
                string expected = isOutput ? "}}" : "%}";
                throw tagPosition.Error($"unclosed tag: '{opener}' has no matching '{expected}'");
            }

            if (depth == 0 && TryMatchTagEnd(i, closer, out int endLength, out char endModifier))
            {
                _tokens.Add(new TemplateToken(isOutput ? TokenKind.OutputEnd : TokenKind.StatementEnd,
                    isOutput ? "}}" : "%}", PositionOf(i)));
                _position = i + endLength;
                if (endModifier == '-') return PendingTrim.AllWhitespace;
                return !isOutput && endModifier != '+' && _options.TrimBlocks ? PendingTrim.OneNewline : PendingTrim.None;
            }

            i = ReadExpressionToken(i, ref depth);
        }
    }

    private bool TryMatchTagEnd(int i, char closer, out int length, out char modifier)
    {
        modifier = '\0';
        length = 0;
        if (_source[i] is '-' or '+' && Matches(i + 1, closer))
        {
            // '+}}' is not a Jinja form; only '-' applies to output tags.
            if (_source[i] == '+' && closer == '}') return false;
            modifier = _source[i];
            length = 3;
            return true;
        }
        if (Matches(i, closer))
        {
            length = 2;
            return true;
        }
        return false;
    }

    private bool Matches(int i, char closer) =>
        i + 1 < _source.Length && _source[i] == closer && _source[i + 1] == '}';

    private int ReadExpressionToken(int i, ref int depth)
    {
        var position = PositionOf(i);
        char c = _source[i];
        if (char.IsLetter(c) || c == '_')
        {
            int start = i;
            while (i < _source.Length && (char.IsLetterOrDigit(_source[i]) || _source[i] == '_')) i++;
            _tokens.Add(new TemplateToken(TokenKind.Name, _source[start..i], position));
            return i;
        }
        if (char.IsAsciiDigit(c)) return ReadNumber(i, position);
        if (c is '\'' or '"') return ReadString(i, position);

        string? op = null;
        if (i + 1 < _source.Length)
        {
            string two = _source.Substring(i, 2);
            if (Array.IndexOf(TwoCharOperators, two) >= 0) op = two;
        }
        if (op is null && SingleCharOperators.Contains(c)) op = c.ToString();
        if (op is null) throw position.Error($"unexpected character '{c}' in tag");

        if (op is "(" or "[" or "{") depth++;
        else if (op is ")" or "]" or "}") depth = Math.Max(0, depth - 1);
        _tokens.Add(new TemplateToken(TokenKind.Operator, op, position));
        return i + op.Length;
    }

    private int ReadNumber(int i, SourcePosition position)
    {
        int start = i;
        while (i < _source.Length && (char.IsAsciiDigit(_source[i]) || _source[i] == '_')) i++;
        bool isFloat = false;
        if (i + 1 < _source.Length && _source[i] == '.' && char.IsAsciiDigit(_source[i + 1]))
        {
            isFloat = true;
            i++;
            while (i < _source.Length && (char.IsAsciiDigit(_source[i]) || _source[i] == '_')) i++;
        }
        if (i < _source.Length && _source[i] is 'e' or 'E')
        {
            int exponent = i + 1;
            if (exponent < _source.Length && _source[exponent] is '+' or '-') exponent++;
            if (exponent < _source.Length && char.IsAsciiDigit(_source[exponent]))
            {
                isFloat = true;
                i = exponent;
                while (i < _source.Length && char.IsAsciiDigit(_source[i])) i++;
            }
        }
        string digits = _source[start..i].Replace("_", "");
        _tokens.Add(new TemplateToken(isFloat ? TokenKind.Float : TokenKind.Integer, digits, position));
        return i;
    }

    private int ReadString(int i, SourcePosition position)
    {
        char quote = _source[i++];
        var value = new StringBuilder();
        while (true)
        {
            if (i >= _source.Length) throw position.Error("unterminated string literal");
            char c = _source[i++];
            if (c == quote) break;
            if (c != '\\' || i >= _source.Length)
            {
                value.Append(c);
                continue;
            }
            char escaped = _source[i++];
            switch (escaped)
            {
                case 'n': value.Append('\n'); break;
                case 't': value.Append('\t'); break;
                case 'r': value.Append('\r'); break;
                case 'b': value.Append('\b'); break;
                case 'f': value.Append('\f'); break;
                case 'v': value.Append('\v'); break;
                case 'a': value.Append('\a'); break;
                case '0': value.Append('\0'); break;
                case '\\': value.Append('\\'); break;
                case '\'': value.Append('\''); break;
                case '"': value.Append('"'); break;
                case '\n': break; // a backslash before a line break continues the string, as in Python
                case 'x': i = AppendHexEscape(value, i, 2, position); break;
                case 'u': i = AppendHexEscape(value, i, 4, position); break;
                case 'U': i = AppendHexEscape(value, i, 8, position); break;
                default: value.Append('\\').Append(escaped); break; // Python keeps unknown escapes as written
            }
        }
        _tokens.Add(new TemplateToken(TokenKind.String, value.ToString(), position));
        return i;
    }

    private int AppendHexEscape(StringBuilder value, int i, int digits, SourcePosition position)
    {
        if (i + digits > _source.Length ||
            !int.TryParse(_source.AsSpan(i, digits), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int code))
        {
            throw position.Error("invalid escape sequence in string literal");
        }
        value.Append(char.ConvertFromUtf32(code));
        return i + digits;
    }
}
